# Attack a066: df.to_stata(path).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: to_* file writers (to_stata)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df[["id"]].to_stata("{OUTSIDE_FILE}", write_index=False)
    return df
