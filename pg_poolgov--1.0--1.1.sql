-- pg_poolgov 1.0 -> 1.1. A fresh CREATE EXTENSION runs the 1.0 script and
-- then this one, so this file is also the only definition of what 1.1 adds.
-- Rules: new objects go here, never into the 1.0 script; OUT columns of the
-- view functions are only ever appended (the library fills the columns an
-- older script declares, see src/pg/row_builder.hpp); every function pins
-- search_path or is written in C; every new object gets its privileges here.
\echo Use "ALTER EXTENSION pg_poolgov UPDATE TO '1.1'" to load this file. \quit

------------------------------------------------------------------------------
-- Track B: login breaker (poolgov.breakers, poolgov.breaker_reset) and the
-- eviction counters of poolgov.stats
------------------------------------------------------------------------------

-- poolgov.stats gains breaker_untracked, breaker_evictions, role_evictions,
-- database_evictions (appended; the first 24 columns are as in 1.0).
DROP VIEW poolgov.stats;
DROP FUNCTION poolgov._stats();
CREATE FUNCTION poolgov._stats(
    OUT connections integer,
    OUT active integer,
    OUT idle integer,
    OUT idle_in_transaction integer,
    OUT max_connections integer,
    OUT utilization double precision,
    OUT peak_connections bigint,
    OUT accepted bigint,
    OUT rejected_budget bigint,
    OUT rejected_reserve bigint,
    OUT rejected_breaker bigint,
    OUT warned bigint,
    OUT auth_failures bigint,
    OUT statements bigint,
    OUT errors bigint,
    OUT rows bigint,
    OUT total_ms double precision,
    OUT mean_ms double precision,
    OUT p50_ms double precision,
    OUT p95_ms double precision,
    OUT p99_ms double precision,
    OUT max_ms double precision,
    OUT slow_statements bigint,
    OUT stats_reset timestamptz,
    OUT breaker_untracked bigint,
    OUT breaker_evictions bigint,
    OUT role_evictions bigint,
    OUT database_evictions bigint)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_stats';
CREATE VIEW poolgov.stats AS SELECT * FROM poolgov._stats();

CREATE FUNCTION poolgov._breakers(
    OUT role name,
    OUT client_addr inet,
    OUT failures integer,
    OUT first_failure timestamptz,
    OUT opened_at timestamptz,
    OUT open_until timestamptz)
RETURNS SETOF record
LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'poolgov_breakers';
CREATE VIEW poolgov.breakers AS SELECT * FROM poolgov._breakers();

-- Not STRICT: NULL means "every role" / "every address".
CREATE FUNCTION poolgov.breaker_reset(role name DEFAULT NULL, client_addr text DEFAULT NULL)
RETURNS integer
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'poolgov_breaker_reset';

REVOKE ALL ON FUNCTION poolgov._stats(), poolgov._breakers(),
                       poolgov.breaker_reset(name, text) FROM PUBLIC;
GRANT SELECT ON poolgov.stats, poolgov.breakers TO PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov._stats(), poolgov._breakers() TO PUBLIC;
GRANT EXECUTE ON FUNCTION poolgov.breaker_reset(name, text) TO poolgov_admin;
