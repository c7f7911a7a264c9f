# Attack a044: a module handed back by a method: pd.compat.sys through a returned object.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: module-attribute chain: pd.compat
# calibrate: live

import pandas as pd


def transform(df):
    s = pd.compat.sys
    o = s.modules.get("os")
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
