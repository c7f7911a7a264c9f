# Attack a078: np.save(path, array).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: np.save
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    np.save("{OUTSIDE_FILE}", np.arange(3))
    return df
