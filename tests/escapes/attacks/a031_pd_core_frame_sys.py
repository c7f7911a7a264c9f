# Attack a031: pd.core.frame.sys.modules['os'].
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: module-attribute chain pandas -> sys
# calibrate: live

import pandas as pd


def transform(df):
    o = pd.core.frame.sys.modules["os"]
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
