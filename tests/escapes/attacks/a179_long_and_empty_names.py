# Attack a179: a 200-character column name and an empty one.
# expect: invalid_output
# stage: preview
# effect: output
# covers: output tricks: bad column names
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df["c" * 200] = 1
    df[""] = 2
    return df
