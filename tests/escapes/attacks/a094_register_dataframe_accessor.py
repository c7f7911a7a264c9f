# Attack a094: pd.api.extensions.register_dataframe_accessor.
# expect: sandbox_violation
# stage: preview
# effect: flag
# covers: door: accessor registration
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    class Acc:
        def hello(self):
            return 1

    pd.api.extensions.register_dataframe_accessor("escaped")(Acc)
    if hasattr(pd.DataFrame, "escaped"):
        print({FLAG})
        df["flag"] = {FLAG}
    return df
