# Attack a155: one 300 MiB cell in the result.
# expect: invalid_output|memory_limit
# stage: job
# effect: limit:output
# covers: resource bomb: output size (one cell)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df["big"] = "x" * (300 * 1024 * 1024)
    return df
