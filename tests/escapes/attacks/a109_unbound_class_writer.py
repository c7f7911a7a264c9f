# Attack a109: pd.DataFrame.to_csv(df, path): the writer through the class, not the instance.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: to_* reached through the class
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    pd.DataFrame.to_csv(df, "{OUTSIDE_FILE}")
    return df
