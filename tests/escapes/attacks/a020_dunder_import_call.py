# Attack a020: the __import__ call shape: __import__('os').
# expect: compile
# stage: preview
# effect: write
# covers: the __import__ call shape
# calibrate: live

def transform(df):
    o = __import__("os")
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
