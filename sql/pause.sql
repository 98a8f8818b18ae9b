-- Pause, drain, resume: settings, arguments, privileges, poolgov.pauses and
-- the events; poolgov.enforce_budget's arguments. (Sessions held, drained,
-- timed out and let in again: test/t/025_pause.pl; sessions ended over a
-- lowered budget: test/t/026_enforce_budget.pl.)
SHOW poolgov.pause_timeout;
SELECT sqlstate_of('SET poolgov.pause_timeout = 1000');

CREATE ROLE pause_batch;
CREATE ROLE pause_member IN ROLE pause_batch;

-- Bad arguments: 22023; an unknown role 42704, an unknown database 3D000.
SELECT sqlstate_of($$SELECT * FROM poolgov.pause(role => 'pause_batch', wait => NULL)$$);
SELECT sqlstate_of($$SELECT * FROM poolgov.pause(role => 'pause_batch', wait => '-1 s')$$);
SELECT sqlstate_of($$SELECT * FROM poolgov.pause(role => 'no_such_role_p')$$);
SELECT sqlstate_of($$SELECT * FROM poolgov.pause(database => 'no_such_db_p')$$);
SELECT sqlstate_of($$SELECT poolgov.resume(role => 'no_such_role_p')$$);
SELECT count(*) AS pauses_after_errors FROM poolgov.pauses;

-- A scope nobody runs a transaction in: the drain returns at once, empty.
SELECT * FROM poolgov.pause(role => 'pause_batch', wait => '0');
SELECT * FROM poolgov.pause(database => 'postgres', role => 'pause_batch', wait => '1 s');
SELECT database, role, scope, paused_by, paused_by_pid = pg_backend_pid() AS by_me,
       expires - renewed AS timeout, waiting
  FROM poolgov.pauses ORDER BY scope;
-- Pausing again renews it (the timeout counts anew), and adds no row.
SELECT pg_sleep(0.01);
SELECT count(*) FROM poolgov.pause(role => 'pause_batch', wait => '0');
SELECT count(*) AS pauses, bool_and(renewed > since) AS renewed
  FROM poolgov.pauses WHERE database IS NULL;
-- The caller's own transaction is not waited for, nor held.
SELECT count(*) FROM poolgov.pause(wait => '0');
SELECT scope FROM poolgov.pauses ORDER BY scope;
SELECT 1 AS not_held;
-- resume() lifts exactly the scope it is given.
SELECT poolgov.resume();
SELECT poolgov.resume(role => 'pause_member');
SELECT poolgov.resume(role => 'pause_batch');
SELECT poolgov.resume(role => 'pause_batch');
SELECT poolgov.resume('postgres', 'pause_batch');
SELECT count(*) AS pauses_left FROM poolgov.pauses;
SELECT kind, role, database, detail FROM poolgov.events
 WHERE kind IN ('pause', 'resume') ORDER BY at, kind;

-- Management only: PUBLIC may not call them (42501), poolgov_admin may;
-- the view is for pg_monitor and poolgov_admin.
CREATE ROLE pause_plain;
CREATE ROLE pause_admin IN ROLE poolgov_admin;
SET ROLE pause_plain;
SELECT sqlstate_of($$SELECT * FROM poolgov.pause(role => 'pause_batch', wait => '0')$$);
SELECT sqlstate_of($$SELECT poolgov.resume(role => 'pause_batch')$$);
SELECT sqlstate_of($$SELECT * FROM poolgov.pauses$$);
SELECT sqlstate_of($$SELECT poolgov.enforce_budget('pause_batch')$$);
RESET ROLE;
-- A grant by mistake does not open them: the functions check for themselves.
GRANT EXECUTE ON FUNCTION poolgov.pause(name, name, interval), poolgov.resume(name, name),
    poolgov.enforce_budget(name, name) TO pause_plain;
SET ROLE pause_plain;
SELECT sqlstate_of($$SELECT * FROM poolgov.pause(role => 'pause_batch', wait => '0')$$);
SELECT sqlstate_of($$SELECT poolgov.resume(role => 'pause_batch')$$);
SELECT sqlstate_of($$SELECT poolgov.enforce_budget('pause_batch')$$);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION poolgov.pause(name, name, interval), poolgov.resume(name, name),
    poolgov.enforce_budget(name, name) FROM pause_plain;
SET ROLE pause_admin;
SELECT count(*) FROM poolgov.pause(role => 'pause_batch', wait => '0');
SELECT scope, paused_by, waiting FROM poolgov.pauses;
SELECT poolgov.resume(role => 'pause_batch');
RESET ROLE;
SELECT p.proname,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may,
       has_function_privilege('poolgov_admin', p.oid, 'EXECUTE') AS admin_may,
       has_function_privilege('pg_monitor', p.oid, 'EXECUTE') AS monitor_may
  FROM pg_proc p
 WHERE p.pronamespace = 'poolgov'::regnamespace
   AND p.proname IN ('pause', 'resume', '_pauses', 'enforce_budget')
 ORDER BY p.proname;

-- enforce_budget: a role is needed (22023) and must exist (42704) and have
-- a budget (42704); a budget nobody is over ends nobody.
SELECT sqlstate_of($$SELECT poolgov.enforce_budget(NULL)$$);
SELECT sqlstate_of($$SELECT poolgov.enforce_budget('no_such_role_p')$$);
SELECT sqlstate_of($$SELECT poolgov.enforce_budget('pause_batch')$$);
SELECT sqlstate_of($$SELECT poolgov.enforce_budget('pause_batch', 'no_such_db_p')$$);
SELECT poolgov.set_budget('pause_batch', 5);
SELECT poolgov.enforce_budget('pause_batch');
SELECT sqlstate_of($$SELECT poolgov.enforce_budget('pause_batch', 'postgres')$$);
SELECT poolgov.drop_budget('pause_batch');

DROP ROLE pause_plain, pause_admin, pause_member, pause_batch;
