# Attack a041: re.functools, then the real builtins through a function's globals.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: module-attribute chain re -> functools -> builtins
# calibrate: live

import re


def transform(df):
    g = getattr(re.functools.wraps, "__glo" + "bals__")
    real = g["__builtins__"]
    imp = real["__import__"] if isinstance(real, dict) else getattr(real, "__import__")
    o = imp("os")
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
