-- poolgov.health(), poolgov.recommendations and poolgov.stats.health. How
-- health moves as connections open and close: test/t/014_health.pl. Values
-- that depend on timing (latency, slow statements) are not printed here.

-- Columns and types.
SELECT a.name, a.type::regtype FROM pg_proc p,
       unnest(p.proargnames, p.proallargtypes) WITH ORDINALITY AS a(name, type, n)
 WHERE p.oid = 'poolgov.health()'::regprocedure ORDER BY a.n;
SELECT attnum, attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'poolgov.recommendations'::regclass AND attnum > 0 ORDER BY attnum;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'poolgov.stats'::regclass
   AND attnum = (SELECT max(attnum) FROM pg_attribute
                  WHERE attrelid = 'poolgov.stats'::regclass);

-- One row per check, in this order, with the default thresholds.
SELECT "check", warning_at, critical_at FROM poolgov.health();
SELECT "check", status, value IS NULL AS no_value, detail
  FROM poolgov.health() WHERE "check" = 'admission_wait';
SELECT status, value > 0 AND value < 60 AS low, detail ~ '^\d+ of max_connections = \d+ in use'
  FROM poolgov.health() WHERE "check" = 'utilization';
SELECT bool_and(status IN ('ok', 'warning', 'critical')) AS statuses_known,
       bool_and(detail <> '') AS details FROM poolgov.health();

-- poolgov.stats.health is the worst status of poolgov.health(). The two are
-- read one after the other while the governor samples every 100 ms, so a
-- sample may enter or leave the one-minute window in between: they must
-- agree in at least one of five tries (they agree nearly always).
SELECT bool_or(agree) AS stats_health_is_worst FROM (
    SELECT (SELECT health FROM poolgov.stats WHERE g > 0) =
           (SELECT CASE max(CASE status WHEN 'ok' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END)
                   WHEN 0 THEN 'ok' WHEN 1 THEN 'warning' ELSE 'critical' END
              FROM poolgov.health() WHERE g > 0) AS agree
      FROM generate_series(1, 5) g) tries;

-- Thresholds are reload settings with bounds.
SELECT sqlstate_of('SET poolgov.health_utilization_warning = 50');
ALTER SYSTEM SET poolgov.health_utilization_warning = 150;
ALTER SYSTEM SET poolgov.health_utilization_critical = -1;
-- PostgreSQL 17 and later name units in ranges (expected/health_1.out).
ALTER SYSTEM SET poolgov.health_p95_latency_warning = -5;
ALTER SYSTEM SET poolgov.health_error_ratio_critical = 101;
ALTER SYSTEM SET poolgov.health_breakers_open_warning = 0;
ALTER SYSTEM SET poolgov.cpu_cores = -1;
ALTER SYSTEM SET poolgov.effective_spindles = -1;
ALTER SYSTEM SET poolgov.recommend_min_history = 0;
SELECT name, setting, unit, context FROM pg_settings
 WHERE name ~ '^poolgov\.(health_|cpu_cores|effective_spindles|recommend_)' ORDER BY name;

-- Recommendations from little history say so and recommend nothing; the
-- formula for max_active_transactions needs no history.
SELECT setting, current, recommended IS NULL AS no_recommendation,
       reason ~ '^not enough history: poolgov.history spans .* \(\d+ samples\), this rule needs 10 min 0 s \(poolgov.recommend_min_history\)$' AS says_why
  FROM poolgov.recommendations
 WHERE setting NOT LIKE 'budget of role %' AND setting <> 'poolgov.max_active_transactions'
 ORDER BY setting;
SELECT current, recommended::int > 0 AS recommends,
       reason ~ '^\(cores x 2\) \+ effective spindles = \(\d+ x 2\) \+ 1 = \d+;' AS formula
  FROM poolgov.recommendations WHERE setting = 'poolgov.max_active_transactions';

-- With the DBA's cores and spindles, and with enough history (1 s here).
ALTER SYSTEM SET poolgov.cpu_cores = 8;
ALTER SYSTEM SET poolgov.effective_spindles = 4;
ALTER SYSTEM SET poolgov.recommend_min_history = '1s';
SELECT pg_reload_conf();
DO $$
BEGIN
    FOR i IN 1..200 LOOP  -- at most 10 s
        EXIT WHEN current_setting('poolgov.recommend_min_history') = '1s'
              AND (SELECT max(sampled_at) - min(sampled_at) FROM poolgov.history) > '1 s';
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
SELECT recommended, reason FROM poolgov.recommendations
 WHERE setting = 'poolgov.max_active_transactions';
SELECT r.current::int = current_setting('max_connections')::int AS current_ok,
       r.recommended::int = h.peak + greatest(1, ceil(h.peak * 0.25)::int)
                            + current_setting('superuser_reserved_connections')::int
           AS peak_plus_headroom,
       r.reason ~ ('^peak of ' || h.peak || ' client connections in ') AS quotes_peak
  FROM poolgov.recommendations r,
       (SELECT max(connections) AS peak FROM poolgov.history) h
 WHERE r.setting = 'max_connections';
ALTER SYSTEM RESET poolgov.cpu_cores;
ALTER SYSTEM RESET poolgov.effective_spindles;
ALTER SYSTEM RESET poolgov.recommend_min_history;
SELECT pg_reload_conf();

-- Aggregates only: every role may read them.
CREATE ROLE regress_health_reader;
SET ROLE regress_health_reader;
SELECT count(*) AS checks FROM poolgov.health();
SELECT count(*) >= 2 AS recommendations FROM poolgov.recommendations;
SELECT health IN ('ok', 'warning', 'critical') AS health FROM poolgov.stats;
RESET ROLE;
DROP ROLE regress_health_reader;
SELECT has_function_privilege('public', 'poolgov.health()', 'EXECUTE') AS public_health,
       has_table_privilege('public', 'poolgov.recommendations', 'SELECT') AS public_recs;
