# Attack a191: top-level code that writes with a door before transform is defined.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: top-level code: a door at module level
# calibrate: live

import pandas as pd

pd.DataFrame({"a": [1]}).to_csv("{OUTSIDE_FILE}")


def transform(df):
    return df
