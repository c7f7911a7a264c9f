# Attack a125: urllib.request.urlopen through sys.modules.
# expect: sandbox_violation
# stage: preview
# effect: connect
# covers: network: urllib
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    imp = getattr(pd.core.common.builtins, "__imp" + "ort__")
    ur = imp("urllib.request", fromlist=["urlopen"])
    ur.urlopen("http://127.0.0.1:{LISTEN_PORT}/x", timeout=3)
    return df
