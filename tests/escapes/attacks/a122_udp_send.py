# Attack a122: a UDP datagram to the test's receiver.
# expect: sandbox_violation
# stage: preview
# effect: udp
# covers: network: UDP
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    imp = getattr(np.ma.core.builtins, "__imp" + "ort__")
    sock = imp("socket")
    s = sock.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"escaped", ("127.0.0.1", {UDP_PORT}))
    s.close()
    return df
