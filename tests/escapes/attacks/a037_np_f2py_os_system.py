# Attack a037: np.f2py.f2py2e.os.system.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: module-attribute chain numpy -> os; np.f2py
# calibrate: live

import numpy as np


def transform(df):
    np.f2py.f2py2e.os.system("/usr/bin/touch {MARKER_FILE}")
    return df
