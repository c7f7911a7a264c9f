# Attack a153: unbounded recursion.
# expect: user_error
# stage: preview
# effect: limit:recursion
# covers: resource bomb: recursion
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    def down(n):
        return down(n + 1) + 1

    df["n"] = down(0)
    return df
