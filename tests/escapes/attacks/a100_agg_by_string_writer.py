# Attack a100: df.agg('to_csv', path): a function named by string.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: functions named by string (agg)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df.agg("to_csv", path_or_buf="{OUTSIDE_FILE}")
    return df
