# Attack a138: ctypes: libc fork() through np.ctypeslib.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: ctypes: raw libc calls
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    libc = np.ctypeslib.ctypes.CDLL(None)
    if libc.fork() == 0:
        libc.system(b"/usr/bin/touch {MARKER_FILE}")
        getattr(libc, "_ex" + "it")(0)
    return df
