# Attack a077: pd.read_csv of a file in another job's directory.
# expect: sandbox_violation
# stage: preview
# effect: secret
# covers: reading secrets: another job's directory
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    s = pd.read_csv("{OTHER_JOB_FILE}", header=None, sep="|")
    text = str(s.values.tolist())
    print(text)
    df["leak"] = text
    return df
