# Attack a023: from datetime import sys (a module that is an attribute of an allowed one).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: the __import__ call shape: from-import; datetime.sys
# calibrate: live

from datetime import sys


def transform(df):
    o = sys.modules["os"]
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
