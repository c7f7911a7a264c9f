# Attack a105: df['v'].agg('to_csv', path).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: functions named by string (Series.agg)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df["v"].agg("to_csv", path_or_buf="{OUTSIDE_FILE}")
    return df
