# Attack a172: an object column of functions and modules.
# expect: invalid_output
# stage: preview
# effect: output
# covers: output tricks: objects in an object column
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df["evil"] = [len] * len(df)
    return df
