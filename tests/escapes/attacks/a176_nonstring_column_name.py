# Attack a176: integer and tuple column names.
# expect: invalid_output
# stage: preview
# effect: output
# covers: output tricks: non-string column names
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df[0] = 1
    df[("a", "b")] = 2
    return df
