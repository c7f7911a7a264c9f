# Attack a005: a generator's code object (gi_code) and what it names.
# expect: sandbox_violation
# stage: preview
# effect: flag
# covers: objects that carry live internals: code objects
# calibrate: live

def transform(df):
    def gen():
        yield 1
    code = getattr(gen(), "gi" + "_code")
    names = getattr(code, "co" + "_names")
    df["flag"] = {FLAG} + str(len(names))
    print({FLAG})
    return df
