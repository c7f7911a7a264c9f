# Attack a052: pandas' own URL opener: pd.io.common.urlopen.
# expect: sandbox_violation
# stage: preview
# effect: connect
# covers: module-attribute chain: pandas' internal I/O helpers (network)
# calibrate: live

import pandas as pd


def transform(df):
    pd.io.common.urlopen("http://127.0.0.1:{LISTEN_PORT}/x", timeout=3)
    return df
