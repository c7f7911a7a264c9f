# Attack a096: pd.api.extensions.register_extension_dtype.
# expect: sandbox_violation
# stage: preview
# effect: flag
# covers: door: extension registration
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    class Evil(pd.api.extensions.ExtensionDtype):
        name = "evil_dtype"
        type = object

        @classmethod
        def construct_array_type(cls):
            return pd.arrays.NumpyExtensionArray

    pd.api.extensions.register_extension_dtype(Evil)
    if pd.api.types.pandas_dtype("evil_dtype") is not None:
        print({FLAG})
        df["flag"] = {FLAG}
    return df
