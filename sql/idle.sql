-- Idle reclamation: settings, poolgov.terminate_idle() arguments and
-- privileges, the idle_terminated columns. (Sessions actually ended are
-- tested in test/t/013_idle.pl.)
SHOW poolgov.idle_timeout;
SHOW poolgov.pressure_threshold;
SHOW poolgov.pressure_idle_timeout;
-- Reload settings: not for a session to change.
SELECT sqlstate_of('SET poolgov.idle_timeout = 1000');
SELECT sqlstate_of('SET poolgov.pressure_threshold = 50');

-- Bad arguments: 22023; an unknown role: 42704.
SELECT sqlstate_of($$SELECT poolgov.terminate_idle('postgres', '0')$$);
SELECT sqlstate_of($$SELECT poolgov.terminate_idle(NULL, '-5 min')$$);
SELECT sqlstate_of($$SELECT poolgov.terminate_idle(NULL, NULL)$$);
SELECT sqlstate_of($$SELECT poolgov.terminate_idle('no_such_role_r')$$);
-- Nothing is idle that long: 0. The caller's own session is never ended.
SELECT poolgov.terminate_idle(older_than => '1 day');
SELECT poolgov.terminate_idle(current_user, '1 ms');

-- Management only: PUBLIC may not call it, poolgov_admin may.
CREATE ROLE idle_plain;
CREATE ROLE idle_admin IN ROLE poolgov_admin;
SET ROLE idle_plain;
SELECT sqlstate_of($$SELECT poolgov.terminate_idle()$$);
RESET ROLE;
-- A grant by mistake does not open it: the function checks for itself.
GRANT EXECUTE ON FUNCTION poolgov.terminate_idle(name, interval) TO idle_plain;
SET ROLE idle_plain;
SELECT sqlstate_of($$SELECT poolgov.terminate_idle()$$);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION poolgov.terminate_idle(name, interval) FROM idle_plain;
SET ROLE idle_admin;
SELECT poolgov.terminate_idle(older_than => '1 day');
RESET ROLE;
SELECT has_function_privilege('public', 'poolgov.terminate_idle(name, interval)', 'EXECUTE') AS public_may,
       has_function_privilege('poolgov_admin', 'poolgov.terminate_idle(name, interval)', 'EXECUTE') AS admin_may;
DROP ROLE idle_plain, idle_admin;

-- The counters exist, appended to the 1.0 columns. No session was ended in
-- this suite (terminate_idle found none, and never ends its caller), and
-- the sessions that did exit since poolgov.reset() (breakers.sql) were not
-- ended for idling: zero, overall and for every role.
SELECT idle_terminated AS stats_idle_terminated,
       (SELECT sum(idle_terminated) FROM poolgov.roles) AS roles_idle_terminated
  FROM poolgov.stats;
SELECT attname FROM pg_attribute
 WHERE attrelid = 'poolgov.stats'::regclass AND attnum = (SELECT max(attnum) - 1 FROM pg_attribute
                                                          WHERE attrelid = 'poolgov.stats'::regclass);
SELECT attname FROM pg_attribute
 WHERE attrelid = 'poolgov.roles'::regclass AND attnum = (SELECT max(attnum) FROM pg_attribute
                                                          WHERE attrelid = 'poolgov.roles'::regclass);
