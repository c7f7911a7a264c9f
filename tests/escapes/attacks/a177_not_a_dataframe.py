# Attack a177: transform returns a list.
# expect: invalid_output
# stage: preview
# effect: output
# covers: output tricks: returning not-a-DataFrame
# calibrate: live

import pandas as pd
import numpy as np


def transform(df):
    return [1, 2, 3]
