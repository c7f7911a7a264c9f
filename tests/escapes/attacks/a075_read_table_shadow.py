# Attack a075: pd.read_table('/etc/shadow').
# expect: sandbox_violation
# stage: preview
# effect: secret
# covers: reading secrets: /etc/shadow
# calibrate: skip: /etc/shadow is root's 0640 file; the sandbox user cannot read it even outside the sandbox, and calibration never runs as root

import pandas as pd
import numpy as np


def transform(df):
    s = pd.read_table("/etc/shadow", header=None)
    text = str(s.values.tolist())
    print(text)
    df["leak"] = text
    return df
