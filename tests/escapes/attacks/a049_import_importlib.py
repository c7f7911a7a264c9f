# Attack a049: importlib.import_module('os').
# expect: compile
# stage: preview
# effect: write
# covers: refused imports: importlib
# calibrate: live

from importlib import import_module


def transform(df):
    o = import_module("os")
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
