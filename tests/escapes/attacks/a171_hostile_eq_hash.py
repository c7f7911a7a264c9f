# Attack a171: an object column whose __eq__/__hash__ run code in the runner.
# expect: compile
# stage: preview
# effect: write
# covers: output tricks: hostile __eq__ / __hash__
# calibrate: live

import pandas as pd
import numpy as np


class Evil:
    def __eq__(self, other):
        pd.io.common.os.close(pd.io.common.os.open("{OUTSIDE_FILE}", 65, 420))
        return True

    def __hash__(self):
        return 1


def transform(df):
    df["evil"] = [Evil() for _ in range(len(df))]
    return df
