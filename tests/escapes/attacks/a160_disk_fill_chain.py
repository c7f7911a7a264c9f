# Attack a160: fill the disk through os.write in the job directory.
# expect: sandbox_violation
# stage: job
# effect: limit:disk
# covers: resource bomb: disk (os.write)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    o = pd.io.common.os
    fd = o.open("fill.bin", o.O_WRONLY | o.O_CREAT, 384)
    chunk = b"\0" * (1 << 20)
    for i in range(4096):
        o.write(fd, chunk)
    o.close(fd)
    return df
