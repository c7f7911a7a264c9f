# Attack a082: np.memmap(path, mode='w+').
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: np.memmap
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    m = np.memmap("{OUTSIDE_FILE}", dtype="uint8", mode="w+", shape=(16,))
    m[:] = 1
    m.flush()
    return df
