# Attack a072: pd.read_pickle of a planted payload.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: door: pickle anywhere (read_pickle)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    pd.read_pickle("{PICKLE_FILE}")
    return df
