# Attack a030: pd.io.common.os: open a file outside the job directory.
# expect: sandbox_violation
# stage: job
# effect: write
# covers: module-attribute chain pandas -> os
# calibrate: live

import pandas as pd


def transform(df):
    o = pd.io.common.os
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
