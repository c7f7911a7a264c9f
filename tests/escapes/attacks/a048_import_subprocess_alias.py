# Attack a048: import subprocess as sp.
# expect: compile
# stage: preview
# effect: spawn
# covers: refused imports: subprocess
# calibrate: live

import subprocess as sp


def transform(df):
    sp.run(["/usr/bin/touch", "{MARKER_FILE}"])
    return df
