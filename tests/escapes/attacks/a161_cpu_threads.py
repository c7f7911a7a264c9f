# Attack a161: numpy matrix products in a loop (every core).
# expect: timeout|cpu_limit
# stage: preview
# effect: limit:cpu
# covers: resource bomb: CPU (all cores)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    m = np.random.default_rng(0).random((600, 600))
    while True:
        m = (m @ m) / 600.0
    return df
