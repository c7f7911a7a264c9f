# Attack a084: np.lib.format.open_memmap(path, mode='w+').
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: np.lib.format
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    m = np.lib.format.open_memmap("{OUTSIDE_FILE}", mode="w+", dtype="uint8", shape=(8,))
    m[:] = 1
    m.flush()
    return df
