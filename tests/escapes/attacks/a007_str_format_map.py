# Attack a007: str.format_map walks attributes to a module.
# expect: sandbox_violation
# stage: preview
# effect: leak
# covers: RestrictedPython advisory: format strings (format_map)
# calibrate: live

def transform(df):
    text = "{x.__init__.__globals__[sys]}".format_map({"x": df})
    print(text)
    df["leak"] = text
    return df
