# Attack a034: pd.errors.ctypes: libc's system().
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: module-attribute chain pandas -> ctypes
# calibrate: live

import pandas as pd


def transform(df):
    pd.errors.ctypes.CDLL(None).system(b"/usr/bin/touch {MARKER_FILE}")
    return df
