# Attack a181: transform returns the numpy module.
# expect: invalid_output
# stage: preview
# effect: output
# covers: output tricks: returning a module
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    return np
