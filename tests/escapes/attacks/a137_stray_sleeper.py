# Attack a137: a detached grandchild left sleeping (setsid + double fork).
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: process creation: a process that outlives the job
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    o = pd.io.common.os
    if o.fork() == 0:
        o.setsid()
        if o.fork() == 0:
            o.close(o.open("{MARKER_FILE}", o.O_WRONLY | o.O_CREAT, 420))
            o.execv("/bin/sleep", ["sleep", "30"])
        o.kill(o.getpid(), 9)
    return df
