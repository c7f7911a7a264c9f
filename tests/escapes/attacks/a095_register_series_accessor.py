# Attack a095: pd.api.extensions.register_series_accessor through getattr.
# expect: sandbox_violation
# stage: preview
# effect: flag
# covers: door: accessor registration (computed name)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    class Acc:
        pass

    reg = getattr(pd.api.extensions, "register_" + "series_accessor")
    reg("escaped")(Acc)
    if hasattr(pd.Series, "escaped"):
        print({FLAG})
        df["flag"] = {FLAG}
    return df
