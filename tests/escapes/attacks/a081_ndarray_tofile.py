# Attack a081: ndarray.tofile(path).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: tofile
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    np.arange(4).tofile("{OUTSIDE_FILE}")
    return df
