# Attack a124: import socket.
# expect: compile
# stage: preview
# effect: connect
# covers: refused imports: socket
# calibrate: live

import pandas as pd
import numpy as np


import socket


def transform(df):
    s = socket.create_connection(("127.0.0.1", {LISTEN_PORT}), timeout=3)
    s.close()
    return df
