-- The light query of the mixed scenario: pgbench's built-in select-only
-- transaction (pgbench -S), a primary-key lookup planned at a cost of ~8.
-- :scale comes from pgbench -s (custom scripts do not read it from tables).
\set aid random(1, 100000 * :scale)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
