-- pg_poolgov 1.1 -> 1.2. A fresh CREATE EXTENSION runs the 1.0 script, the
-- 1.0 -> 1.1 script and then this one, so this file is also the only
-- definition of what 1.2 adds. The rules of the 1.0 -> 1.1 script hold:
-- new objects go here; OUT columns of the view functions are only ever
-- appended; every function pins search_path or is written in C; every new
-- object gets its privileges here.
\echo Use "ALTER EXTENSION pg_poolgov UPDATE TO '1.2'" to load this file. \quit
