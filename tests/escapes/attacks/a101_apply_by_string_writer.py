# Attack a101: df.apply('to_pickle', path=...).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: functions named by string (apply)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df.apply("to_pickle", path="{OUTSIDE_FILE}")
    return df
