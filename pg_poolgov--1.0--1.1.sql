-- pg_poolgov 1.0 -> 1.1. A fresh CREATE EXTENSION runs the 1.0 script and
-- then this one, so this file is also the only definition of what 1.1 adds.
-- Rules: new objects go here, never into the 1.0 script; OUT columns of the
-- view functions are only ever appended (the library fills the columns an
-- older script declares, see src/pg/row_builder.hpp); every function pins
-- search_path or is written in C; every new object gets its privileges here.
\echo Use "ALTER EXTENSION pg_poolgov UPDATE TO '1.1'" to load this file. \quit
