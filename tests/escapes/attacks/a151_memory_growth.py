# Attack a151: memory grown a page at a time (touched), past the job's limit.
# expect: memory_limit
# stage: job
# effect: limit:memory
# covers: resource bomb: memory (gradual, touched)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    hoard = []
    for i in range(4096):
        hoard.append(np.ones(1 << 17))
    df["n"] = len(hoard)
    return df
