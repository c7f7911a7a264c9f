# Attack a175: a column name that is SQL.
# expect: invalid_output
# stage: job
# effect: output
# covers: output tricks: hostile column names
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df['x" text); DROP TABLE public.src; --'] = 1
    return df
