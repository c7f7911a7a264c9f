# Attack a045: np.testing.extbuild.subprocess.check_call.
# expect: sandbox_violation
# stage: preview
# effect: spawn
# covers: module-attribute chain numpy -> subprocess (np.testing)
# calibrate: live

import numpy as np


def transform(df):
    np.testing.extbuild.subprocess.check_call(["/usr/bin/touch", "{MARKER_FILE}"])
    return df
