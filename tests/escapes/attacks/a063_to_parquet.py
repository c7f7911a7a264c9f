# Attack a063: df.to_parquet(path) (pyarrow).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: to_* file writers (to_parquet)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df.to_parquet("{OUTSIDE_FILE}")
    return df
