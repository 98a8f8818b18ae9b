-- Admission control: settings, columns, and what they show while it is off
-- (the default). Waiting, timeouts and lock safety need several sessions:
-- TAP 011 and 012.
SELECT name, setting, unit, context FROM pg_settings
 WHERE name IN ('poolgov.max_active_transactions', 'poolgov.admission_timeout',
                'poolgov.heavy_cost', 'poolgov.max_heavy_transactions',
                'poolgov.admission_idle_timeout', 'poolgov.admission_aging',
                'poolgov.admission_fairness_bound', 'poolgov.admission_fairness_factor')
 ORDER BY name;
-- Reload settings: not per session, and checked.
SELECT sqlstate_of('SET poolgov.max_active_transactions = 4');
\set VERBOSITY sqlstate
ALTER SYSTEM SET poolgov.max_active_transactions = -1;
ALTER SYSTEM SET poolgov.heavy_cost = -5;
ALTER SYSTEM SET poolgov.admission_timeout = 'soon';
\set VERBOSITY terse
ALTER SYSTEM SET poolgov.admission_timeout = 'soon';

-- Off: nobody holds or waits for a slot.
SELECT admission, queued_since FROM poolgov.connections WHERE pid = pg_backend_pid();
SELECT admission_running, admission_queued, admission_timeouts, admission_overdrafts,
       admission_idle_ended
  FROM poolgov.stats;
SELECT admitted, queued, admission_timeouts FROM poolgov.roles WHERE role = current_user;
SELECT admitted, queued, admission_timeouts
  FROM poolgov.databases WHERE database = current_database();
-- The governor goes on sampling the queue: samples taken from here on (it
-- samples every 100 ms; wait up to 10 s for one) say nobody is queued.
CREATE TEMP TABLE mark AS SELECT clock_timestamp() AS at;
DO $$
BEGIN
    FOR i IN 1..200 LOOP
        EXIT WHEN EXISTS (SELECT FROM poolgov.history, mark WHERE sampled_at > mark.at);
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
SELECT count(*) > 0 AS sampled_since, bool_and(queued IS NOT NULL AND queued = 0) AS none_queued
  FROM poolgov.history, mark WHERE sampled_at > mark.at;
DROP TABLE mark;

-- The columns and their types.
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'poolgov.connections'::regclass AND attname IN ('admission', 'queued_since')
 ORDER BY attnum;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'poolgov.stats'::regclass AND attname LIKE 'admission%' ORDER BY attnum;

-- The grant order (poolgov.admission_order, 1.2): what the queue follows,
-- as published by the last reload; anyone may read it. Nobody has waited
-- here, so the recent mean wait is 0 and the bound in force 0 (FIFO until
-- a wait is measured; TAP 011 checks it under a queue).
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'poolgov.admission_order'::regclass AND attnum > 0 ORDER BY attnum;
CREATE ROLE admission_order_reader;
SET ROLE admission_order_reader;
SELECT * FROM poolgov.admission_order;
RESET ROLE;
DROP ROLE admission_order_reader;
