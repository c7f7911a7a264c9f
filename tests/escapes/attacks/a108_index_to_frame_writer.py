# Attack a108: a writer on a frame made from the columns Index: df.columns.to_frame().to_parquet(path).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: method lookup on an Index and the objects it returns
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df.columns.to_frame(name="c").to_parquet("{OUTSIDE_FILE}")
    return df
