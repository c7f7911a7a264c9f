# Attack a051: pandas' own file opener: pd.io.common.get_handle(path, 'w').
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: module-attribute chain: pandas' internal I/O helpers
# calibrate: live

import pandas as pd


def transform(df):
    h = pd.io.common.get_handle("{OUTSIDE_FILE}", "w")
    h.handle.write("escaped")
    h.close()
    return df
