# Attack a047: import os.
# expect: compile
# stage: preview
# effect: write
# covers: refused imports: os
# calibrate: live

import os


def transform(df):
    fd = os.open("{OUTSIDE_FILE}", os.O_WRONLY | os.O_CREAT, 420)
    os.write(fd, b"escaped")
    os.close(fd)
    return df
