-- First test of the schedule: every later test runs in this database with the extension.
CREATE EXTENSION pg_auth_keys;
SELECT auth.version() ~ '^\d+\.\d+\.\d+$' AS version_is_semver;
