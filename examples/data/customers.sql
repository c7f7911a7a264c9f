-- Demo table "customers": messy text for examples/clean_customers.py
-- (stray spaces, mixed case, phone numbers in several formats, blanks).
CREATE TABLE customers (
  id        integer PRIMARY KEY,
  full_name text NOT NULL,
  email     text,
  phone     text,
  city      text,
  signed_up date NOT NULL
);
INSERT INTO customers
SELECT g,
       (ARRAY['  ada lovelace', 'GRACE  HOPPER ', 'alan turing', ' Edsger   Dijkstra', 'barbara LISKOV'])[1 + g % 5] || ' ' || g,
       CASE WHEN g % 17 = 0 THEN NULL ELSE ' User' || g || '@Example.COM ' END,
       (ARRAY['+1 (555) 010-' || lpad((g % 10000)::text, 4, '0'), '555.010.' || lpad((g % 10000)::text, 4, '0'), '', NULL])[1 + g % 4],
       (ARRAY[' paris', 'BERLIN ', 'new york', '', 'zürich'])[1 + g % 5],
       date '2020-01-01' + (g % 1500)
FROM generate_series(1, greatest(current_setting('tablewright.demo_rows')::int / 20, 100)) g;
ANALYZE customers;
