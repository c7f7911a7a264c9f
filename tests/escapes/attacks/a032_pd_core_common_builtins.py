# Attack a032: pd.core.common.builtins.open.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: module-attribute chain pandas -> builtins
# calibrate: live

import pandas as pd


def transform(df):
    b = pd.core.common.builtins
    with b.open("{OUTSIDE_FILE}", "w") as f:
        f.write("escaped")
    return df
