# Attack a043: getattr chain with computed names: pd -> io -> stata -> os.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: module-attribute chain with getattr and computed names
# calibrate: live

import pandas as pd


def transform(df):
    parts = ["i" + "o", "st" + "ata", "o" + "s"]
    obj = pd
    for p in parts:
        obj = getattr(obj, p)
    fd = obj.open("{OUTSIDE_FILE}", obj.O_WRONLY | obj.O_CREAT, 420)
    obj.write(fd, b"escaped")
    obj.close(fd)
    return df
