# Attack a157: 80 MiB of print() in a job.
# expect: ok
# stage: job
# effect: limit:log
# covers: resource bomb: log flood (job log cap)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    line = "y" * 1023
    for i in range(80 * 1024):
        print(line)
    return df
