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

------------------------------------------------------------------------------
-- Issue 20, parts 2-4: budgets per client address, per-budget timeouts,
-- poolgov.check_login
-- (docs/budgets.md, "Budgets per client address" and "Per-budget timeouts")
------------------------------------------------------------------------------

-- A rule may name a client address range (client_addr: 'local' for unix
-- sockets, 'all' for every client, an address or a CIDR range), counted as
-- a whole or, with per_address, for each address of the range by itself.
-- Such a rule may name no role: it then counts every role's connections.
ALTER TABLE poolgov.budgets
    ALTER COLUMN role_name DROP NOT NULL,
    ADD COLUMN client_addr text,
    ADD COLUMN per_address boolean NOT NULL DEFAULT false,
    ADD COLUMN admission_timeout interval,
    ADD COLUMN idle_in_transaction_timeout interval,
    ADD CONSTRAINT budgets_role_or_address_check
        CHECK (role_name IS NOT NULL OR client_addr IS NOT NULL),
    ADD CONSTRAINT budgets_per_address_check
        CHECK (client_addr IS NOT NULL OR NOT per_address),
    ADD CONSTRAINT budgets_admission_timeout_check
        CHECK (admission_timeout > interval '0'),
    ADD CONSTRAINT budgets_idle_in_transaction_timeout_check
        CHECK (idle_in_transaction_timeout > interval '0');

-- client_addr in its canonical form: 'local', 'all', a bare address for a
-- single one, else the cidr text; NULL when the text is none of these.
CREATE FUNCTION poolgov._client_addr_form(client_addr text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c cidr;
    host_bits integer;
BEGIN
    IF client_addr IS NULL OR client_addr IN ('local', 'all') THEN
        RETURN client_addr;
    END IF;
    BEGIN
        c := client_addr::cidr;
    EXCEPTION WHEN invalid_text_representation OR invalid_binary_representation THEN
        RETURN NULL;
    END;
    host_bits := CASE pg_catalog.family(c) WHEN 4 THEN 32 ELSE 128 END;
    IF pg_catalog.masklen(c) = host_bits THEN
        RETURN pg_catalog.host(c);
    END IF;
    RETURN c::text;
END
$$;

ALTER TABLE poolgov.budgets
    ADD CONSTRAINT budgets_client_addr_check
        CHECK (client_addr IS NULL
               OR coalesce(client_addr = poolgov._client_addr_form(client_addr), false));

DROP INDEX poolgov.budgets_role_database;
CREATE UNIQUE INDEX budgets_rule_key ON poolgov.budgets
    ((coalesce(role_name, '')), (coalesce(database_name, '')), (coalesce(client_addr, '')),
     per_address);

-- The 1.0 functions keep their signatures and calls; they manage the rules
-- without an address, and leave the timeouts (which they cannot name) as
-- they are. set_budget and drop_budget go through set_budget_rule and
-- drop_budget_rule (defined below: plpgsql resolves the call when it runs),
-- so both kinds check and match alike.
CREATE OR REPLACE FUNCTION poolgov.set_budget(
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
DECLARE
    kept poolgov.budgets;
BEGIN
    IF role IS NULL THEN
        PERFORM poolgov._require_budget_database();
        RAISE EXCEPTION 'role must not be NULL' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A budget on a client address alone is set with poolgov.set_budget_rule().';
    END IF;
    SELECT * INTO kept FROM poolgov.budgets b
     WHERE b.role_name = set_budget.role
       AND b.database_name IS NOT DISTINCT FROM set_budget.database
       AND b.client_addr IS NULL AND NOT b.per_address;
    PERFORM poolgov.set_budget_rule(
        role => role, max_connections => max_connections, database => database,
        max_active => max_active, idle_timeout => idle_timeout, priority => priority,
        admission_timeout => kept.admission_timeout,
        idle_in_transaction_timeout => kept.idle_in_transaction_timeout);
END
$$;

CREATE OR REPLACE FUNCTION poolgov.drop_budget(role name, database name DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role IS NULL THEN
        PERFORM poolgov._require_budget_database();
        RAISE EXCEPTION 'role must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN poolgov.drop_budget_rule(role => role, database => database);
END
$$;

-- Every kind of rule: role and/or database and/or client address, with the
-- per-budget timeouts. A rule is named by (role, database, client_addr,
-- per_address); setting it again replaces all its fields.
CREATE FUNCTION poolgov.set_budget_rule(
    role name DEFAULT NULL,
    max_connections integer DEFAULT NULL,
    database name DEFAULT NULL,
    client_addr text DEFAULT NULL,
    per_address boolean DEFAULT false,
    max_active integer DEFAULT NULL,
    idle_timeout interval DEFAULT NULL,
    priority text DEFAULT 'normal',
    admission_timeout interval DEFAULT NULL,
    idle_in_transaction_timeout interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    addr text := poolgov._client_addr_form(client_addr);
BEGIN
    PERFORM poolgov._require_budget_database();
    IF role IS NULL AND client_addr IS NULL THEN
        RAISE EXCEPTION 'a budget names a role, a client address, or both'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF role IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = role) THEN
        RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = 'undefined_object';
    END IF;
    IF database IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname = database) THEN
        RAISE EXCEPTION 'database "%" does not exist', database
            USING ERRCODE = 'invalid_catalog_name';
    END IF;
    IF client_addr IS NOT NULL AND addr IS NULL THEN
        RAISE EXCEPTION 'invalid client address: "%"', client_addr
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''local'' (unix sockets), ''all'', an address, or a CIDR range '
                         'such as ''10.1.2.0/24''.';
    END IF;
    IF per_address IS NULL OR (per_address AND client_addr IS NULL) THEN
        RAISE EXCEPTION 'per_address needs a client_addr range'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For "at most N from any one address" use client_addr => ''all''.';
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
    IF admission_timeout <= interval '0' THEN
        RAISE EXCEPTION 'admission_timeout must be positive, or NULL for the global setting'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('admission_timeout = %s', admission_timeout);
    END IF;
    IF idle_in_transaction_timeout <= interval '0' THEN
        RAISE EXCEPTION 'idle_in_transaction_timeout must be positive, or NULL for the global '
                        'setting'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('idle_in_transaction_timeout = %s', idle_in_transaction_timeout);
    END IF;
    IF priority IS NULL OR priority NOT IN ('high', 'normal', 'low') THEN
        RAISE EXCEPTION 'priority must be high, normal or low'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('priority = %L', priority);
    END IF;

    UPDATE poolgov.budgets b
       SET max_connections = set_budget_rule.max_connections,
           max_active = set_budget_rule.max_active,
           idle_timeout = set_budget_rule.idle_timeout,
           priority = set_budget_rule.priority,
           admission_timeout = set_budget_rule.admission_timeout,
           idle_in_transaction_timeout = set_budget_rule.idle_in_transaction_timeout
     WHERE b.role_name IS NOT DISTINCT FROM set_budget_rule.role
       AND b.database_name IS NOT DISTINCT FROM set_budget_rule.database
       AND b.client_addr IS NOT DISTINCT FROM addr
       AND b.per_address = set_budget_rule.per_address;
    IF NOT FOUND THEN
        INSERT INTO poolgov.budgets
            (role_name, database_name, client_addr, per_address, max_connections, max_active,
             idle_timeout, priority, admission_timeout, idle_in_transaction_timeout)
        VALUES (role, database, addr, per_address, max_connections, max_active, idle_timeout,
                priority, admission_timeout, idle_in_transaction_timeout);
    END IF;
END
$$;

CREATE FUNCTION poolgov.drop_budget_rule(
    role name DEFAULT NULL,
    database name DEFAULT NULL,
    client_addr text DEFAULT NULL,
    per_address boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM poolgov._require_budget_database();
    DELETE FROM poolgov.budgets b
     WHERE b.role_name IS NOT DISTINCT FROM drop_budget_rule.role
       AND b.database_name IS NOT DISTINCT FROM drop_budget_rule.database
       AND b.client_addr IS NOT DISTINCT FROM
           coalesce(poolgov._client_addr_form(drop_budget_rule.client_addr),
                    drop_budget_rule.client_addr)
       AND b.per_address = drop_budget_rule.per_address;
    RETURN FOUND;
END
$$;

-- budget_usage gains the address, the scope and the timeouts (appended).
DROP VIEW poolgov.budget_usage;
DROP FUNCTION poolgov._budget_usage();
CREATE FUNCTION poolgov._budget_usage(
    OUT role name,
    OUT database name,
    OUT max_connections integer,
    OUT connections integer,
    OUT headroom integer,
    OUT priority text,
    OUT client_addr text,
    OUT per_address boolean,
    OUT busiest_address text,
    OUT admission_timeout interval,
    OUT idle_in_transaction_timeout interval)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_budget_usage';
CREATE VIEW poolgov.budget_usage AS SELECT * FROM poolgov._budget_usage();

-- What a login would get right now, with no side effect: the same decision
-- as the login itself (the core's decide_login over the same live counts).
CREATE FUNCTION poolgov.check_login(
    role name,
    database name DEFAULT pg_catalog.current_database(),
    client_addr inet DEFAULT NULL,
    OUT allowed boolean,
    OUT verdict text,
    OUT kind text,
    OUT rule_role name,
    OUT rule_database name,
    OUT rule_client_addr text,
    OUT per_address boolean,
    OUT max_connections integer,
    OUT connections integer,
    OUT priority text,
    OUT reserve_applies boolean,
    OUT breaker_open boolean,
    OUT sqlstate text,
    OUT message text,
    OUT detail text,
    OUT hint text)
RETURNS record
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'poolgov_check_login';

REVOKE ALL ON FUNCTION poolgov._client_addr_form(text),
                       poolgov.set_budget_rule(name, integer, name, text, boolean, integer,
                                               interval, text, interval, interval),
                       poolgov.drop_budget_rule(name, name, text, boolean),
                       poolgov._budget_usage(),
                       poolgov.check_login(name, name, inet) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov._client_addr_form(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov.set_budget_rule(name, integer, name, text, boolean, integer,
                                                  interval, text, interval, interval),
                          poolgov.drop_budget_rule(name, name, text, boolean)
    TO poolgov_admin;
GRANT EXECUTE ON FUNCTION poolgov._budget_usage(), poolgov.check_login(name, name, inet)
    TO PUBLIC;
GRANT SELECT ON poolgov.budget_usage TO PUBLIC;

------------------------------------------------------------------------------
-- Issue 19: the grant order's bound in force, and the recent mean wait it
-- follows (admission.md, "Order within a class")
------------------------------------------------------------------------------

CREATE FUNCTION poolgov._admission_order(
    OUT mean_wait_ms double precision,
    OUT fairness_bound_ms double precision,
    OUT fairness_factor double precision,
    OUT fairness_ceiling_ms integer)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_admission_order';
CREATE VIEW poolgov.admission_order AS SELECT * FROM poolgov._admission_order();

-- Server-wide figures, like poolgov.stats: anyone may read them.
REVOKE ALL ON FUNCTION poolgov._admission_order() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov._admission_order() TO PUBLIC;
GRANT SELECT ON poolgov.admission_order TO PUBLIC;
