# Attack a015: map() calls getattr in C over a computed name.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: RestrictedPython advisory: iteration in C (map)
# calibrate: live

import pandas as pd


def transform(df):
    o = list(map(getattr, [pd.io.common], ["o" + "s"]))[0]
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
