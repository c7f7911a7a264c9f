# Attack a050: import pickle and load a reduce payload.
# expect: compile
# stage: preview
# effect: spawn
# covers: refused imports: pickle
# calibrate: live

import pickle


def transform(df):
    pickle.loads(b"cos\nsystem\n(S'/usr/bin/touch {MARKER_FILE}'\ntR.")
    return df
