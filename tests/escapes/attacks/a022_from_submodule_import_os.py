# Attack a022: from pandas.io.common import os.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: the __import__ call shape: from-import of a module-valued name
# calibrate: live

from pandas.io.common import os as o


def transform(df):
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
