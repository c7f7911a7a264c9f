# Attack a130: os.system through pd.io.common.os.
# expect: sandbox_violation
# stage: job
# effect: spawn
# covers: process creation: os.system
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    pd.io.common.os.system("/usr/bin/touch {MARKER_FILE}")
    return df
