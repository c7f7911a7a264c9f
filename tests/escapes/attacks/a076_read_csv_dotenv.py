# Attack a076: pd.read_csv of the server's .env.
# expect: sandbox_violation
# stage: preview
# effect: secret
# covers: reading secrets: the worker's .env
# calibrate: skip: .env is root's and mode 0600, so the sandbox user cannot read it outside the sandbox either; a069 and a111 calibrate the same read on a file it can read

import pandas as pd
import numpy as np


def transform(df):
    s = pd.read_csv("{ENV_FILE}", header=None, sep="|")
    text = str(s.values.tolist())
    print(text)
    df["leak"] = text
    return df
