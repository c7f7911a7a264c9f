# Source table: orders (tablewright seed-demo).
# A whole-table aggregation: revenue, order count and average order value
# per region and month. Aggregations need every row at once, so this script
# asks for whole-table mode instead of chunk-by-chunk processing.
WHOLE_TABLE = True


def transform(df):
    df["revenue"] = df["price"] * df["qty"]
    df["region"] = df["region"].fillna("unknown")
    df["month"] = df["ordered_at"].dt.strftime("%Y-%m")
    groups = df.groupby(["region", "month"])
    out = groups["revenue"].sum().to_frame()
    out["orders"] = groups["id"].count()
    out = out.reset_index().sort_values(["region", "month"])
    out["average_order"] = (out["revenue"] / out["orders"]).round(2)
    return out
