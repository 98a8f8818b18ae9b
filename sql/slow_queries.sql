-- The slow-query log: statements at or over poolgov.slow_query_threshold
-- (100 ms by default).
SELECT poolgov.reset_slow_queries();
SELECT pg_sleep(0.2);
SELECT 1;
SELECT role = current_user AS role_ok, database = current_database() AS database_ok,
       pid = pg_backend_pid() AS pid_ok, duration_ms >= 200 AS at_least_200ms,
       duration_ms < 60000 AS sane, plan_cost >= 0 AS has_plan_cost, rows, queryid,
       application_name, client_addr, query
  FROM poolgov.slow_queries;
SELECT slow_statements >= 1 AS counted FROM poolgov.stats;

-- The threshold is a per-session setting (superuser); -1 turns the log off.
SET poolgov.slow_query_threshold = -1;
SELECT pg_sleep(0.15);
SET poolgov.slow_query_threshold = '50ms';
SELECT pg_sleep(0.06);
RESET poolgov.slow_query_threshold;
SELECT query FROM poolgov.slow_queries ORDER BY finished_at;

-- Utility commands are logged too, without a plan cost.
SET poolgov.slow_query_threshold = 0;
CREATE TEMP TABLE slow_t (x int);
RESET poolgov.slow_query_threshold;
SELECT query, plan_cost FROM poolgov.slow_queries WHERE query LIKE 'CREATE%';

-- Query ids appear when compute_query_id is on.
SET compute_query_id = on;
SELECT pg_sleep(0.11);
SELECT queryid IS NOT NULL AS has_queryid FROM poolgov.slow_queries
 ORDER BY finished_at DESC LIMIT 1;
RESET compute_query_id;

-- Text is cut at poolgov.max_query_text bytes (1024).
SELECT pg_sleep(0.11) WHERE 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' <> '';
SELECT length(query) FROM poolgov.slow_queries ORDER BY finished_at DESC LIMIT 1;

-- Only the statement, not the whole multi-statement string.
SELECT 1 \; SELECT pg_sleep(0.11) \; SELECT 2;
SELECT query FROM poolgov.slow_queries ORDER BY finished_at DESC LIMIT 1;

SELECT poolgov.reset_slow_queries();
SELECT count(*) FROM poolgov.slow_queries;
