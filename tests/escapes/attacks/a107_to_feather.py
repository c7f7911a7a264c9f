# Attack a107: df.to_feather(path) (pyarrow).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: to_* file writers (to_feather)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df.reset_index(drop=True).to_feather("{OUTSIDE_FILE}")
    return df
