# Attack a111: the secret file through datetime.sys -> os.
# expect: sandbox_violation
# stage: preview
# effect: secret
# covers: reading secrets: a file outside the job directory
# calibrate: live

import pandas as pd
import numpy as np


import datetime


def transform(df):
    o = datetime.sys.modules["os"]
    fd = o.open("{SECRET_FILE}", o.O_RDONLY)
    text = o.read(fd, 4096).decode()
    print(text)
    df["leak"] = text
    return df
