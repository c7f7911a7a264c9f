# Attack a046: the globals of a pandas function: DataFrame.to_csv.__globals__.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: objects that carry live internals: function globals
# calibrate: live

import pandas as pd


def transform(df):
    g = getattr(getattr(pd.DataFrame, "__in" + "it__"), "__glo" + "bals__")
    o = g["sys"].modules["os"]
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
