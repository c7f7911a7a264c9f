# Attack a099: pd.eval of a string that names a local module.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: door: pandas interpreters (pd.eval)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    n = np
    pd.eval("n.f2py.f2py2e.os.system('/usr/bin/touch {MARKER_FILE}')", engine="python", local_dict={"n": n})
    return df
