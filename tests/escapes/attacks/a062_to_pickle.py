# Attack a062: df.to_pickle(path).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: pickle anywhere (to_pickle)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df.to_pickle("{OUTSIDE_FILE}")
    return df
