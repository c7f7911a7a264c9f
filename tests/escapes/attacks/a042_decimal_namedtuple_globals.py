# Attack a042: decimal.DecimalTuple._make's globals (collections' _sys).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: module-attribute chain decimal -> collections -> sys
# calibrate: live

import decimal


def transform(df):
    mk = getattr(decimal.DecimalTuple, "_ma" + "ke")
    g = getattr(getattr(mk, "__fu" + "nc__"), "__glo" + "bals__")
    o = g["_sys"].modules["os"]
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
