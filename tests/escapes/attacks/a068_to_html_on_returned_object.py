# Attack a068: a writer on a returned object: df.head().T.to_html(path).
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: method lookup on a returned object (to_html)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df.head(2).T.to_html("{OUTSIDE_FILE}")
    return df
