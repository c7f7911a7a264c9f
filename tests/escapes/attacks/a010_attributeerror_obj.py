# Attack a010: AttributeError.obj hands back the object behind a module's proxy.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: RestrictedPython advisory: AttributeError.obj
# calibrate: live

import pandas as pd


def transform(df):
    try:
        pd.no_such_name_at_all
    except AttributeError as e:
        real = e.obj
    o = real.io.common.os
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
