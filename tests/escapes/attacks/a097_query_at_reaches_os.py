# Attack a097: df.query with @ reaching a module through a local.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: door: pandas interpreters (query with @)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    m = pd.io
    df.query("@m.common.os.system('/usr/bin/touch {MARKER_FILE}') == 0", engine="python")
    return df
