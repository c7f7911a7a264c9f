# Attack a038: np.ma.core.builtins.open.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: module-attribute chain numpy -> builtins
# calibrate: live

import numpy as np


def transform(df):
    with np.ma.core.builtins.open("{OUTSIDE_FILE}", "w") as f:
        f.write("escaped")
    return df
