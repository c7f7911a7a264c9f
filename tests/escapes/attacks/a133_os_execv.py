# Attack a133: os.execv replaces the runner with a shell.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: process creation: execve
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    o = pd.io.common.os
    o.execv("/bin/sh", ["sh", "-c", "/usr/bin/touch {MARKER_FILE}"])
    return df
