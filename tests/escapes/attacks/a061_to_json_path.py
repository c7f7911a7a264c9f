# Attack a061: df.to_json(path).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: to_* file writers (to_json)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df.to_json("{OUTSIDE_FILE}")
    return df
