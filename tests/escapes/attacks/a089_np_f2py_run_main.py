# Attack a089: np.f2py.run_main writes a module outside.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: np.f2py
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    np.f2py.run_main(["-m", "escaped", "-h", "{OUTSIDE_FILE}", "--overwrite-signature"])
    return df
