# Source table: customers (tablewright seed-demo; columns id, full_name,
# email, phone, city, signed_up).
# Cleans text columns: trims and title-cases names and cities, lower-cases
# emails, keeps only the digits of phone numbers, and turns blank strings
# into missing values.


def transform(df):
    df["full_name"] = df["full_name"].str.strip().str.replace(r"\s+", " ", regex=True).str.title()
    df["email"] = df["email"].str.strip().str.lower()
    df["phone"] = df["phone"].str.replace(r"\D", "", regex=True)
    df["city"] = df["city"].str.strip().str.title()
    for column in ["full_name", "email", "phone", "city"]:
        df[column] = df[column].mask(df[column] == "")
    return df
