-- pg_auth_keys demo: run by `make demo` with psql -X -v ON_ERROR_STOP=1 in database "demo".
-- Each section echoes a heading, then shows the statements (\set ECHO queries) and results.
\set ECHO queries
\pset footer off

\echo
\echo '== 1. Install the extension (needs shared_preload_libraries = ''pg_auth_keys'') =='
CREATE EXTENSION pg_auth_keys;

\echo
\echo '== 2. Which version is running =='
SELECT auth.version();

\echo
\echo '== Done. =='
