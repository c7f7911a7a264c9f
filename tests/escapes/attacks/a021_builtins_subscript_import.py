# Attack a021: __builtins__['__import__'] from the script's globals.
# expect: compile
# stage: preview
# effect: write
# covers: the __import__ call shape (through __builtins__)
# calibrate: live

def transform(df):
    b = __builtins__
    imp = b["__import__"] if isinstance(b, dict) else getattr(b, "__import__")
    o = imp("os")
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
