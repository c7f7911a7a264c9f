# Attack a073: pd.read_csv of an http URL on the test's listener.
# expect: sandbox_violation
# stage: preview
# effect: connect
# covers: door: read_* with a URL; network
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    pd.read_csv("http://127.0.0.1:{LISTEN_PORT}/data.csv")
    return df
