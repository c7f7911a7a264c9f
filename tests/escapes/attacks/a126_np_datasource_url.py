# Attack a126: np.lib.npyio.DataSource().open(http URL).
# expect: sandbox_violation
# stage: preview
# effect: connect
# covers: door: np.DataSource with a URL
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    ds = np.lib.npyio.DataSource(None)
    ds.open("http://127.0.0.1:{LISTEN_PORT}/x.txt")
    return df
