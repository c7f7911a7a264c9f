# Attack a192: catches the refusal and carries on (the first violation must still fail the run).
# expect: sandbox_violation
# stage: preview
# effect: flag
# covers: refusals are kept even when user code catches them
# calibrate: live

import pandas as pd


def transform(df):
    try:
        pd.io.common.os
    except Exception:
        pass
    print({FLAG})
    df["flag"] = {FLAG}
    return df
