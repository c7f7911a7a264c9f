# Attack a131: os.fork through pd.io.stata.os; the child writes the marker.
# expect: sandbox_violation
# stage: job
# effect: spawn
# covers: process creation: fork
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    o = pd.io.stata.os
    pid = o.fork()
    if pid == 0:
        fd = o.open("{MARKER_FILE}", o.O_WRONLY | o.O_CREAT, 420)
        o.close(fd)
        o.kill(o.getpid(), 9)
    o.waitpid(pid, 0)
    return df
