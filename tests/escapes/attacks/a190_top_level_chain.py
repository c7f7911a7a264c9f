# Attack a190: top-level code (no transform) that reaches os at import time.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: top-level code: the script's module body
# calibrate: live

import pandas as pd

o = pd.io.common.os
fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
o.write(fd, b"escaped")
o.close(fd)


def transform(df):
    return df
