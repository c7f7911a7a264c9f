# Attack a113: the parent's /proc/<pid>/environ through pd.io.common.os.
# expect: sandbox_violation
# stage: preview
# effect: secret
# covers: reading secrets: /proc of the parent
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    o = pd.io.common.os
    fd = o.open("/proc/{PARENT_PID}/environ", o.O_RDONLY)
    text = repr(o.read(fd, 1 << 20))
    print(text)
    df["leak"] = text
    return df
