# Attack a152: an endless loop.
# expect: timeout|cpu_limit
# stage: preview
# effect: limit:cpu
# covers: resource bomb: CPU (wall time)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    n = 0
    while True:
        n += 1
    return df
