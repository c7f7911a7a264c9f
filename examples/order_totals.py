# Source table: orders (tablewright seed-demo; columns id, customer_id,
# product, price, qty, ordered_at, region, discount, is_gift, note).
# Adds the order's total and the total after its discount.


def transform(df):
    df["total"] = df["price"] * df["qty"]
    df["total_after_discount"] = (df["total"] * (1 - df["discount"].fillna(0))).round(2)
    return df
