# Attack a139: import ctypes.
# expect: compile
# stage: preview
# effect: spawn
# covers: refused imports: ctypes
# calibrate: live

import pandas as pd
import numpy as np


import ctypes


def transform(df):
    ctypes.CDLL(None).system(b"/usr/bin/touch {MARKER_FILE}")
    return df
