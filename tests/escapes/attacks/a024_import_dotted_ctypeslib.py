# Attack a024: import numpy.ctypeslib as c (a dotted import outside the list).
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: the __import__ call shape: dotted import; numpy.ctypeslib
# calibrate: live

import numpy.ctypeslib as c


def transform(df):
    c.ctypes.CDLL(None).system(b"/usr/bin/touch {MARKER_FILE}")
    return df
