-- Demo table "orders", shaped like the reference benchmark table
-- (bench/orders.sql): NULLs, quotes, commas, newlines and empty
-- strings. Rows: the setting tablewright.demo_rows (seed-demo --rows).
CREATE TABLE orders (
  id          bigint PRIMARY KEY,
  customer_id integer NOT NULL,
  product     text NOT NULL,
  price       numeric(10,2) NOT NULL,
  qty         integer NOT NULL,
  ordered_at  timestamptz NOT NULL,
  region      text,
  discount    double precision,
  is_gift     boolean NOT NULL,
  note        text
);
INSERT INTO orders
SELECT g,
       ((g::bigint * 7919) % 50000)::int,
       'product-' || (g % 997),
       round(((g % 10000) / 100.0 + 0.99)::numeric, 2),
       1 + g % 12,
       timestamptz '2024-01-01 00:00:00+00' + (g % 31536000) * interval '1 second',
       CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN 'north' WHEN 2 THEN 'south' WHEN 3 THEN 'east' ELSE 'west, "central"' END,
       CASE WHEN g % 7 = 0 THEN NULL ELSE (g % 30) / 100.0 END,
       g % 11 = 0,
       CASE WHEN g % 13 = 0 THEN 'gift wrap' || chr(10) || 'line two' WHEN g % 3 = 0 THEN '' ELSE NULL END
FROM generate_series(1, current_setting('tablewright.demo_rows')::int) g;
ANALYZE orders;
