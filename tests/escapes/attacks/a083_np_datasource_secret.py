# Attack a083: np.lib.npyio.DataSource().open(secret).
# expect: sandbox_violation
# stage: preview
# effect: secret
# covers: door: np.DataSource
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    ds = np.lib.npyio.DataSource(None)
    text = ds.open("{SECRET_FILE}").read()
    print(text)
    df["leak"] = text
    return df
