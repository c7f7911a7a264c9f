# Attack a123: a connect to a unix socket the test listens on.
# expect: sandbox_violation
# stage: preview
# effect: unix
# covers: network: unix sockets
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    imp = getattr(pd.core.common.builtins, "__imp" + "ort__")
    sock = imp("socket")
    s = sock.socket(sock.AF_UNIX, sock.SOCK_STREAM)
    s.settimeout(3)
    s.connect("{UNIX_SOCKET}")
    s.close()
    return df
