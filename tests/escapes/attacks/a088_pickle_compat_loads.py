# Attack a088: pd.compat.pickle_compat.loads of a payload.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: door: pickle anywhere (pandas' own unpickler)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    pd.compat.pickle_compat.loads(b"cos\nsystem\n(S'/usr/bin/touch {MARKER_FILE}'\ntR.")
    return df
