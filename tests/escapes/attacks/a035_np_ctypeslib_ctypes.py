# Attack a035: np.ctypeslib.ctypes: libc's system().
# expect: sandbox_violation
# stage: job
# effect: spawn
# covers: module-attribute chain numpy -> ctypes; np.ctypeslib
# calibrate: live

import numpy as np


def transform(df):
    np.ctypeslib.ctypes.CDLL(None).system(b"/usr/bin/touch {MARKER_FILE}")
    return df
