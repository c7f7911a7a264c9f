# Attack a011: except* hands an exception group whose traceback reaches the frames.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: RestrictedPython advisory: except* (TryStar)
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
        raise ExceptionGroup("g", [ValueError("v")])
    except* ValueError as eg:
        tb = getattr(eg, "__trace" + "back__")
        escalate(getattr(tb, "tb" + "_frame"))
    return df
