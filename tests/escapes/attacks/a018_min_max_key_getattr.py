# Attack a018: min()/max() with a key that fetches a computed attribute.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: RestrictedPython advisory: iteration in C (min/max with key)
# calibrate: live

import pandas as pd


def transform(df):
    found = []
    max([pd.io.common], key=lambda m: found.append(getattr(m, "o" + "s")) or 0)
    o = found[0]
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
