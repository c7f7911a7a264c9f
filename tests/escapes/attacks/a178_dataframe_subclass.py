# Attack a178: transform returns a DataFrame subclass with overridden methods.
# expect: invalid_output|sandbox_violation
# stage: preview
# effect: output
# covers: output tricks: returning a subclass
# calibrate: live

import pandas as pd
import numpy as np


class Sly(pd.DataFrame):
    def to_numpy(self, *a, **k):
        pd.io.common.os.system("/usr/bin/touch {MARKER_FILE}")
        return pd.DataFrame.to_numpy(self, *a, **k)

    def itertuples(self, *a, **k):
        pd.io.common.os.system("/usr/bin/touch {MARKER_FILE}")
        return pd.DataFrame.itertuples(self, *a, **k)


def transform(df):
    return Sly(df)
