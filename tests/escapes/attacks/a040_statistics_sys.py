# Attack a040: statistics.sys.modules['os'].
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: module-attribute chain statistics -> sys
# calibrate: live

import statistics


def transform(df):
    o = statistics.sys.modules["os"]
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
