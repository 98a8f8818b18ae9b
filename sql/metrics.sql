-- poolgov.metrics(): who may call it, and the shape of its output. That
-- the numbers agree with the views, promtool's verdict and label escaping
-- under load: test/t/015_metrics.pl; the formatting itself:
-- test/unit/prometheus_test.cpp.

CREATE ROLE regress_metrics_nobody LOGIN;
CREATE ROLE regress_metrics_monitor LOGIN;
GRANT pg_monitor TO regress_metrics_monitor;
CREATE ROLE regress_metrics_admin LOGIN;
GRANT poolgov_admin TO regress_metrics_admin;

-- Signature and privileges: pg_monitor and poolgov_admin, not PUBLIC.
SELECT p.prorettype::regtype, p.prosecdef, p.proisstrict,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may,
       has_function_privilege('pg_monitor', p.oid, 'EXECUTE') AS pg_monitor_may,
       has_function_privilege('poolgov_admin', p.oid, 'EXECUTE') AS admin_may
  FROM pg_proc p WHERE p.oid = 'poolgov.metrics()'::regprocedure;

SET ROLE regress_metrics_nobody;
SELECT sqlstate_of('SELECT poolgov.metrics()');
RESET ROLE;

SET ROLE regress_metrics_monitor;
SELECT left(poolgov.metrics(), 30) AS starts;
RESET ROLE;

SET ROLE regress_metrics_admin;
SELECT poolgov.metrics() LIKE '# HELP %' AS starts_with_help;
RESET ROLE;

-- Every family has one HELP and one TYPE line, in that order; the output
-- ends with a newline.
WITH l AS (SELECT line, n FROM regexp_split_to_table(poolgov.metrics(), E'\n')
                             WITH ORDINALITY AS t(line, n))
SELECT count(*) FILTER (WHERE line LIKE '# HELP %') AS help,
       count(*) FILTER (WHERE line LIKE '# TYPE %') AS type,
       count(*) FILTER (WHERE line = '') AS empty_lines,
       bool_and(line = '' OR line LIKE '# %' OR line LIKE 'pg\_poolgov\_%') AS well_formed
  FROM l;
WITH l AS (SELECT line, n FROM regexp_split_to_table(poolgov.metrics(), E'\n')
                             WITH ORDINALITY AS t(line, n))
SELECT split_part(t.line, ' ', 3) AS family, split_part(t.line, ' ', 4) AS type
  FROM l t JOIN l h ON h.n = t.n - 1
 WHERE t.line LIKE '# TYPE %'
   AND h.line LIKE '# HELP ' || split_part(t.line, ' ', 3) || ' %'
 ORDER BY t.n;

-- Values that do not move during the test: max_connections, and the
-- connection gauges add up to poolgov.stats.connections.
SELECT (regexp_match(poolgov.metrics(), E'\npg_poolgov_max_connections (\\d+)\n'))[1]::int
       = current_setting('max_connections')::int AS max_connections_agrees;
SELECT (SELECT sum(m[1]::int) FROM regexp_matches(poolgov.metrics(),
               E'\npg_poolgov_connections\\{state="[a-z_]+"\\} (\\d+)', 'g') AS m)
       = (SELECT connections FROM poolgov.stats) AS connections_agree;
SELECT (regexp_match(poolgov.metrics(),
        E'\npg_poolgov_health_status\\{check="utilization"\\} (\\d)\n'))[1] AS utilization_status;

-- The cardinality cap: reload setting, default 100.
SELECT name, setting, context, vartype, min_val FROM pg_settings
 WHERE name = 'poolgov.metrics_max_roles';

DROP ROLE regress_metrics_nobody, regress_metrics_monitor, regress_metrics_admin;
-- An IPv4-mapped IPv6 address cannot be listened on (bind() fails with
-- EINVAL): refused when set, not retried for ever by the governor.
ALTER SYSTEM SET poolgov.metrics_listen_address = '::ffff:127.0.0.1';
