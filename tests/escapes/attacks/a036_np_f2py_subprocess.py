# Attack a036: np.f2py.subprocess.run.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: module-attribute chain numpy -> subprocess; np.f2py
# calibrate: live

import numpy as np


def transform(df):
    np.f2py.subprocess.run(["/usr/bin/touch", "{MARKER_FILE}"])
    return df
