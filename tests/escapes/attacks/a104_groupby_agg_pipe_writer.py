# Attack a104: df.groupby('id').agg('pipe', (np.savetxt, 'X'), path).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: functions named by string (groupby().agg)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    try:
        df.groupby("id").agg("pipe", (np.savetxt, "X"), "{OUTSIDE_FILE}")
    except ValueError:
        pass
    return df
