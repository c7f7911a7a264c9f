# Attack a080: np.fromfile of a secret file.
# expect: sandbox_violation
# stage: preview
# effect: secret
# covers: door: np.fromfile
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    raw = np.fromfile("{SECRET_FILE}", dtype="uint8")
    text = "".join(chr(int(c)) for c in raw)
    print(text)
    df["leak"] = text
    return df
