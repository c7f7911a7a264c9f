# Attack a103: df.pipe(pd.DataFrame.to_pickle, path): a writer through the class.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: pipe; method reached through the class
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df.pipe(pd.DataFrame.to_pickle, "{OUTSIDE_FILE}")
    return df
