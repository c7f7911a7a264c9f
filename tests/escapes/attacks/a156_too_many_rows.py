# Attack a156: a million rows, past TW_MAX_OUTPUT_ROWS.
# expect: invalid_output
# stage: job
# effect: limit:rows
# covers: resource bomb: too many rows
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    return pd.DataFrame({"id": np.arange(1000000)})
