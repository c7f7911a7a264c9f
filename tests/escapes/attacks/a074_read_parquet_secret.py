# Attack a074: pd.read_parquet of a file outside (pyarrow opens it).
# expect: sandbox_violation
# stage: preview
# effect: secret
# covers: door: read_* file readers (read_parquet)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    s = pd.read_parquet("{SECRET_PARQUET}")
    text = str(s.values.tolist())
    print(text)
    df["leak"] = text
    return df
