# Attack a192: catches one refusal, then tries the next door (a caught refusal opens nothing).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: refusals are kept even when user code catches them
# calibrate: live

import pandas as pd


def transform(df):
    try:
        pd.io.common.os
    except Exception:
        pass
    try:
        df.to_csv("{OUTSIDE_FILE}")
    except Exception:
        pass
    return df
