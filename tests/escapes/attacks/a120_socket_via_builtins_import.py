# Attack a120: a TCP connect to the test's listener through builtins.__import__('socket').
# expect: sandbox_violation
# stage: job
# effect: connect
# covers: network: TCP to 127.0.0.1
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    imp = getattr(pd.core.common.builtins, "__imp" + "ort__")
    s = imp("socket").create_connection(("127.0.0.1", {LISTEN_PORT}), timeout=3)
    s.sendall(b"escaped")
    s.close()
    return df
