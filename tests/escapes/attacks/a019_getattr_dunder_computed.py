# Attack a019: getattr(df, '__cl' + 'ass__') and the subclasses walk to os._wrap_close.
# expect: sandbox_violation
# stage: preview
# effect: write
# covers: getattr with computed names; the classic __subclasses__ walk
# calibrate: live

def transform(df):
    obj = getattr(getattr(df, "__cl" + "ass__"), "__mr" + "o__")[-1]
    for cls in getattr(obj, "__subcl" + "asses__")():
        if getattr(cls, "__na" + "me__") == "_wrap_close":
            g = getattr(getattr(cls, "__in" + "it__"), "__glo" + "bals__")
            g["system"]("/usr/bin/touch {OUTSIDE_FILE}")
    return df
