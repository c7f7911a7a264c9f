# Attack a173: a column mixing ints, strings, floats, lists and None.
# expect: invalid_output
# stage: preview
# effect: output
# covers: output tricks: mixed types
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    vals = [1, "a", 2.5, None, [1, 2]]
    df["mixed"] = [vals[i % len(vals)] for i in range(len(df))]
    return df
