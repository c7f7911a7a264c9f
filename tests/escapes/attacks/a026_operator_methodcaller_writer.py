# Attack a026: operator.methodcaller('to_csv', path) through pandas.core.frame.operator, applied by map().
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: operator.attrgetter/methodcaller; iteration in C (map)
# calibrate: live

import pandas as pd


def transform(df):
    call = pd.core.frame.operator.methodcaller("to_csv", "{OUTSIDE_FILE}")
    list(map(call, [df]))
    return df
