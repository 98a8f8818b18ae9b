-- pg_poolgov 1.0 -> 1.1. A fresh CREATE EXTENSION runs the 1.0 script and
-- then this one, so this file is also the only definition of what 1.1 adds.
-- Rules: new objects go here, never into the 1.0 script; OUT columns of the
-- view functions are only ever appended (the library fills the columns an
-- older script declares, see src/pg/row_builder.hpp); every function pins
-- search_path or is written in C; every new object gets its privileges here.
\echo Use "ALTER EXTENSION pg_poolgov UPDATE TO '1.1'" to load this file. \quit

------------------------------------------------------------------------------
-- Track M: budgets on superusers are for superusers to set
------------------------------------------------------------------------------

-- A budget on a superuser, or on a group with a superuser among its
-- (transitive) members, can lock superusers out when
-- poolgov.exempt_superusers is off; only a superuser may add, change or
-- remove one. Runs as the role changing the table.
CREATE FUNCTION poolgov._superuser_in(role_name name) RETURNS name
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE members(oid) AS (
        SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = role_name
        UNION
        SELECT m.member FROM pg_catalog.pg_auth_members m JOIN members ON m.roleid = members.oid
    )
    SELECT r.rolname FROM members JOIN pg_catalog.pg_roles r ON r.oid = members.oid
     WHERE r.rolsuper ORDER BY r.rolname LIMIT 1
$$;

CREATE FUNCTION poolgov._budgets_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target name;
    su name;
BEGIN
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        NULL;
    ELSIF TG_OP = 'TRUNCATE' THEN
        SELECT b.role_name, poolgov._superuser_in(b.role_name) INTO target, su
          FROM poolgov.budgets b WHERE poolgov._superuser_in(b.role_name) IS NOT NULL LIMIT 1;
    ELSE
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            target := OLD.role_name;
            su := poolgov._superuser_in(target);
        END IF;
        IF su IS NULL AND TG_OP IN ('INSERT', 'UPDATE') THEN
            target := NEW.role_name;
            su := poolgov._superuser_in(target);
        END IF;
    END IF;
    IF su IS NOT NULL THEN
        RAISE EXCEPTION 'only superusers may change budgets of superusers'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = CASE WHEN su = target
                                THEN format('Role %I is a superuser.', target)
                                ELSE format('Superuser %I is a member of role %I.', su, target)
                           END,
                  HINT = 'Ask a superuser to change this budget.';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TRIGGER budgets_guard
    BEFORE INSERT OR UPDATE OR DELETE ON poolgov.budgets
    FOR EACH ROW EXECUTE FUNCTION poolgov._budgets_guard();
CREATE TRIGGER budgets_guard_truncate
    BEFORE TRUNCATE ON poolgov.budgets
    FOR EACH STATEMENT EXECUTE FUNCTION poolgov._budgets_guard();
REVOKE ALL ON FUNCTION poolgov._superuser_in(name), poolgov._budgets_guard() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov._superuser_in(name), poolgov._budgets_guard()
    TO poolgov_admin;

------------------------------------------------------------------------------
-- Track M: admission control columns of poolgov.connections
------------------------------------------------------------------------------

DROP VIEW poolgov.connections;
DROP FUNCTION poolgov._connections();
CREATE FUNCTION poolgov._connections(
    OUT pid integer,
    OUT role name,
    OUT database name,
    OUT client_addr inet,
    OUT application_name text,
    OUT backend_start timestamptz,
    OUT state text,
    OUT state_since timestamptz,
    OUT statements bigint,
    OUT total_ms double precision,
    OUT query_start timestamptz,
    OUT query text,
    OUT admission text,
    OUT queued_since timestamptz)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_connections';
CREATE VIEW poolgov.connections AS SELECT * FROM poolgov._connections();
REVOKE ALL ON FUNCTION poolgov._connections() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov._connections() TO PUBLIC;
GRANT SELECT ON poolgov.connections TO PUBLIC;

------------------------------------------------------------------------------
-- Track B: login breaker (poolgov.breakers, poolgov.breaker_reset) and the
-- eviction counters of poolgov.stats
------------------------------------------------------------------------------

-- poolgov.stats gains breaker_untracked, breaker_evictions, role_evictions,
-- database_evictions (appended; the first 24 columns are as in 1.0).
DROP VIEW poolgov.stats;
DROP FUNCTION poolgov._stats();
CREATE FUNCTION poolgov._stats(
    OUT connections integer,
    OUT active integer,
    OUT idle integer,
    OUT idle_in_transaction integer,
    OUT max_connections integer,
    OUT utilization double precision,
    OUT peak_connections bigint,
    OUT accepted bigint,
    OUT rejected_budget bigint,
    OUT rejected_reserve bigint,
    OUT rejected_breaker bigint,
    OUT warned bigint,
    OUT auth_failures bigint,
    OUT statements bigint,
    OUT errors bigint,
    OUT rows bigint,
    OUT total_ms double precision,
    OUT mean_ms double precision,
    OUT p50_ms double precision,
    OUT p95_ms double precision,
    OUT p99_ms double precision,
    OUT max_ms double precision,
    OUT slow_statements bigint,
    OUT stats_reset timestamptz,
    OUT breaker_untracked bigint,
    OUT breaker_evictions bigint,
    OUT role_evictions bigint,
    OUT database_evictions bigint,
    OUT admission_running integer,
    OUT admission_queued integer,
    OUT admission_timeouts bigint,
    OUT admission_admitted bigint,
    OUT admission_waited bigint,
    OUT admission_wait_total_ms double precision,
    OUT admission_wait_max_ms double precision,
    OUT admission_overdrafts bigint,
    OUT admission_idle_ended bigint,
    OUT idle_terminated bigint,
    OUT health text)  -- Track H: worst status of poolgov.health(); keep last
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_stats';
CREATE VIEW poolgov.stats AS SELECT * FROM poolgov._stats();

CREATE FUNCTION poolgov._breakers(
    OUT role name,
    OUT client_addr inet,
    OUT failures integer,
    OUT first_failure timestamptz,
    OUT opened_at timestamptz,
    OUT open_until timestamptz)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_breakers';
CREATE VIEW poolgov.breakers AS SELECT * FROM poolgov._breakers();

-- Not STRICT: NULL means "every role" / "every address".
CREATE FUNCTION poolgov.breaker_reset(role name DEFAULT NULL, client_addr text DEFAULT NULL)
RETURNS integer
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'poolgov_breaker_reset';

REVOKE ALL ON FUNCTION poolgov._stats(), poolgov._breakers(),
                       poolgov.breaker_reset(name, text) FROM PUBLIC;
GRANT SELECT ON poolgov.stats, poolgov.breakers TO PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov._stats(), poolgov._breakers() TO PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov.breaker_reset(name, text) TO poolgov_admin;

------------------------------------------------------------------------------
-- Track M: admission control columns of poolgov.roles, poolgov.databases
-- and poolgov.history (appended)
------------------------------------------------------------------------------

DROP VIEW poolgov.roles;
DROP FUNCTION poolgov._roles();
CREATE FUNCTION poolgov._roles(
    OUT role name,
    OUT connections integer,
    OUT peak_connections bigint,
    OUT budget integer,
    OUT budget_source text,
    OUT budget_role name,
    OUT accepted bigint,
    OUT rejected bigint,
    OUT warned bigint,
    OUT auth_failures bigint,
    OUT statements bigint,
    OUT errors bigint,
    OUT rows bigint,
    OUT total_ms double precision,
    OUT mean_ms double precision,
    OUT p50_ms double precision,
    OUT p95_ms double precision,
    OUT p99_ms double precision,
    OUT max_ms double precision,
    OUT slow_statements bigint,
    OUT admitted bigint,
    OUT queued integer,
    OUT admission_timeouts bigint,
    OUT idle_terminated bigint)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_roles';
CREATE VIEW poolgov.roles AS SELECT * FROM poolgov._roles();

DROP VIEW poolgov.databases;
DROP FUNCTION poolgov._databases();
CREATE FUNCTION poolgov._databases(
    OUT database name,
    OUT connections integer,
    OUT peak_connections bigint,
    OUT accepted bigint,
    OUT rejected bigint,
    OUT statements bigint,
    OUT errors bigint,
    OUT rows bigint,
    OUT total_ms double precision,
    OUT mean_ms double precision,
    OUT p50_ms double precision,
    OUT p95_ms double precision,
    OUT p99_ms double precision,
    OUT max_ms double precision,
    OUT slow_statements bigint,
    OUT admitted bigint,
    OUT queued integer,
    OUT admission_timeouts bigint)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_databases';
CREATE VIEW poolgov.databases AS SELECT * FROM poolgov._databases();

DROP VIEW poolgov.history;
DROP FUNCTION poolgov._history();
CREATE FUNCTION poolgov._history(
    OUT sampled_at timestamptz,
    OUT connections integer,
    OUT active integer,
    OUT idle integer,
    OUT idle_in_transaction integer,
    OUT statements_per_s double precision,
    OUT p95_ms double precision,
    OUT rejected bigint,
    OUT queued integer)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_history';
CREATE VIEW poolgov.history AS SELECT * FROM poolgov._history();

REVOKE ALL ON FUNCTION poolgov._roles(), poolgov._databases(), poolgov._history() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov._roles(), poolgov._databases(), poolgov._history() TO PUBLIC;
GRANT SELECT ON poolgov.roles, poolgov.databases, poolgov.history TO PUBLIC;

------------------------------------------------------------------------------
-- Track H: poolgov.health() and poolgov.recommendations (poolgov.stats.health
-- is the last column of poolgov._stats above)
------------------------------------------------------------------------------

-- Aggregates only (no role's query text or address): readable by everyone,
-- like poolgov.stats. "check" is a reserved word: quote it in queries.
CREATE FUNCTION poolgov.health(
    OUT "check" text,
    OUT status text,
    OUT value double precision,
    OUT warning_at double precision,
    OUT critical_at double precision,
    OUT detail text)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_health';

CREATE FUNCTION poolgov._recommendations(
    OUT setting text,
    OUT current text,
    OUT recommended text,
    OUT reason text)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_recommendations';
CREATE VIEW poolgov.recommendations AS SELECT * FROM poolgov._recommendations();

REVOKE ALL ON FUNCTION poolgov.health(), poolgov._recommendations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov.health(), poolgov._recommendations() TO PUBLIC;
GRANT SELECT ON poolgov.recommendations TO PUBLIC;

------------------------------------------------------------------------------
-- Track R: idle reclamation (poolgov.terminate_idle; the idle_terminated
-- columns of poolgov.stats and poolgov.roles are appended above)
------------------------------------------------------------------------------

-- Not STRICT: a NULL role means every role; a NULL older_than is 22023.
CREATE FUNCTION poolgov.terminate_idle(role name DEFAULT NULL,
                                       older_than interval DEFAULT '10 min')
RETURNS integer
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'poolgov_terminate_idle';
REVOKE ALL ON FUNCTION poolgov.terminate_idle(name, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov.terminate_idle(name, interval) TO poolgov_admin;

------------------------------------------------------------------------------
-- Track P: poolgov.metrics(), the Prometheus text exposition (format 0.0.4)
-- of poolgov.stats, .roles, .databases and .health() (docs/monitoring.md)
------------------------------------------------------------------------------

-- Role and database names with their counters, for monitoring: pg_monitor
-- (what a postgres_exporter / sql_exporter user is given) and poolgov_admin,
-- not PUBLIC. Written in C: no query, so no search_path to pin.
CREATE FUNCTION poolgov.metrics()
RETURNS text
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'poolgov_metrics';
REVOKE ALL ON FUNCTION poolgov.metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov.metrics() TO pg_monitor, poolgov_admin;

------------------------------------------------------------------------------
-- Track T: poolgov.capacity, how full each fixed-size table is
-- (poolgov.max_roles and poolgov.max_databases size the per-role and
-- per-database tables; docs/operations.md "Capacity")
------------------------------------------------------------------------------

-- Numbers only (no role, database, address or query): readable by every
-- role, like poolgov.stats. Written in C: no query, so no search_path to pin.
CREATE FUNCTION poolgov._capacity(
    OUT name text,
    OUT used bigint,
    OUT capacity bigint,
    OUT evictions bigint,
    OUT untracked bigint,
    OUT bytes_per_entry bigint,
    OUT bytes bigint,
    OUT setting text)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_capacity';
CREATE VIEW poolgov.capacity AS SELECT * FROM poolgov._capacity();
REVOKE ALL ON FUNCTION poolgov._capacity() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov._capacity() TO PUBLIC;
GRANT SELECT ON poolgov.capacity TO PUBLIC;
