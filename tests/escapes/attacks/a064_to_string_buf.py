# Attack a064: df.to_string(buf=path).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: to_* writers that take a buffer (to_string)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df.to_string("{OUTSIDE_FILE}")
    return df
