# Attack a091: pd.options.display.max_rows = ... changes the runner's global state.
# expect: sandbox_violation
# stage: preview
# effect: flag
# covers: door: pandas options (attribute assignment)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    pd.options.display.max_rows = 3
    if pd.get_option("display.max_rows") == 3:
        print({FLAG})
        df["flag"] = {FLAG}
    return df
