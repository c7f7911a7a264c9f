# Attack a013: an exception's __traceback__ named directly.
# expect: compile
# stage: preview
# effect: write
# covers: objects that carry live internals: tracebacks
# calibrate: live

def transform(df):
    try:
        1 / 0
    except ZeroDivisionError as e:
        fr = e.__traceback__.tb_frame.f_back
        o = fr.f_builtins["__import__"]("os")
        fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
        o.write(fd, b"escaped")
        o.close(fd)
    return df
