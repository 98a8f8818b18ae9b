-- poolgov.capacity: one row per fixed-size table, with what sizes it; the
-- settings that size the role and database tables; who may read it. That
-- small tables evict (and never an entry with a live connection):
-- test/t/019_scale_tables.pl; the hash index and the clock:
-- test/unit/entry_table_test.cpp.

-- The sizes are restart-only settings with defaults for a typical server.
SELECT name, setting, context, min_val, max_val
  FROM pg_settings WHERE name IN ('poolgov.max_roles', 'poolgov.max_databases')
 ORDER BY name;

-- Every table, the setting that sizes it, and sane numbers: used never
-- exceeds capacity.
SELECT name, setting, used <= capacity AS fits, bytes_per_entry > 0 AS has_size
  FROM poolgov.capacity ORDER BY name;
-- The bytes of the tables are pg_poolgov's shared memory, as PostgreSQL
-- reports what it allocated: their sum is within the segment, and all but a
-- header and a few per-slot arrays (under 1 %) of it.
SELECT sum(c.bytes) <= a.size AS within_segment,
       sum(c.bytes) > a.size * 0.99 AS accounts_for_it
  FROM poolgov.capacity c, pg_shmem_allocations a
 WHERE a.name = 'pg_poolgov'
 GROUP BY a.size;

-- Capacities that follow settings (closure_cache is fixed in this
-- version; its row is checked for shape only). Connection slots
-- are one per server process that can log in (MaxBackends: max_connections
-- plus autovacuum workers, background workers and WAL senders).
SELECT c.name, c.capacity = current_setting(c.setting)::bigint AS follows_setting
  FROM poolgov.capacity c
 WHERE c.setting LIKE 'poolgov.%'
 ORDER BY c.name;
SELECT capacity > current_setting('max_connections')::bigint AS slots_cover_max_connections
  FROM poolgov.capacity WHERE name = 'connections';

-- A role or database entry costs its counters plus a statement-latency
-- histogram (about 11 kB); nothing evicted yet in this small test.
SELECT name, bytes_per_entry BETWEEN 10000 AND 12000 AS about_11_kb, evictions, untracked
  FROM poolgov.capacity WHERE name IN ('roles', 'databases') ORDER BY name;
SELECT role_evictions, database_evictions FROM poolgov.stats;

-- Tables without evictions show NULL there: budgets beyond capacity are
-- refused by set_budget, not dropped. untracked: what found no entry (the
-- role and database tables when full of live connections, the breaker,
-- closures too long even for the membership pool).
SELECT name, evictions IS NULL AS no_evictions, untracked IS NULL AS no_untracked
  FROM poolgov.capacity
 WHERE name NOT IN ('roles', 'databases')
 ORDER BY name;

-- A first login of a role takes one entry of the role table.
SELECT current_user AS me \gset
SELECT used AS roles_before FROM poolgov.capacity WHERE name = 'roles' \gset
CREATE ROLE regress_capacity_login LOGIN;
\c postgres regress_capacity_login
SELECT used - :roles_before AS new_role_entries FROM poolgov.capacity WHERE name = 'roles';
-- Readable by a role without any grant: numbers only, no names.
SELECT count(*) AS rows_seen_unprivileged FROM poolgov.capacity;
\c postgres :me
SELECT has_table_privilege('public', 'poolgov.capacity', 'SELECT') AS public_reads,
       has_function_privilege('public', 'poolgov._capacity()', 'EXECUTE') AS public_executes,
       p.prosecdef AS security_definer
  FROM pg_proc p WHERE p.oid = 'poolgov._capacity()'::regprocedure;
-- The role's row is there with its one login.
SELECT role, accepted FROM poolgov.roles WHERE role = 'regress_capacity_login';
DROP ROLE regress_capacity_login;

-- poolgov.roles finds each row's budget through an index of the rules by
-- role (not a scan of every rule per row): the tightest of the role's own
-- and its groups' rules, among 40 rules of unrelated roles.
CREATE ROLE regress_cap_g9;
CREATE ROLE regress_cap_g4;
CREATE ROLE regress_cap_g6;
CREATE ROLE regress_cap_member LOGIN IN ROLE regress_cap_g9, regress_cap_g4, regress_cap_g6;
DO $$ BEGIN FOR i IN 1..40 LOOP
  EXECUTE format('CREATE ROLE %I', 'regress_cap_other' || i);
END LOOP; END $$;
INSERT INTO poolgov.budgets (role_name, max_connections)
  SELECT 'regress_cap_other' || g, g FROM generate_series(1, 40) g;
SELECT poolgov.set_budget('regress_cap_g9', 9);
SELECT poolgov.set_budget('regress_cap_g4', 4);
SELECT poolgov.set_budget('regress_cap_g6', 6);
-- A per-database rule does not count here (poolgov.budget_usage shows it).
SELECT poolgov.set_budget('regress_cap_member', 1, database => 'postgres');
\c postgres regress_cap_member
\c postgres :me
SELECT role, budget, budget_source, budget_role FROM poolgov.roles
 WHERE role = 'regress_cap_member';
-- Its own rule, looser than the group's: the group's stays the tightest.
SELECT poolgov.set_budget('regress_cap_member', 5);
SELECT role, budget, budget_source, budget_role FROM poolgov.roles
 WHERE role = 'regress_cap_member';
SELECT poolgov.set_budget('regress_cap_member', 3);
SELECT role, budget, budget_source, budget_role FROM poolgov.roles
 WHERE role = 'regress_cap_member';
DELETE FROM poolgov.budgets WHERE role_name LIKE 'regress\_cap\_%';
DROP ROLE regress_cap_member, regress_cap_g9, regress_cap_g4, regress_cap_g6;
DO $$ BEGIN FOR i IN 1..40 LOOP
  EXECUTE format('DROP ROLE %I', 'regress_cap_other' || i);
END LOOP; END $$;
