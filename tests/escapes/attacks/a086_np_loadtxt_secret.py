# Attack a086: np.loadtxt of a secret file.
# expect: sandbox_violation
# stage: preview
# effect: secret
# covers: door: np.loadtxt / genfromtxt
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    rows = np.loadtxt("{SECRET_FILE}", dtype=str, delimiter="|")
    text = str(rows)
    print(text)
    df["leak"] = text
    return df
