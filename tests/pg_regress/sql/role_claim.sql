-- auth.role_claim: where a token's role is, in PostgREST's jwt-role-claim-key syntax (.role,
-- .app_metadata.role, ."https://example.com/role", .roles[0]; a value without a leading dot is
-- one top-level claim name). auth.allowed_roles applies to whatever it selects, auth.role()
-- returns it, and a value that does not parse is refused when set (22023).
-- Stands alone: its signing key and roles live in one transaction that is rolled back.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
SET client_min_messages = warning;
BEGIN;
\set ON_ERROR_ROLLBACK on
SET LOCAL auth.jwks_cache_ttl = 0;
SELECT auth.rotate_key(auth.create_key('ES256', 'role_claim test')) IS NOT NULL AS signing_key;
SHOW auth.role_claim;

-- The same claims set under every path: which role each path finds, and whether it verifies.
CREATE TEMP TABLE tokens (name text, token text) ON COMMIT DROP;
INSERT INTO tokens VALUES
  ('postgres at .app_metadata.role', auth.sign_jwt('{"role":"authenticated","app_metadata":{"role":"postgres"}}')),
  ('authenticated at .app_metadata.role', auth.sign_jwt('{"role":"postgres","app_metadata":{"role":"authenticated"}}')),
  ('postgres at ."https://example.com/role"', auth.sign_jwt('{"https://example.com/role":"postgres"}')),
  ('anon at ."https://example.com/role"', auth.sign_jwt('{"https://example.com/role":"anon","role":"pg_read_server_files"}')),
  ('postgres at .roles[0]', auth.sign_jwt('{"roles":["postgres","anon"]}')),
  ('anon at .roles[0]', auth.sign_jwt('{"roles":["anon","postgres"]}')),
  ('a number at .app_metadata.role', auth.sign_jwt('{"app_metadata":{"role":7}}')),
  ('no role anywhere', auth.sign_jwt('{"sub":"x"}'));
CREATE FUNCTION pg_temp.verdicts() RETURNS TABLE (token text, verify text) LANGUAGE sql AS $$
    SELECT t.name, coalesce(auth.inspect_jwt(t.token) ->> 'reason', 'valid') FROM tokens t ORDER BY t.name
$$;

SET LOCAL auth.role_claim = '.app_metadata.role';
SHOW auth.role_claim;
SELECT * FROM pg_temp.verdicts();
SELECT auth.authenticate(token) ->> 'role' AS top_level_role FROM tokens WHERE name = 'authenticated at .app_metadata.role';
SELECT auth.role() AS role;

SET LOCAL auth.role_claim = '."https://example.com/role"';
SELECT * FROM pg_temp.verdicts();
SELECT auth.authenticate(token) IS NOT NULL AS bound FROM tokens WHERE name = 'anon at ."https://example.com/role"';
SELECT auth.role() AS role;

SET LOCAL auth.role_claim = '.roles[0]';
SELECT * FROM pg_temp.verdicts();
SELECT auth.authenticate(token) IS NOT NULL AS bound FROM tokens WHERE name = 'anon at .roles[0]';
SELECT auth.role() AS role;

-- .role is the top-level claim, as the plain name role is.
SET LOCAL auth.role_claim = '.role';
SELECT auth.authenticate(token) IS NOT NULL AS bound FROM tokens WHERE name = 'postgres at .app_metadata.role';
SELECT auth.role() AS role;
SELECT auth.verify_jwt(token) FROM tokens WHERE name = 'authenticated at .app_metadata.role';

-- A plain name is one top-level claim, as is (dots included).
SET LOCAL auth.role_claim = 'https://example.com/role';
SELECT auth.verify_jwt(token) FROM tokens WHERE name = 'postgres at ."https://example.com/role"';
-- Empty means the default, role.
SET LOCAL auth.role_claim = '';
SELECT auth.verify_jwt(token) FROM tokens WHERE name = 'authenticated at .app_metadata.role';

-- With claims_source = postgrest, auth.role() reads the same path in request.jwt.claims.
SET LOCAL auth.role_claim = '.app_metadata.role';
SET LOCAL auth.claims_source = 'postgrest';
SELECT set_config('request.jwt.claims', '{"role":"anon","app_metadata":{"role":"authenticated"}}', true) IS NOT NULL AS claims_set;
SELECT auth.role() AS role;
SET LOCAL auth.claims_source = 'verified';

-- Refused when set, with where and what: each leaves the setting as it was.
SET LOCAL auth.role_claim = '.app_metadata..role';
\echo :LAST_ERROR_SQLSTATE
SET LOCAL auth.role_claim = '.roles[?(@ == "admin")]';
SET LOCAL auth.role_claim = '.roles[';
SET LOCAL auth.role_claim = '.roles[0][1]';
SET LOCAL auth.role_claim = '."unterminated';
SET LOCAL auth.role_claim = '.';
SET LOCAL auth.role_claim = '.app-metadata';
SELECT set_config('auth.role_claim', '.role.', true);
ALTER ROLE CURRENT_USER SET auth.role_claim = '.a b';
SHOW auth.role_claim;
-- A superuser setting: other roles cannot change it.
CREATE ROLE regress_pak_role_claim_nobody;
SET LOCAL ROLE regress_pak_role_claim_nobody;
SET auth.role_claim = 'role';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
ROLLBACK;
\unset ON_ERROR_ROLLBACK
SHOW auth.role_claim;
