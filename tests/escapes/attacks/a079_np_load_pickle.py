# Attack a079: np.load(planted.npy, allow_pickle=True).
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: door: np.load (pickled object arrays)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    np.load("{NPY_PICKLE_FILE}", allow_pickle=True)
    return df
