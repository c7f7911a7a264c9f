# Attack a069: pd.read_csv of a secret file outside the job directory.
# expect: sandbox_violation
# stage: job
# effect: secret
# covers: door: read_* file readers (read_csv); reading secrets
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    s = pd.read_csv("{SECRET_FILE}", header=None, sep="|")
    text = " ".join(str(v) for v in s[0])
    print(text)
    df["leak"] = text
    return df
