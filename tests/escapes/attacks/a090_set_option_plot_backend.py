# Attack a090: pd.set_option('plotting.backend', 'this') then df.plot(): an import by name.
# expect: sandbox_violation
# stage: preview
# effect: leak
# covers: door: pandas options; plotting back-ends
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    pd.set_option("plotting.backend", "this")
    try:
        df.plot()
    except Exception:
        pass
    return df
