-- The extension installs, and says its version. (Every test file starts from a fresh install of
-- its own: include/fresh.psql.)
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
SELECT auth.version() ~ '^\d+\.\d+\.\d+$' AS version_is_semver;
