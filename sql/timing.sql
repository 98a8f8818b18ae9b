-- Statement timing: counts per backend, role and database; errors; tracking
-- levels.
SELECT statements AS s0 FROM poolgov.connections WHERE pid = pg_backend_pid() \gset
SELECT 1;
SELECT 2;
SELECT 3;
-- the \gset query and three more
SELECT statements - :s0 AS counted FROM poolgov.connections WHERE pid = pg_backend_pid();

-- A statement that fails counts as an error, not as a statement: while
-- planned (1/0 folds as a constant), while executed, or as a utility
-- command. A statement the parser rejects is not a statement at all.
SELECT statements AS s0, errors AS e0 FROM poolgov.stats \gset
SELECT 1 / 0;
SELECT 1 / x FROM (VALUES (1), (0)) v(x);
DROP TABLE no_such_table;
SELECT no_such_column;
SELECT statements - :s0 AS statements, errors - :e0 AS errors FROM poolgov.stats;

-- Rows processed are counted (the \gset query's 1, then 100 inserted).
CREATE TEMP TABLE t (x int);
SELECT rows AS r0 FROM poolgov.databases WHERE database = current_database() \gset
INSERT INTO t SELECT generate_series(1, 100);
SELECT rows - :r0 AS rows FROM poolgov.databases WHERE database = current_database();

-- Utility commands count unless poolgov.track_utility is off.
SELECT statements AS s0 FROM poolgov.connections WHERE pid = pg_backend_pid() \gset
CREATE TEMP TABLE u (x int);
DROP TABLE u;
SET poolgov.track_utility = off;
CREATE TEMP TABLE u (x int);
DROP TABLE u;
RESET poolgov.track_utility;
-- gset query, CREATE, DROP, SET (its end is seen before it takes effect)
SELECT statements - :s0 AS counted FROM poolgov.connections WHERE pid = pg_backend_pid();

-- poolgov.track = none stops counting.
SET poolgov.track = none;
SELECT statements AS s0 FROM poolgov.connections WHERE pid = pg_backend_pid() \gset
SELECT 1;
SELECT 1 / 0;
SELECT statements - :s0 AS counted FROM poolgov.connections WHERE pid = pg_backend_pid();
RESET poolgov.track;

-- top counts a function call once; all also counts what runs inside it.
CREATE FUNCTION pg_temp.five() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..5 LOOP
        PERFORM 1;
    END LOOP;
    RETURN 5;
END $$;
SELECT statements AS s0 FROM poolgov.connections WHERE pid = pg_backend_pid() \gset
SELECT pg_temp.five();
SELECT statements - :s0 AS top FROM poolgov.connections WHERE pid = pg_backend_pid();
SET poolgov.track = 'all';
SELECT statements AS s0 FROM poolgov.connections WHERE pid = pg_backend_pid() \gset
SELECT pg_temp.five();
SELECT statements - :s0 AS all FROM poolgov.connections WHERE pid = pg_backend_pid();
RESET poolgov.track;

-- Latency columns are consistent.
SELECT statements > 0 AS counted, total_ms > 0 AS timed, mean_ms > 0 AS mean,
       p50_ms <= p95_ms AND p95_ms <= p99_ms AND p99_ms <= max_ms AS ordered
  FROM poolgov.stats;
SELECT statements > 0 AS counted, errors >= 1 AS errors,
       p50_ms <= p95_ms AND p95_ms <= p99_ms AND p99_ms <= max_ms AS ordered
  FROM poolgov.roles WHERE role = current_user;
SELECT statements > 0 AS counted,
       p50_ms <= p95_ms AND p95_ms <= p99_ms AND p99_ms <= max_ms AS ordered
  FROM poolgov.databases WHERE database = current_database();

-- A cursor's time adds up over its fetches; it is counted once, at CLOSE.
-- (With track_utility off, DECLARE and FETCH do not nest, so the cursor's
-- query is a top-level statement, as in pg_stat_statements.)
SET poolgov.track_utility = off;
SELECT poolgov.reset_slow_queries();
BEGIN;
DECLARE c CURSOR FOR SELECT pg_sleep(0.06) FROM generate_series(1, 3);
FETCH 1 FROM c;
FETCH 2 FROM c;
CLOSE c;
COMMIT;
SELECT duration_ms >= 180 AS all_fetches, rows FROM poolgov.slow_queries;

-- Cursors abandoned by ROLLBACK and ROLLBACK TO SAVEPOINT are not counted
-- and leave nothing behind: the next statements are timed as usual.
SELECT c.statements AS s0, s.errors AS e0 FROM poolgov.connections c, poolgov.stats s
 WHERE pid = pg_backend_pid() \gset
BEGIN;
DECLARE c1 CURSOR FOR SELECT 1;
FETCH 1 FROM c1;
SAVEPOINT s;
DECLARE c2 CURSOR FOR SELECT 2;
FETCH 1 FROM c2;
ROLLBACK TO s;
FETCH 1 FROM c1;
ROLLBACK;
SELECT pg_sleep(0.11);
-- the \gset query and pg_sleep: utility commands are not tracked here, and
-- the cursors never finished
SELECT c.statements - :s0 AS counted, s.errors - :e0 AS errors
  FROM poolgov.connections c, poolgov.stats s WHERE pid = pg_backend_pid();
SELECT count(*) AS slow, min(duration_ms) >= 110 AS timed
  FROM poolgov.slow_queries WHERE query LIKE 'SELECT pg_sleep(0.11)%';

-- A cursor declared before a savepoint keeps its timer when the savepoint is
-- rolled back (only the timers begun inside the aborted subtransaction go):
-- its fetches before and after add up, and it is counted once, at CLOSE.
SELECT poolgov.reset_slow_queries();
BEGIN;
DECLARE c3 CURSOR FOR SELECT pg_sleep(0.06) FROM generate_series(1, 2);
FETCH 1 FROM c3;
SAVEPOINT s;
DECLARE c4 CURSOR FOR SELECT 4;
FETCH 1 FROM c4;
ROLLBACK TO s;
FETCH 1 FROM c3;
CLOSE c3;
COMMIT;
SELECT count(*) AS counted, min(duration_ms) >= 120 AS both_fetches, min(rows) AS rows
  FROM poolgov.slow_queries WHERE query LIKE 'DECLARE c3%';
RESET poolgov.track_utility;

-- Failures and the nesting level: an error caught by a PL/pgSQL exception
-- block, a failed statement inside a savepoint, a failed statement outside
-- any block, and a procedure that commits leave the level right, so the
-- statements after them still count as top-level.
CREATE FUNCTION pg_temp.catch() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN
        RETURN -1;
    END;
    RETURN 0;
END $$;
CREATE PROCEDURE public.commit_twice() LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1;
    COMMIT;
    PERFORM 2;
    COMMIT;
END $$;
CREATE PROCEDURE public.rollback_each(n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        PERFORM i;
        IF i % 2 = 0 THEN ROLLBACK; ELSE COMMIT; END IF;
    END LOOP;
END $$;
SELECT c.statements AS s0, s.errors AS e0 FROM poolgov.connections c, poolgov.stats s
 WHERE pid = pg_backend_pid() \gset
SELECT pg_temp.catch();
BEGIN;
SAVEPOINT a;
SELECT 1 / x FROM (VALUES (0)) v(x);
ROLLBACK TO a;
SELECT 1;
COMMIT;
SELECT 1 / x FROM (VALUES (0)) v(x);
CALL public.commit_twice();
SELECT 2;
-- \gset, catch(), BEGIN, SAVEPOINT, ROLLBACK TO, SELECT 1, COMMIT, CALL,
-- SELECT 2; errors: the two divisions at top level (the caught one is nested)
SELECT c.statements - :s0 AS counted, s.errors - :e0 AS errors
  FROM poolgov.connections c, poolgov.stats s WHERE pid = pg_backend_pid();

-- With track = all the caught division counts too, as a nested error.
SET poolgov.track = 'all';
SELECT c.statements AS s0, s.errors AS e0 FROM poolgov.connections c, poolgov.stats s
 WHERE pid = pg_backend_pid() \gset
SELECT pg_temp.catch();
SELECT 3;
SELECT c.statements - :s0 AS counted, s.errors - :e0 AS errors
  FROM poolgov.connections c, poolgov.stats s WHERE pid = pg_backend_pid();
RESET poolgov.track;

-- Without track_utility, DO and CALL do not nest: what they run is
-- top-level, including a failure caught inside the DO block and statements
-- on both sides of a COMMIT in the procedure.
SET poolgov.track_utility = off;
SELECT c.statements AS s0, s.errors AS e0 FROM poolgov.connections c, poolgov.stats s
 WHERE pid = pg_backend_pid() \gset
DO $$
BEGIN
    BEGIN
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN
        NULL;
    END;
    PERFORM 1;
END $$;
CALL public.commit_twice();
SELECT 4;
-- \gset, PERFORM 1 in DO, PERFORM 1 and PERFORM 2 in the procedure, SELECT 4;
-- errors: the caught division
SELECT c.statements - :s0 AS counted, s.errors - :e0 AS errors
  FROM poolgov.connections c, poolgov.stats s WHERE pid = pg_backend_pid();
RESET poolgov.track_utility;

-- ROLLBACK and COMMIT inside a procedure end transactions while the CALL
-- runs: what the procedure runs stays nested, and nothing failed.
SELECT c.statements AS s0, s.errors AS e0 FROM poolgov.connections c, poolgov.stats s
 WHERE pid = pg_backend_pid() \gset
CALL public.rollback_each(50);
SELECT 5;
-- \gset, CALL, SELECT 5; no errors
SELECT c.statements - :s0 AS counted, s.errors - :e0 AS errors
  FROM poolgov.connections c, poolgov.stats s WHERE pid = pg_backend_pid();
-- A failure after a ROLLBACK in the procedure is still one top-level error.
CREATE PROCEDURE public.rollback_then_fail() LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1;
    ROLLBACK;
    PERFORM 1 / 0;
END $$;
SELECT c.statements AS s0, s.errors AS e0 FROM poolgov.connections c, poolgov.stats s
 WHERE pid = pg_backend_pid() \gset
CALL public.rollback_then_fail();
SELECT 6;
-- \gset, SELECT 6; errors: the CALL
SELECT c.statements - :s0 AS counted, s.errors - :e0 AS errors
  FROM poolgov.connections c, poolgov.stats s WHERE pid = pg_backend_pid();
DROP PROCEDURE public.rollback_then_fail();
DROP PROCEDURE public.rollback_each(int);
DROP PROCEDURE public.commit_twice();
