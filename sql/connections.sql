-- Connection tracking: our count equals pg_stat_activity's client backends.
SELECT s.connections = (SELECT count(*) FROM pg_stat_activity
                         WHERE backend_type = 'client backend') AS equals_pg_stat_activity,
       s.connections >= 1 AS counts_me
  FROM poolgov.stats s;

SELECT max_connections = current_setting('max_connections')::int AS max_connections_ok,
       utilization = round(100.0 * connections / max_connections, 1) AS utilization_ok,
       active >= 1 AS me_active,
       connections >= active + idle + idle_in_transaction AS states_add_up,
       peak_connections >= connections AS peak_ok,
       accepted >= 1 AS accepted_ok
  FROM poolgov.stats;

-- This session's own row.
SELECT role = current_user AS role_ok, database = current_database() AS database_ok,
       state, application_name, client_addr IS NULL AS unix_socket,
       backend_start <= now() AS started, state_since >= backend_start AS state_since_ok,
       query_start = statement_timestamp() AS query_start_ok,
       query LIKE 'SELECT role = current_user%' AS sees_own_query
  FROM poolgov.connections WHERE pid = pg_backend_pid();

-- Every row is a live client backend, and every client backend has a row.
SELECT count(*) AS rows_without_backend
  FROM poolgov.connections c
  LEFT JOIN pg_stat_activity a ON a.pid = c.pid AND a.backend_type = 'client backend'
 WHERE a.pid IS NULL;
SELECT count(*) AS backends_without_row
  FROM pg_stat_activity a
  LEFT JOIN poolgov.connections c ON a.pid = c.pid
 WHERE a.backend_type = 'client backend' AND c.pid IS NULL;

-- The governor runs, and is not a client connection.
SELECT count(*) AS governors FROM pg_stat_activity WHERE backend_type = 'pg_poolgov governor';
SELECT count(*) AS non_client_rows
  FROM poolgov.connections c JOIN pg_stat_activity a USING (pid)
 WHERE a.backend_type <> 'client backend';

-- The governor samples every poolgov.sample_interval (100 ms here).
SELECT pg_sleep(0.6);
SELECT count(*) >= 3 AS sampling,
       bool_and(active + idle + idle_in_transaction <= connections) AS states_add_up
  FROM poolgov.history;
SELECT count(*) >= 2 AS recent_samples, bool_and(connections >= 1) AS see_me
  FROM poolgov.history WHERE sampled_at > now() - interval '400 ms';
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d))
       BETWEEN 0.05 AND 0.5 AS spaced_by_interval
  FROM (SELECT sampled_at - lag(sampled_at) OVER (ORDER BY sampled_at) AS d
          FROM poolgov.history) x
 WHERE d IS NOT NULL;
