# Attack a180: a NUL byte inside a text value.
# expect: invalid_output
# stage: preview
# effect: output
# covers: output tricks: NUL in a string (PostgreSQL refuses it)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df["v"] = "a\x00b"
    return df
