# Source table: orders (tablewright seed-demo).
# Keeps the large orders of known regions: ten items or more, a region set,
# and an order value of at least 500; only the columns a report needs.


def transform(df):
    value = df["price"] * df["qty"]
    keep = (df["qty"] >= 10) & df["region"].notna() & (value >= 500)
    out = df.loc[keep, ["id", "customer_id", "product", "price", "qty", "region"]].copy()
    out["value"] = value[keep]
    return out
