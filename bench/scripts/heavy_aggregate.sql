-- The heavy query of the mixed scenario: a report-style aggregate over every
-- row of pgbench_accounts (100 000 rows per scale unit), planned at a cost in
-- the thousands (scale 1) to tens of thousands (scale 10). Real work, no
-- pg_sleep: it holds a CPU, not only a connection, as a report query would.
SELECT bid, count(*), sum(abalance), min(aid), max(aid)
FROM pgbench_accounts
GROUP BY bid;
