-- pg_poolgov 1.1 -> 1.2. A fresh CREATE EXTENSION runs the 1.0 script, the
-- 1.0 -> 1.1 script and then this one, so this file is also the only
-- definition of what 1.2 adds. The rules of the 1.0 -> 1.1 script hold:
-- new objects go here; OUT columns of the view functions are only ever
-- appended; every function pins search_path or is written in C; every new
-- object gets its privileges here.
\echo Use "ALTER EXTENSION pg_poolgov UPDATE TO '1.2'" to load this file. \quit

------------------------------------------------------------------------------
-- Issue 20, part 1: pause, drain, resume (docs/operations.md, "Pausing a
-- role or a database"). Written in C: no query, so no search_path to pin.
-- Management for superusers and poolgov_admin (the functions check too).
------------------------------------------------------------------------------

-- Not STRICT: a NULL database or role widens the scope (both NULL: every
-- session but superusers' and the caller's); a NULL wait is 22023. The
-- OUT columns are named like pg_stat_activity's (an OUT column may not
-- share an argument's name).
CREATE FUNCTION poolgov.pause(database name DEFAULT NULL,
                              role name DEFAULT NULL,
                              wait interval DEFAULT '30 s',
                              OUT pid integer,
                              OUT usename name,
                              OUT datname name,
                              OUT state text,
                              OUT xact_start timestamptz,
                              OUT state_change timestamptz,
                              OUT query text)
RETURNS SETOF record
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'poolgov_pause';

CREATE FUNCTION poolgov.resume(database name DEFAULT NULL, role name DEFAULT NULL)
RETURNS boolean
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'poolgov_resume';

CREATE FUNCTION poolgov._pauses(
    OUT database name,
    OUT role name,
    OUT scope text,
    OUT since timestamptz,
    OUT paused_by name,
    OUT paused_by_pid integer,
    OUT renewed timestamptz,
    OUT expires timestamptz,
    OUT waiting integer)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_pauses';
CREATE VIEW poolgov.pauses AS SELECT * FROM poolgov._pauses();

REVOKE ALL ON FUNCTION poolgov.pause(name, name, interval), poolgov.resume(name, name),
    poolgov._pauses() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov.pause(name, name, interval), poolgov.resume(name, name)
    TO poolgov_admin;
GRANT EXECUTE ON FUNCTION poolgov._pauses() TO pg_monitor, poolgov_admin;
GRANT SELECT ON poolgov.pauses TO pg_monitor, poolgov_admin;

------------------------------------------------------------------------------
-- Issue 20, part 4: bring a role back under a lowered max_connections now
-- (its idle sessions, longest idle first, never active ones)
------------------------------------------------------------------------------

-- Not STRICT: a NULL database means the role's budget for every database;
-- a NULL role is 22023.
CREATE FUNCTION poolgov.enforce_budget(role name, database name DEFAULT NULL)
RETURNS integer
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'poolgov_enforce_budget';
REVOKE ALL ON FUNCTION poolgov.enforce_budget(name, name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov.enforce_budget(name, name) TO poolgov_admin;
