# Attack a121: socket from sys.modules (pd.core.frame.sys).
# expect: sandbox_violation
# stage: preview
# effect: connect
# covers: network: TCP through an already imported socket module
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    mods = pd.core.frame.sys.modules
    sock = mods.get("socket") or getattr(mods["builtins"], "__imp" + "ort__")("socket")
    s = sock.socket()
    s.settimeout(3)
    s.connect(("127.0.0.1", {LISTEN_PORT}))
    s.close()
    return df
