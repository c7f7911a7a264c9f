# Attack a135: import pty.
# expect: compile
# stage: preview
# effect: spawn
# covers: refused imports: pty
# calibrate: live

import pandas as pd
import numpy as np


import pty


def transform(df):
    pty.spawn(["/usr/bin/touch", "{MARKER_FILE}"])
    return df
