-- Privileges: anyone reads the views, other roles' details are masked;
-- management is for superusers and poolgov_admin.
CREATE ROLE regress_plain LOGIN;
CREATE ROLE regress_admin LOGIN;
GRANT poolgov_admin TO regress_admin;
SELECT poolgov.reset_slow_queries();
SELECT pg_sleep(0.11);

SET ROLE regress_plain;
SELECT connections >= 1 AS readable FROM poolgov.stats;
-- This session logged in as the superuser: to regress_plain it is another role.
SELECT role = session_user AS row_of_session_user, client_addr, backend_start, state, statements, query
  FROM poolgov.connections WHERE pid = pg_backend_pid();
SELECT role = session_user AS other_role, queryid, client_addr, query
  FROM poolgov.slow_queries;
SELECT sqlstate_of('SELECT poolgov.reset()');
SELECT sqlstate_of('SELECT poolgov.reset_slow_queries()');
SELECT sqlstate_of($$SELECT poolgov.set_budget('regress_plain', 1)$$);
SELECT sqlstate_of($$SELECT poolgov.drop_budget('regress_plain')$$);
SELECT sqlstate_of('DELETE FROM poolgov.budgets');
SELECT sqlstate_of('SELECT poolgov.breaker_reset()');
RESET ROLE;

-- poolgov.events: rows about other roles show neither the client address
-- nor the detail (which names who changed a budget, or the failures of a
-- login) to a reader without pg_read_all_stats; rows about the reader's
-- own role do. (Failed-login events are masked in test/t/005_breaker.pl.)
SELECT poolgov.set_budget('regress_admin', 7);
SELECT poolgov.set_budget('regress_plain', 8);
SELECT poolgov.drop_budget('regress_admin');
SELECT poolgov.drop_budget('regress_plain');
SELECT poolgov.breaker_reset('regress_nobody');
SET ROLE regress_plain;
SELECT kind, role, client_addr, detail FROM poolgov.events
 WHERE kind = 'budget_changed' AND role IN ('regress_admin', 'regress_plain')
    OR kind = 'breaker_reset'
 ORDER BY at;
SELECT count(*) AS breakers_visible FROM poolgov.breakers WHERE role IS NOT NULL;
RESET ROLE;
SELECT kind, role, detail FROM poolgov.events
 WHERE kind = 'breaker_reset' ORDER BY at;

-- pg_read_all_stats sees the details.
GRANT pg_read_all_stats TO regress_plain;
SET ROLE regress_plain;
SELECT query <> '<insufficient privilege>' AS sees_query FROM poolgov.slow_queries;
SELECT state IS NOT NULL AS sees_state FROM poolgov.connections WHERE pid = pg_backend_pid();
RESET ROLE;
REVOKE pg_read_all_stats FROM regress_plain;

-- Members of poolgov_admin manage pg_poolgov.
SET ROLE regress_admin;
SELECT poolgov.set_budget('regress_plain', 3);
SELECT poolgov.drop_budget('regress_plain');
SELECT poolgov.reset_slow_queries();
SELECT poolgov.reset();
-- breaker_reset: NULL = all; client_addr is "local" or one address.
SELECT poolgov.breaker_reset();
SELECT poolgov.breaker_reset('regress_plain', 'local');
SELECT poolgov.breaker_reset(client_addr => '::1');
SELECT poolgov.breaker_reset(client_addr => '10.1.2.3/32');
SELECT sqlstate_of($$SELECT poolgov.breaker_reset(client_addr => '10.0.0.0/8')$$);
SELECT sqlstate_of($$SELECT poolgov.breaker_reset(client_addr => 'db.example.com')$$);
SELECT sqlstate_of($$SELECT poolgov.breaker_reset(client_addr => '')$$);
RESET ROLE;

-- The functions check too, if EXECUTE is granted by mistake.
GRANT EXECUTE ON FUNCTION poolgov.reset() TO regress_plain;
SET ROLE regress_plain;
SELECT sqlstate_of('SELECT poolgov.reset()');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION poolgov.reset() FROM regress_plain;
GRANT EXECUTE ON FUNCTION poolgov.breaker_reset(name, text) TO regress_plain;
SET ROLE regress_plain;
SELECT sqlstate_of('SELECT poolgov.breaker_reset()');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION poolgov.breaker_reset(name, text) FROM regress_plain;

-- No SECURITY DEFINER functions; plpgsql functions pin search_path.
SELECT count(*) AS security_definer FROM pg_proc
 WHERE pronamespace = 'poolgov'::regnamespace AND prosecdef;
SELECT proname, proconfig FROM pg_proc
 WHERE pronamespace = 'poolgov'::regnamespace
   AND prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
 ORDER BY proname;
-- Management functions are not executable by PUBLIC.
SELECT p.oid::regprocedure AS function
  FROM pg_proc p
 WHERE p.pronamespace = 'poolgov'::regnamespace
   AND has_function_privilege('regress_plain', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;

DROP ROLE regress_plain;
DROP ROLE regress_admin;
