# Source table: events (tablewright seed-demo; columns id, kind,
# happened_at_text, payload).
# Parses a text column holding dates in three formats (ISO dates, ISO
# timestamps with a zone, and day/month/year) into one UTC timestamp column,
# and derives the weekday and the month.
import pandas as pd


def transform(df):
    text = df["happened_at_text"]
    iso = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    dmy = pd.to_datetime(text, format="%d/%m/%Y", utc=True, errors="coerce")
    df["happened_at"] = iso.fillna(dmy)
    df["weekday"] = df["happened_at"].dt.day_name()
    df["month"] = df["happened_at"].dt.strftime("%Y-%m")
    return df
