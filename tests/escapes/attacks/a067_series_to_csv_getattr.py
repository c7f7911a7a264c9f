# Attack a067: getattr(df['v'], 'to_' + 'csv')(path): a writer by computed name on a Series.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: to_* writers reached by getattr with a computed name
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    getattr(df["v"], "to_" + "csv")("{OUTSIDE_FILE}")
    return df
