# Attack a140: import cffi.
# expect: compile
# stage: preview
# effect: spawn
# covers: refused imports: cffi
# calibrate: skip: cffi is not installed in the sandbox venv, so outside the sandbox the import fails too; the refusal by name is what is tested

import pandas as pd
import numpy as np


import cffi


def transform(df):
    ffi = cffi.FFI()
    ffi.cdef("int system(const char *);")
    ffi.dlopen(None).system(b"/usr/bin/touch {MARKER_FILE}")
    return df
