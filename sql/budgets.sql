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

-- A savepoint rolled back after a change: COMMIT installs the table as the
-- transaction leaves it, not as its last change had it. The governor also
-- re-reads the table after every commit and every 10 samples, and would
-- correct a wrong install with events "by governor": so the COMMIT's events
-- must be exactly the change to 9, by the committer, and the governor,
-- given 11 samples (a periodic re-read among them), must change nothing.
CREATE FUNCTION pg_temp.events_since(t0 timestamptz)
RETURNS TABLE (role name, detail text) LANGUAGE sql AS $$
    SELECT e.role, e.detail FROM poolgov.events e
     WHERE e.kind = 'budget_changed' AND e.at >= t0 ORDER BY e.at $$;
CREATE FUNCTION pg_temp.wait_samples(t0 timestamptz, n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN (SELECT count(*) FROM poolgov.history WHERE sampled_at > t0) >= n;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT now() AS t0 \gset
BEGIN;
SELECT poolgov.set_budget('regress_app', 9);
SAVEPOINT s;
SELECT poolgov.set_budget('regress_app', 3);
ROLLBACK TO s;
COMMIT;
SELECT pg_temp.wait_samples(:'t0', 11);
SELECT * FROM pg_temp.events_since(:'t0');
SELECT max_connections FROM poolgov.budget_usage WHERE role = 'regress_app';

-- An install that changes more than 100 rules logs 100 events and one that
-- counts the rest.
DO $$ BEGIN FOR i IN 1..105 LOOP
  EXECUTE format('CREATE ROLE %I', 'regress_many' || i);
END LOOP; END $$;
SELECT now() AS t0 \gset
INSERT INTO poolgov.budgets (role_name, max_connections)
  SELECT 'regress_many' || g, g FROM generate_series(1, 105) g;
SELECT count(*) AS events, count(*) FILTER (WHERE detail LIKE 'budget set: %') AS listed,
       string_agg(detail, '') FILTER (WHERE detail LIKE '% more budget changes %') AS summary
  FROM pg_temp.events_since(:'t0');
SELECT now() AS t0 \gset
DELETE FROM poolgov.budgets WHERE role_name LIKE 'regress\_many%';
SELECT count(*) AS events, count(*) FILTER (WHERE detail LIKE 'budget dropped %') AS listed,
       string_agg(detail, '') FILTER (WHERE detail LIKE '% more budget changes %') AS summary
  FROM pg_temp.events_since(:'t0');
DO $$ BEGIN FOR i IN 1..105 LOOP
  EXECUTE format('DROP ROLE %I', 'regress_many' || i);
END LOOP; END $$;

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
