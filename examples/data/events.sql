-- Demo table "events": dates stored as text in three formats, for
-- examples/parse_dates.py, and a jsonb payload.
CREATE TABLE events (
  id               bigint PRIMARY KEY,
  kind             text NOT NULL,
  happened_at_text text,
  payload          jsonb
);
INSERT INTO events
SELECT g,
       (ARRAY['signup', 'login', 'purchase', 'logout'])[1 + g % 4],
       CASE g % 4
         WHEN 0 THEN to_char(date '2024-01-01' + (g % 366), 'YYYY-MM-DD')
         WHEN 1 THEN to_char(timestamptz '2024-01-01 00:00:00+00' + g * interval '7 minutes', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
         WHEN 2 THEN to_char(date '2024-01-01' + (g % 366), 'DD/MM/YYYY')
         ELSE NULL
       END,
       jsonb_build_object('session', g % 1000, 'ok', g % 9 <> 0)
FROM generate_series(1, greatest(current_setting('tablewright.demo_rows')::int / 10, 100)) g;
ANALYZE events;
