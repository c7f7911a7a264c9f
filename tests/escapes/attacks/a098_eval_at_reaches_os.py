# Attack a098: df.eval with @ and attribute access.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: door: pandas interpreters (eval with @)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    f = pd
    df.eval("@f.io.common.os.system('/usr/bin/touch {MARKER_FILE}')", engine="python")
    return df
