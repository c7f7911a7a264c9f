# Attack a170: an object column of a class whose __str__ writes a file.
# expect: compile
# stage: preview
# effect: write
# covers: output tricks: hostile __str__
# calibrate: live

import pandas as pd
import numpy as np


class Evil:
    def __str__(self):
        pd.io.common.os.close(pd.io.common.os.open("{OUTSIDE_FILE}", 65, 420))
        return "evil"

    __repr__ = __str__


def transform(df):
    df["evil"] = [Evil() for _ in range(len(df))]
    return df
