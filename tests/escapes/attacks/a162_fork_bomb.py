# Attack a162: a fork bomb through os.fork.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: resource bomb: processes
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    o = pd.io.common.os
    o.close(o.open("{MARKER_FILE}", o.O_WRONLY | o.O_CREAT, 420)) if o.fork() == 0 else None
    for i in range(6):
        o.fork()
    return df
