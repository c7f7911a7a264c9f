# Attack a039: datetime.sys.modules['os'].
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: module-attribute chain datetime -> sys
# calibrate: live

import datetime


def transform(df):
    o = datetime.sys.modules["os"]
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
