-- Budgets: set, change, drop, validation, events. Login enforcement itself
-- needs concurrent connections and lives in test/t/004_budgets.pl.
CREATE ROLE regress_app LOGIN;
CREATE ROLE regress_grp;
GRANT regress_grp TO regress_app;

SELECT poolgov.set_budget('regress_app', 5);
SELECT poolgov.set_budget('regress_grp', 10, priority => 'high');
SELECT poolgov.set_budget('regress_app', 2, database => 'postgres', max_active => 1,
                          idle_timeout => '5 min');
SELECT role_name, database_name, max_connections, max_active, idle_timeout, priority
  FROM poolgov.budgets ORDER BY role_name, database_name NULLS FIRST;
-- The next login sees them: they are in shared memory at COMMIT.
SELECT role, database, max_connections, connections, headroom, priority
  FROM poolgov.budget_usage ORDER BY role, database NULLS FIRST;

-- Changing a budget updates the row, not a second one.
SELECT poolgov.set_budget('regress_app', 7);
SELECT count(*), max(max_connections) FROM poolgov.budgets
 WHERE role_name = 'regress_app' AND database_name IS NULL;
SELECT role, budget, budget_source, budget_role FROM poolgov.roles
 WHERE role IN ('regress_app', 'regress_grp') ORDER BY role;

-- Bad arguments get clear errors with the right SQLSTATE.
SELECT sqlstate_of($$SELECT poolgov.set_budget('no_such_role', 1)$$);
SELECT sqlstate_of($$SELECT poolgov.set_budget('regress_app', -1)$$);
SELECT sqlstate_of($$SELECT poolgov.set_budget(NULL, 1)$$);
SELECT sqlstate_of($$SELECT poolgov.set_budget('regress_app', 1, max_active => 0)$$);
SELECT sqlstate_of($$SELECT poolgov.set_budget('regress_app', 1, idle_timeout => '-1 s')$$);
SELECT sqlstate_of($$SELECT poolgov.set_budget('regress_app', 1, priority => 'urgent')$$);
SELECT sqlstate_of($$SELECT poolgov.set_budget('regress_app', 1, priority => NULL)$$);
SELECT sqlstate_of($$SELECT poolgov.set_budget('regress_app', 1, database => 'no_such_db')$$);
SELECT sqlstate_of($$SELECT poolgov.drop_budget(NULL)$$);
-- The table checks direct changes too.
SELECT sqlstate_of($$INSERT INTO poolgov.budgets (role_name, max_connections)
                     VALUES ('regress_grp', -5)$$);
SELECT sqlstate_of($$INSERT INTO poolgov.budgets (role_name, max_connections)
                     VALUES ('regress_app', 1)$$);
-- NULL max_connections means unlimited.
SELECT poolgov.set_budget('regress_grp', NULL, priority => 'high');
SELECT max_connections, headroom FROM poolgov.budget_usage WHERE role = 'regress_grp';

-- Every change is an event, with what changed and who changed it.
SELECT kind, role, database, detail FROM poolgov.events
 WHERE kind = 'budget_changed' ORDER BY at;

SELECT poolgov.drop_budget('regress_app', 'postgres');
SELECT poolgov.drop_budget('regress_app', 'postgres');
SELECT role, database FROM poolgov.budget_usage ORDER BY role, database NULLS FIRST;

-- A rolled-back change never reaches shared memory.
BEGIN;
SELECT poolgov.set_budget('regress_app', 1);
ROLLBACK;
SELECT max_connections FROM poolgov.budget_usage WHERE role = 'regress_app';

-- Two-phase commit would install budgets at the wrong moment: refused, and
-- nothing changes.
BEGIN;
SELECT poolgov.set_budget('regress_app', 4);
PREPARE TRANSACTION 'budget_change';
SELECT count(*) AS prepared FROM pg_prepared_xacts;
SELECT max_connections FROM poolgov.budget_usage WHERE role = 'regress_app';

-- A savepoint rolled back after a change: the transaction's last reading of
-- the table is stale, so the governor re-reads the committed table.
BEGIN;
SELECT poolgov.set_budget('regress_app', 9);
SAVEPOINT s;
SELECT poolgov.set_budget('regress_app', 3);
ROLLBACK TO s;
COMMIT;
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN (SELECT max_connections FROM poolgov.budget_usage
                    WHERE role = 'regress_app') = 9;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT max_connections FROM poolgov.budget_usage WHERE role = 'regress_app';

-- Plain DML on the table takes effect the same way.
UPDATE poolgov.budgets SET max_connections = 8 WHERE role_name = 'regress_app';
SELECT max_connections FROM poolgov.budget_usage WHERE role = 'regress_app';

-- Budgets are read from poolgov.database only; elsewhere set_budget refuses.
CREATE DATABASE regress_other;
\c regress_other
CREATE EXTENSION pg_poolgov;
CREATE FUNCTION sqlstate_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SELECT sqlstate_of($$SELECT poolgov.set_budget('regress_app', 1)$$);
INSERT INTO poolgov.budgets (role_name, max_connections) VALUES ('regress_app', 1);
\c postgres
DROP DATABASE regress_other;
SELECT max_connections FROM poolgov.budget_usage WHERE role = 'regress_app';

-- Dropping a role leaves its row, but the rule governs nobody: the
-- governor's next reading of the table leaves it out.
SELECT poolgov.drop_budget('regress_app');
DROP ROLE regress_grp;
SELECT count(*) AS rows FROM poolgov.budgets WHERE role_name = 'regress_grp';
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM poolgov.budget_usage WHERE role = 'regress_grp');
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT count(*) AS rules FROM poolgov.budget_usage;
DELETE FROM poolgov.budgets;
DROP ROLE regress_app;
