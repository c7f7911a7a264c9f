# Attack a182: a NUL byte inside a text value, through a job.
# expect: invalid_output
# stage: job
# effect: output
# covers: output tricks: NUL in a string, on the job's data path
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df["v"] = "a\x00b"
    return df
