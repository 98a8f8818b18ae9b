-- pg_poolgov 1.0: connection governance inside the server.
\echo Use "CREATE EXTENSION pg_poolgov" to load this file. \quit

-- Fail early and clearly when the library is not preloaded.
CREATE FUNCTION poolgov._require_preload() RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'poolgov_require_preload';
SELECT poolgov._require_preload();

-- The role that may manage pg_poolgov without being superuser. Roles are
-- cluster-wide: create it once, keep it when the extension is dropped.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'poolgov_admin') THEN
        CREATE ROLE poolgov_admin NOLOGIN;
    END IF;
END
$$;

------------------------------------------------------------------------------
-- Budgets: configuration as data
------------------------------------------------------------------------------

CREATE TABLE poolgov.budgets (
    role_name        name NOT NULL,
    database_name    name,           -- NULL: every database
    max_connections  integer,        -- NULL: unlimited
    max_active       integer,        -- NULL: unlimited (stored for admission control)
    idle_timeout     interval,       -- NULL: none (stored for the governor)
    priority         text NOT NULL DEFAULT 'normal',
    CONSTRAINT budgets_max_connections_check CHECK (max_connections >= 0),
    CONSTRAINT budgets_max_active_check CHECK (max_active > 0),
    CONSTRAINT budgets_idle_timeout_check CHECK (idle_timeout > interval '0'),
    CONSTRAINT budgets_priority_check CHECK (priority IN ('high', 'normal', 'low'))
);
CREATE UNIQUE INDEX budgets_role_database
    ON poolgov.budgets (role_name, (coalesce(database_name, '')));
SELECT pg_catalog.pg_extension_config_dump('poolgov.budgets', '');

CREATE FUNCTION poolgov._budgets_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'poolgov_budgets_changed';
CREATE TRIGGER budgets_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON poolgov.budgets
    FOR EACH STATEMENT EXECUTE FUNCTION poolgov._budgets_changed();

CREATE FUNCTION poolgov._require_budget_database() RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'poolgov_require_budget_database';

CREATE FUNCTION poolgov.set_budget(
    role name,
    max_connections integer,
    database name DEFAULT NULL,
    max_active integer DEFAULT NULL,
    idle_timeout interval DEFAULT NULL,
    priority text DEFAULT 'normal')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM poolgov._require_budget_database();
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = role) THEN
        RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = 'undefined_object';
    END IF;
    IF database IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname = database) THEN
        RAISE EXCEPTION 'database "%" does not exist', database
            USING ERRCODE = 'invalid_catalog_name';
    END IF;
    IF max_connections < 0 THEN
        RAISE EXCEPTION 'max_connections must be 0 or more, or NULL for unlimited'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('max_connections = %s', max_connections);
    END IF;
    IF max_active <= 0 THEN
        RAISE EXCEPTION 'max_active must be positive, or NULL for unlimited'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('max_active = %s', max_active);
    END IF;
    IF idle_timeout <= interval '0' THEN
        RAISE EXCEPTION 'idle_timeout must be positive, or NULL for none'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('idle_timeout = %s', idle_timeout);
    END IF;
    IF priority IS NULL OR priority NOT IN ('high', 'normal', 'low') THEN
        RAISE EXCEPTION 'priority must be high, normal or low'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('priority = %L', priority);
    END IF;

    UPDATE poolgov.budgets b
       SET max_connections = set_budget.max_connections,
           max_active = set_budget.max_active,
           idle_timeout = set_budget.idle_timeout,
           priority = set_budget.priority
     WHERE b.role_name = set_budget.role
       AND b.database_name IS NOT DISTINCT FROM set_budget.database;
    IF NOT FOUND THEN
        INSERT INTO poolgov.budgets
            (role_name, database_name, max_connections, max_active, idle_timeout, priority)
        VALUES (role, database, max_connections, max_active, idle_timeout, priority);
    END IF;
END
$$;

CREATE FUNCTION poolgov.drop_budget(role name, database name DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM poolgov._require_budget_database();
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM poolgov.budgets b
     WHERE b.role_name = drop_budget.role
       AND b.database_name IS NOT DISTINCT FROM drop_budget.database;
    RETURN FOUND;
END
$$;

------------------------------------------------------------------------------
-- Views
------------------------------------------------------------------------------

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
    OUT stats_reset timestamptz)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_stats';
CREATE VIEW poolgov.stats AS SELECT * FROM poolgov._stats();

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
    OUT query text)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_connections';
CREATE VIEW poolgov.connections AS SELECT * FROM poolgov._connections();

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
    OUT slow_statements bigint)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_roles';
CREATE VIEW poolgov.roles AS SELECT * FROM poolgov._roles();

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
    OUT slow_statements bigint)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_databases';
CREATE VIEW poolgov.databases AS SELECT * FROM poolgov._databases();

CREATE FUNCTION poolgov._budget_usage(
    OUT role name,
    OUT database name,
    OUT max_connections integer,
    OUT connections integer,
    OUT headroom integer,
    OUT priority text)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_budget_usage';
CREATE VIEW poolgov.budget_usage AS SELECT * FROM poolgov._budget_usage();

CREATE FUNCTION poolgov._history(
    OUT sampled_at timestamptz,
    OUT connections integer,
    OUT active integer,
    OUT idle integer,
    OUT idle_in_transaction integer,
    OUT statements_per_s double precision,
    OUT p95_ms double precision,
    OUT rejected bigint)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_history';
CREATE VIEW poolgov.history AS SELECT * FROM poolgov._history();

CREATE FUNCTION poolgov._events(
    OUT at timestamptz,
    OUT kind text,
    OUT role name,
    OUT database name,
    OUT pid integer,
    OUT client_addr inet,
    OUT detail text)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_events';
CREATE VIEW poolgov.events AS SELECT * FROM poolgov._events();

CREATE FUNCTION poolgov._slow_queries(
    OUT finished_at timestamptz,
    OUT pid integer,
    OUT role name,
    OUT database name,
    OUT duration_ms double precision,
    OUT plan_cost double precision,
    OUT rows bigint,
    OUT queryid bigint,
    OUT application_name text,
    OUT client_addr inet,
    OUT query text)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_slow_queries';
CREATE VIEW poolgov.slow_queries AS SELECT * FROM poolgov._slow_queries();

------------------------------------------------------------------------------
-- Management
------------------------------------------------------------------------------

CREATE FUNCTION poolgov.reset() RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'poolgov_reset';
CREATE FUNCTION poolgov.reset_slow_queries() RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'poolgov_reset_slow_queries';

------------------------------------------------------------------------------
-- Privileges: views for everyone (masked per row, as pg_stat_activity);
-- management for superusers and poolgov_admin.
------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA poolgov FROM PUBLIC;
GRANT USAGE ON SCHEMA poolgov TO PUBLIC;
GRANT SELECT ON poolgov.stats, poolgov.connections, poolgov.roles, poolgov.databases,
                poolgov.budget_usage, poolgov.history, poolgov.events, poolgov.slow_queries
    TO PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov._stats(), poolgov._connections(), poolgov._roles(),
                          poolgov._databases(), poolgov._budget_usage(), poolgov._history(),
                          poolgov._events(), poolgov._slow_queries()
    TO PUBLIC;
GRANT SELECT ON poolgov.budgets TO pg_monitor;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON poolgov.budgets TO poolgov_admin;
GRANT EXECUTE ON FUNCTION poolgov.set_budget(name, integer, name, integer, interval, text),
                          poolgov.drop_budget(name, name),
                          poolgov._require_budget_database(),
                          poolgov._budgets_changed(),
                          poolgov.reset(), poolgov.reset_slow_queries()
    TO poolgov_admin;
