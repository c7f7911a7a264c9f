# Attack a093: df.plot(backend='this') imports a module named by string.
# expect: sandbox_violation
# stage: preview
# effect: leak
# covers: door: plotting back-ends
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    try:
        df.plot(backend="this")
    except Exception:
        pass
    return df
