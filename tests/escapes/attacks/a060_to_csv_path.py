# Attack a060: df.to_csv(path) outside the job directory.
# expect: sandbox_violation
# stage: job
# effect: write
# covers: door: to_* file writers (to_csv)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df.to_csv("{OUTSIDE_FILE}")
    return df
