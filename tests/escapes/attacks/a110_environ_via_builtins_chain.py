# Attack a110: open('/proc/<parent>/environ') through pd.core.common.builtins.
# expect: sandbox_violation
# stage: job
# effect: secret
# covers: reading secrets: /proc/<parent>/environ
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    with pd.core.common.builtins.open("/proc/{PARENT_PID}/environ", "rb") as f:
        text = repr(f.read())
    print(text)
    df["leak"] = text
    return df
