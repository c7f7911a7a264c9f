# Attack a154: a 16 GiB string.
# expect: memory_limit
# stage: preview
# effect: limit:memory
# covers: resource bomb: huge string
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    s = "x" * (16 * 1024 * 1024 * 1024)
    df["n"] = len(s)
    return df
