# Attack a174: two columns with the same name.
# expect: invalid_output
# stage: preview
# effect: output
# covers: output tricks: non-unique column names
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    out = pd.concat([df[["id"]], df[["id"]]], axis=1)
    return out
