# Attack a112: another job's directory through np.ma.core.builtins.open.
# expect: sandbox_violation
# stage: job
# effect: secret
# covers: reading secrets: another job's directory
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    with np.ma.core.builtins.open("{OTHER_JOB_FILE}") as f:
        text = f.read()
    print(text)
    df["leak"] = text
    return df
