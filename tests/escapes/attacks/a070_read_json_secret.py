# Attack a070: pd.read_json of a secret JSON file.
# expect: sandbox_violation
# stage: preview
# effect: secret
# covers: door: read_* file readers (read_json)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    s = pd.read_json("{SECRET_JSON}", typ="series")
    text = " ".join(str(v) for v in s)
    print(text)
    df["leak"] = text
    return df
