# Attack a159: fill the disk from the job directory: to_csv('fill.csv') in a loop.
# expect: sandbox_violation
# stage: preview
# effect: limit:disk
# covers: resource bomb: disk (a relative path in the job directory)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    big = pd.DataFrame({"x": np.zeros(1 << 20)})
    for i in range(200):
        big.to_csv("fill.csv", mode="a")
    return df
