# Attack a025: sys._getframe through datetime.sys and a computed name, then outward.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: objects that carry live internals: sys._getframe
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

import datetime


def transform(df):
    gf = getattr(datetime.sys, "_get" + "frame")
    escalate(gf(0))
    return df
