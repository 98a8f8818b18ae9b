-- poolgov.reset() zeroes counters, keeps connections and peak sane.
SELECT 1;
SELECT 2;
SELECT statements > 0 AS counted, accepted > 0 AS accepted FROM poolgov.stats;
SELECT statements > 0 AS counted FROM poolgov.connections WHERE pid = pg_backend_pid();

SELECT poolgov.reset();
-- Only the reset statement itself finished since then.
SELECT statements, errors, slow_statements, accepted, rejected_budget, rejected_breaker,
       auth_failures, stats_reset > now() - interval '1 minute' AS reset_now,
       peak_connections = connections AS peak_is_current
  FROM poolgov.stats;
SELECT statements FROM poolgov.connections WHERE pid = pg_backend_pid();
SELECT statements, accepted, rejected FROM poolgov.roles WHERE role = current_user;
SELECT statements, accepted FROM poolgov.databases WHERE database = current_database();

-- Counting goes on after a reset.
SELECT 3;
SELECT statements FROM poolgov.stats;
