-- Installation: the extension, its objects, its role and its settings.
CREATE EXTENSION pg_poolgov;
SELECT extversion, extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_poolgov';

SELECT relname, relkind FROM pg_class
 WHERE relnamespace = 'poolgov'::regnamespace AND relkind IN ('r', 'v')
 ORDER BY relname;
SELECT proname FROM pg_proc WHERE pronamespace = 'poolgov'::regnamespace ORDER BY proname;
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = 'poolgov_admin';

-- The budgets table is configuration: pg_dump dumps its rows.
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'pg_poolgov';

-- Every setting is registered, with its unit and the context that says
-- whether a reload or a restart changes it.
SELECT name, setting, unit, context FROM pg_settings
 WHERE name LIKE 'poolgov.%' ORDER BY name;

-- The prefix is reserved: typos are errors, not silent placeholders.
SET poolgov.enforse = on;
SET poolgov.track = 'sometimes';
-- PostgreSQL 17 and later name the unit in the range (expected/setup_1.out).
SET poolgov.slow_query_threshold = -2;

-- A helper for the other tests: runs a statement, returns SQLSTATE: message.
CREATE FUNCTION public.sqlstate_of(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
