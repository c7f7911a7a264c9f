# Attack a102: df.transform('to_json', path).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: functions named by string (transform)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    try:
        df.transform("to_json", path_or_buf="{OUTSIDE_FILE}")
    except ValueError:
        pass
    return df
