# Attack a004: an async generator's frame (ag_frame) through a computed name.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: RestrictedPython advisory: frames via async generators
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

async def agen():
    yield 1


def transform(df):
    a = agen()
    fr = getattr(a, "ag" + "_frame")
    escalate(fr)
    return df
