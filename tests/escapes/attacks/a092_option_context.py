# Attack a092: pd.option_context('mode.copy_on_write', ...).
# expect: sandbox_violation
# stage: preview
# effect: flag
# covers: door: pandas options (option_context)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    with pd.option_context("display.max_columns", 2):
        if pd.get_option("display.max_columns") == 2:
            print({FLAG})
            df["flag"] = {FLAG}
    return df
