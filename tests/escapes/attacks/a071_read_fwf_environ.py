# Attack a071: pd.read_fwf of the parent's /proc/<pid>/environ.
# expect: sandbox_violation
# stage: preview
# effect: secret
# covers: door: read_* readers; /proc/<parent>/environ
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    s = pd.read_fwf("/proc/{PARENT_PID}/environ", header=None, widths=[100000])
    text = str(s.values.tolist())
    print(text)
    df["leak"] = text
    return df
