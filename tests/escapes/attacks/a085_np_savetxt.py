# Attack a085: np.savetxt(path, array).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: np.savetxt
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    np.savetxt("{OUTSIDE_FILE}", np.arange(3))
    return df
