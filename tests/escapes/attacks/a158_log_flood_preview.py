# Attack a158: 16 MiB of print() in a preview.
# expect: ok
# stage: preview
# effect: limit:log
# covers: resource bomb: log flood (preview logs cap)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    line = "z" * 1023
    for i in range(16 * 1024):
        print(line)
    return df
