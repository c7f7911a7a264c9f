# Attack a006: str.format walks attributes to a module.
# expect: sandbox_violation
# stage: preview
# effect: leak
# covers: RestrictedPython advisory: format strings
# calibrate: live

def transform(df):
    text = "{0.__init__.__globals__[sys]}".format(df)
    print(text)
    df["leak"] = text
    return df
