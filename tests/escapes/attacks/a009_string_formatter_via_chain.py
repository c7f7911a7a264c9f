# Attack a009: string.Formatter reached through numpy.f2py.crackfortran.string.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: RestrictedPython advisory: string.Formatter; module-attribute chain
# calibrate: live

import numpy as np


def transform(df):
    fmt = np.f2py.crackfortran.string.Formatter()
    obj = fmt.get_field("0.__init__.__globals__[sys]", [df], {})[0]
    o = obj.modules["os"]
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
