"""Runs one example script's transform() on rows given as a pickle on stdin
and writes the result rows as a pickle on stdout.

Test harness only, run with the sandbox's Python (which has pandas), by
test_examples.py. It builds the DataFrame the way the sandbox will: numeric
columns as float64, timestamps as UTC datetimes. The data is the test's own.
"""

import decimal
import pickle
import sys

import pandas as pd


def plain(value: object) -> object:
    """pandas and numpy scalars as plain Python, so the test's Python,
    which has no pandas, can unpickle them."""
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    if hasattr(value, "item"):
        return value.item()
    return value


def main() -> None:
    script_path = sys.argv[1]
    payload = pickle.load(sys.stdin.buffer)
    df = pd.DataFrame(payload["rows"], columns=payload["columns"])
    for col in df.columns:
        sample = df[col].dropna()
        if len(sample) and isinstance(sample.iloc[0], decimal.Decimal):
            df[col] = df[col].astype(float)
        elif len(sample) and hasattr(sample.iloc[0], "tzinfo"):
            df[col] = pd.to_datetime(df[col], utc=True)
    namespace: dict = {}
    with open(script_path) as f:
        exec(compile(f.read(), script_path, "exec"), namespace)
    out = namespace["transform"](df)
    assert isinstance(out, pd.DataFrame)
    records = [
        {k: plain(v) for k, v in r.items()}
        for r in out.astype(object).where(out.notna(), None).to_dict(orient="records")
    ]
    pickle.dump({"columns": list(out.columns), "rows": records}, sys.stdout.buffer)


if __name__ == "__main__":
    main()
