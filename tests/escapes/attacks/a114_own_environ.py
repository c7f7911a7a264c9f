# Attack a114: the runner's own environment (os.environ).
# expect: sandbox_violation
# stage: preview
# effect: secret
# covers: the worker's environment never reaches the child
# calibrate: skip: outside the sandbox the stand-in parent passes no secret in the child's environment either (the worker builds it from an allow list); this attack only checks that nothing in it is a canary

import pandas as pd
import numpy as np


def transform(df):
    text = repr(dict(pd.io.common.os.environ))
    print(text)
    df["leak"] = text
    return df
