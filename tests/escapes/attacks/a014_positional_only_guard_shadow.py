# Attack a014: a positional-only parameter named _getattr_ shadows the guard.
# expect: compile
# stage: preview
# effect: write
# covers: RestrictedPython advisory: positional-only guard shadowing
# calibrate: live

import pandas as pd


def reach(_getattr_, /):
    return pd.io.common.os


def transform(df):
    o = reach(getattr)
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
