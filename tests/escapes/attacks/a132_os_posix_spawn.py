# Attack a132: os.posix_spawn through statistics.sys.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: process creation: posix_spawn
# calibrate: live

import pandas as pd
import numpy as np


import statistics


def transform(df):
    o = statistics.sys.modules["os"]
    pid = o.posix_spawn("/usr/bin/touch", ["touch", "{MARKER_FILE}"], {})
    o.waitpid(pid, 0)
    return df
