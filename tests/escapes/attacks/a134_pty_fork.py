# Attack a134: pty.fork through builtins.__import__.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: process creation: pty
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    imp = getattr(pd.core.common.builtins, "__imp" + "ort__")
    pty = imp("pty")
    o = imp("os")
    pid, fd = pty.fork()
    if pid == 0:
        o.close(o.open("{MARKER_FILE}", o.O_WRONLY | o.O_CREAT, 420))
        o.kill(o.getpid(), 9)
    o.waitpid(pid, 0)
    return df
