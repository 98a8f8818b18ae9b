-- The login breaker's SQL surface and the 1.1 columns of poolgov.stats.
-- Logins themselves are exercised in test/t/005_breaker.pl.

-- The counters poolgov.stats gained in 1.1 are appended after stats_reset
-- and restart from zero with poolgov.reset().
SELECT poolgov.reset();
SELECT breaker_untracked, breaker_evictions, role_evictions, database_evictions
  FROM poolgov.stats;
SELECT attnum, attname FROM pg_attribute
 WHERE attrelid = 'poolgov.stats'::regclass AND attnum > 23 ORDER BY attnum;

-- poolgov.breakers: nothing failed yet.
SELECT * FROM poolgov.breakers;
SELECT poolgov.breaker_reset(NULL, NULL);

-- An installation of 1.0 updated to 1.1 on the same library: the 1.0
-- function declares fewer columns and still works; after the update the
-- new columns and objects are there.
CREATE DATABASE regress_poolgov_upgrade;
\c regress_poolgov_upgrade
CREATE EXTENSION pg_poolgov VERSION '1.0';
SELECT count(*) AS columns_1_0 FROM pg_attribute
 WHERE attrelid = 'poolgov.stats'::regclass AND attnum > 0;
SELECT stats_reset IS NOT NULL AS stats_1_0 FROM poolgov.stats;
ALTER EXTENSION pg_poolgov UPDATE TO '1.1';
SELECT count(*) AS columns_1_1 FROM pg_attribute
 WHERE attrelid = 'poolgov.stats'::regclass AND attnum > 0;
-- The 1.1 columns read the server's counters, zero since poolgov.reset()
-- above (no login failed since), and health, always last.
SELECT breaker_untracked, breaker_evictions, role_evictions, database_evictions,
       health IN ('ok', 'warning', 'critical') AS health_last
  FROM poolgov.stats;
SELECT count(*) AS breakers FROM poolgov.breakers;
SELECT has_function_privilege('public', 'poolgov.breaker_reset(name, text)', 'EXECUTE')
       AS public_may_reset,
       has_function_privilege('poolgov_admin', 'poolgov.breaker_reset(name, text)', 'EXECUTE')
       AS admin_may_reset,
       has_table_privilege('public', 'poolgov.breakers', 'SELECT') AS public_reads_breakers,
       has_table_privilege('public', 'poolgov.stats', 'SELECT') AS public_reads_stats;
\c postgres
DROP DATABASE regress_poolgov_upgrade;
