# Attack a012: an exception's __traceback__ through a computed name, then its frames.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: objects that carry live internals: tracebacks and frames
# calibrate: live

def escalate(fr):
    """Walks the frames outward; the first real __import__ or os wins."""
    while fr is not None:
        for ns in (getattr(fr, "f_globals"), getattr(fr, "f_builtins")):
            try:
                imp = ns["__import__"]
                o = imp("os")
                fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
                o.write(fd, b"escaped")
                o.close(fd)
                return True
            except Exception:
                pass
        fr = getattr(fr, "f_back")
    return False

def transform(df):
    try:
        1 / 0
    except ZeroDivisionError as e:
        tb = getattr(e, "__trace" + "back__")
        escalate(getattr(tb, "tb" + "_frame"))
    return df
