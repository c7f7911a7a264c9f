# Attack a033: pd.core.generic.pickle.loads of a reduce payload.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: module-attribute chain pandas -> pickle
# calibrate: live

import pandas as pd


def transform(df):
    payload = b"cos\nsystem\n(S'/usr/bin/touch {MARKER_FILE}'\ntR."
    pd.core.generic.pickle.loads(payload)
    return df
