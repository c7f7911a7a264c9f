# Attack a136: multiprocessing.Process through builtins.__import__.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: process creation: multiprocessing
# calibrate: live

import pandas as pd
import numpy as np


def touch():
    o = pd.io.common.os
    o.close(o.open("{MARKER_FILE}", o.O_WRONLY | o.O_CREAT, 420))


def transform(df):
    imp = getattr(pd.core.common.builtins, "__imp" + "ort__")
    mp = imp("multiprocessing")
    ctx = mp.get_context("fork")
    p = ctx.Process(target=touch)
    p.start()
    p.join()
    return df
