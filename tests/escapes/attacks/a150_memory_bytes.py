# Attack a150: a 4 GiB bytes object.
# expect: memory_limit
# stage: preview
# effect: limit:memory
# covers: resource bomb: memory (one allocation)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    blob = b"x" * (4 * 1024 * 1024 * 1024)
    df["n"] = len(blob)
    return df
