-- Installing, updating and re-creating the extension. Runs last: it drops
-- and re-creates pg_poolgov.

-- Budgets on superusers, or on groups that contain one, are for superusers.
CREATE ROLE regress_inst_admin LOGIN;
GRANT poolgov_admin TO regress_inst_admin;
CREATE ROLE regress_inst_su SUPERUSER NOLOGIN;
CREATE ROLE regress_inst_group NOLOGIN;
CREATE ROLE regress_inst_mid NOLOGIN;
GRANT regress_inst_group TO regress_inst_mid;   -- mid is a member of group
GRANT regress_inst_mid TO regress_inst_su;      -- su is a member of mid
CREATE ROLE regress_inst_app NOLOGIN;
SET ROLE regress_inst_admin;
SELECT sqlstate_of($$SELECT poolgov.set_budget('regress_inst_su', 0)$$);
SELECT poolgov.set_budget('regress_inst_su', 0);
SELECT sqlstate_of($$SELECT poolgov.set_budget('regress_inst_group', 0)$$);
SELECT sqlstate_of($$INSERT INTO poolgov.budgets (role_name, max_connections)
                     VALUES ('regress_inst_mid', 1)$$);
SELECT poolgov.set_budget('regress_inst_app', 2);      -- an ordinary role: fine
SELECT poolgov.set_budget('regress_inst_app', 3);
SELECT sqlstate_of($$UPDATE poolgov.budgets SET role_name = 'regress_inst_su'
                     WHERE role_name = 'regress_inst_app'$$);
RESET ROLE;
SELECT poolgov.set_budget('regress_inst_su', 5);       -- a superuser may
SET ROLE regress_inst_admin;
SELECT sqlstate_of($$SELECT poolgov.set_budget('regress_inst_su', 6)$$);
SELECT sqlstate_of($$SELECT poolgov.drop_budget('regress_inst_su')$$);
SELECT sqlstate_of('TRUNCATE poolgov.budgets');
SELECT poolgov.drop_budget('regress_inst_app');
RESET ROLE;
SELECT role_name, max_connections FROM poolgov.budgets ORDER BY 1;
SELECT poolgov.drop_budget('regress_inst_su');

-- The whole definition of the installed extension, as text (no OIDs).
CREATE FUNCTION pg_temp.poolgov_definition() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
      FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
     WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
       AND e.extname = 'pg_poolgov'
    UNION ALL
    SELECT 'function ' || pg_get_functiondef(p.oid) || ' acl ' || coalesce(p.proacl::text, '')
      FROM pg_proc p WHERE p.pronamespace = 'poolgov'::regnamespace
    UNION ALL
    SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' acl ' || coalesce(c.relacl::text, '')
           || ' ' || coalesce(pg_get_viewdef(c.oid), '')
      FROM pg_class c WHERE c.relnamespace = 'poolgov'::regnamespace
    UNION ALL
    SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' '
           || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnum
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     WHERE c.relnamespace = 'poolgov'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid)
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'poolgov'::regnamespace
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
     WHERE c.relnamespace = 'poolgov'::regnamespace
    UNION ALL
    SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = 'poolgov'::regnamespace
    UNION ALL
    SELECT 'config ' || array_to_string(ARRAY(SELECT x::regclass::text FROM unnest(extconfig) x), ',')
      FROM pg_extension WHERE extname = 'pg_poolgov'
    UNION ALL
    SELECT 'schema acl ' || coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'poolgov'
$$;

-- 1.0 with today's library: the views and functions of 1.0 work before
-- ALTER EXTENSION UPDATE runs (rows carry the columns 1.0 declares).
DROP EXTENSION pg_poolgov;
CREATE EXTENSION pg_poolgov VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'pg_poolgov';
SELECT count(*) = 24 AS stats_columns_of_1_0 FROM pg_attribute
 WHERE attrelid = 'poolgov.stats'::regclass AND attnum > 0;
SELECT connections >= 1 AS stats, stats_reset IS NOT NULL AS reset_known FROM poolgov.stats;
SELECT count(*) >= 1 AS connections FROM poolgov.connections;
-- Each view of 1.0 fills its own columns, first to last, with the values
-- they name: a slow statement of this session, this session's role and
-- database, the governor's latest sample, and a budget (the table went
-- with DROP EXTENSION: none before it) with its event and its role's row.
SELECT pg_sleep(0.15) AS slow_statement;
SELECT role = current_user AS own, database = current_database() AS here,
       pid = pg_backend_pid() AS this_session, duration_ms >= 150 AS duration,
       plan_cost > 0 AS plan_cost, rows, application_name, client_addr, query
  FROM poolgov.slow_queries ORDER BY finished_at DESC LIMIT 1;
SELECT connections >= 1 AS connected, peak_connections >= 1 AS peak, budget, budget_source,
       accepted >= 1 AS accepted, statements >= 2 AS statements, total_ms >= 150 AS total,
       max_ms >= 150 AS max, slow_statements >= 1 AS slow
  FROM poolgov.roles WHERE role = current_user;
SELECT connections >= 1 AS connected, accepted >= 1 AS accepted, statements >= 2 AS statements,
       total_ms >= 150 AS total, max_ms >= 150 AS max, slow_statements >= 1 AS slow
  FROM poolgov.databases WHERE database = current_database();
SELECT sampled_at > now() - interval '1 min' AS recent, connections >= 1 AS connected,
       connections >= active + idle + idle_in_transaction AS states, statements_per_s >= 0 AS rate
  FROM poolgov.history ORDER BY sampled_at DESC LIMIT 1;
SELECT count(*) AS budgets FROM poolgov.budget_usage;
SELECT poolgov.set_budget('regress_inst_app', 4);
SELECT * FROM poolgov.budget_usage;
SELECT kind, role, database, pid = pg_backend_pid() AS this_session, client_addr, detail
  FROM poolgov.events ORDER BY at DESC LIMIT 1;
SELECT * FROM poolgov.roles WHERE role = 'regress_inst_app';
SELECT poolgov.drop_budget('regress_inst_app');
ALTER EXTENSION pg_poolgov UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_poolgov';
CREATE TEMP TABLE updated AS SELECT * FROM pg_temp.poolgov_definition() d;

-- 1.1 with today's library, then updated: the views of 1.1 work before
-- the update, and the update reaches the same extension.
DROP EXTENSION pg_poolgov;
CREATE EXTENSION pg_poolgov VERSION '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'pg_poolgov';
SELECT connections >= 1 AS stats FROM poolgov.stats;
SELECT count(*) >= 1 AS connections FROM poolgov.connections;
SELECT count(*) >= 10 AS capacity_rows FROM poolgov.capacity;
SELECT poolgov.set_budget('regress_inst_app', 4);
SELECT role, max_connections FROM poolgov.budget_usage;
SELECT poolgov.drop_budget('regress_inst_app');
ALTER EXTENSION pg_poolgov UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_poolgov';
CREATE TEMP TABLE updated_from_1_1 AS SELECT * FROM pg_temp.poolgov_definition() d;

-- A fresh install of the default version is the same extension as either
-- update.
DROP EXTENSION pg_poolgov;
CREATE EXTENSION pg_poolgov;
SELECT extversion FROM pg_extension WHERE extname = 'pg_poolgov';
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.poolgov_definition() d;
SELECT count(*) > 100 AS described FROM fresh;
SELECT 'only updated' AS side, d FROM (TABLE updated EXCEPT ALL TABLE fresh) x
UNION ALL
SELECT 'only fresh', d FROM (TABLE fresh EXCEPT ALL TABLE updated) y;
SELECT 'only updated from 1.1' AS side, d FROM (TABLE updated_from_1_1 EXCEPT ALL TABLE fresh) x
UNION ALL
SELECT 'only fresh', d FROM (TABLE fresh EXCEPT ALL TABLE updated_from_1_1) y;

-- A poolgov_admin made by someone else is not adopted.
DROP EXTENSION pg_poolgov;
ALTER ROLE poolgov_admin LOGIN;
SELECT sqlstate_of('CREATE EXTENSION pg_poolgov');
-- (PostgreSQL 18 adds a CONTEXT naming the script's line; not shown, so
-- the output is the same on every major.)
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE EXTENSION pg_poolgov;
\set SHOW_CONTEXT errors
\set VERBOSITY terse
ALTER ROLE poolgov_admin NOLOGIN PASSWORD 'x';
SELECT sqlstate_of('CREATE EXTENSION pg_poolgov');
ALTER ROLE poolgov_admin PASSWORD NULL;
-- A membership granted by a role that is not a superuser (one with ADMIN
-- OPTION on it; before 16 CREATEROLE was enough). From 16 on, holding that
-- ADMIN OPTION is a reason too (test/t/022_majors.pl).
CREATE ROLE regress_inst_creator;
CREATE ROLE regress_inst_someone;
GRANT poolgov_admin TO regress_inst_creator WITH ADMIN OPTION;
SET ROLE regress_inst_creator;
GRANT poolgov_admin TO regress_inst_someone;
RESET ROLE;
SELECT sqlstate_of('CREATE EXTENSION pg_poolgov');
SET ROLE regress_inst_creator;
REVOKE poolgov_admin FROM regress_inst_someone;
RESET ROLE;
REVOKE poolgov_admin FROM regress_inst_creator;
GRANT pg_monitor TO poolgov_admin;
SELECT sqlstate_of('CREATE EXTENSION pg_poolgov');
REVOKE pg_monitor FROM poolgov_admin;
-- As the script would create it, with members a superuser granted: adopted.
CREATE EXTENSION pg_poolgov;
SELECT pg_has_role('regress_inst_admin', 'poolgov_admin', 'MEMBER') AS kept_member;

DROP ROLE regress_inst_admin, regress_inst_su, regress_inst_group, regress_inst_mid,
          regress_inst_app, regress_inst_creator, regress_inst_someone;
