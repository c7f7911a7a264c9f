# Source table: orders (tablewright seed-demo).
# Derives categories with numpy: a price band from thresholds, a size from
# the quantity, and a flag for discounted gift orders.
import numpy as np


def transform(df):
    price = df["price"].astype(float)
    df["price_band"] = np.select(
        [price < 10, price < 50, price < 100],
        ["budget", "standard", "premium"],
        default="luxury",
    )
    df["size"] = np.where(df["qty"] >= 10, "bulk", "single")
    df["discounted_gift"] = df["is_gift"] & (df["discount"].fillna(0) > 0)
    return df
