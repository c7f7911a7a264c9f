# Attack a065: df.to_xml(path, parser='etree').
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: door: to_* file writers (to_xml)
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    df.to_xml("{OUTSIDE_FILE}", parser="etree")
    return df
