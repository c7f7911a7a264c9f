# Attack a087: ndarray.dump(path) (a pickle on disk).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: pickle anywhere (ndarray.dump)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    np.arange(3).dump("{OUTSIDE_FILE}")
    return df
