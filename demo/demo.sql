-- pg_auth_keys demo: keys, tokens, RLS and revocation, in one psql session.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;

\echo '== 1. The extension (preloaded through shared_preload_libraries)'
CREATE EXTENSION IF NOT EXISTS pg_auth_keys;
SELECT auth.version();

\echo '== 2. Create a signing key (ES256 by default); it starts as standby'
-- The guard on rotation waits auth.jwks_cache_ttl so verifiers can fetch the new public key;
-- a fresh demo has no verifiers yet.
SET auth.jwks_cache_ttl = 0;
SELECT auth.create_key(description => 'first key') AS first_kid \gset
SELECT kid, alg, state, can_sign FROM auth.keys;

\echo '== 3. Rotate: the standby key becomes in_use'
SELECT auth.rotate_key() AS rotated_to;
SELECT kid, state FROM auth.keys;

\echo '== 4. The public JWKS, for external verifiers'
SELECT jsonb_pretty(auth.jwks());

\echo '== 5. Sign a token for Alice, and verify it'
SELECT auth.sign_jwt('{"sub":"11111111-1111-1111-1111-111111111111","role":"authenticated","email":"alice@example.com"}') AS alice_token \gset
SELECT auth.verify_jwt(:'alice_token') ->> 'sub' AS verified_sub;

\echo '== 6. Bob pastes his own claims over Alice''s signature: refused, and inspect_jwt says why'
SELECT split_part(:'alice_token', '.', 1) || '.' ||
       rtrim(translate(encode(convert_to('{"sub":"22222222-2222-2222-2222-222222222222","role":"authenticated","exp":99999999999}', 'UTF8'), 'base64'), E'+/\n', '-_'), '=')
       || '.' || split_part(:'alice_token', '.', 3) AS forged_token \gset
SELECT auth.try_verify_jwt(:'forged_token') AS verified;
SELECT jsonb_pretty(auth.inspect_jwt(:'forged_token') - 'header') AS inspect_forged;

\echo '== 7. Row Level Security: each user sees only their own rows'
CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, owner uuid NOT NULL, body text NOT NULL);
TRUNCATE notes;
INSERT INTO notes (owner, body) VALUES
  ('11111111-1111-1111-1111-111111111111', 'Alice: buy milk'),
  ('11111111-1111-1111-1111-111111111111', 'Alice: call Bob'),
  ('22222222-2222-2222-2222-222222222222', 'Bob: secret plans');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS owner_only ON notes;
CREATE POLICY owner_only ON notes USING (owner = auth.uid());
DO $$ BEGIN CREATE ROLE demo_user; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT SELECT ON notes TO demo_user;
BEGIN;
SET LOCAL ROLE demo_user;
SELECT auth.authenticate(:'alice_token') ->> 'email' AS authenticated_as;
SELECT id, body FROM notes ORDER BY id;
COMMIT;

\echo '== 8. Anyone can write request.jwt.claims with set_config: it is not trusted'
BEGIN;
SET LOCAL ROLE demo_user;
SELECT set_config('request.jwt.claims', '{"sub":"22222222-2222-2222-2222-222222222222"}', true) IS NOT NULL AS forged;
SELECT count(*) AS rows_seen_with_forged_claims FROM notes;
COMMIT;

\echo '== 9. Rotate to a new key, then revoke the old one: its tokens are refused at once'
SELECT auth.create_key(description => 'second key') AS second_kid \gset
SELECT auth.rotate_key(:'second_kid');
SELECT auth.verify_jwt(:'alice_token') ->> 'sub' AS still_valid_after_rotation;
-- revoke_key waits auth.jwt_max_lifetime after a key leaves in_use; force it for the demo.
SELECT auth.revoke_key(:'first_kid', force => true);
SELECT kid, state FROM auth.keys ORDER BY created_at;
SELECT auth.try_verify_jwt(:'alice_token') AS after_revocation;
SELECT auth.inspect_jwt(:'alice_token') ->> 'reason' AS reason;
BEGIN;
SET LOCAL ROLE demo_user;
SELECT auth.claims() IS NULL AS anonymous_now, count(*) AS rows_seen FROM notes;
COMMIT;

\echo '== 10. API keys: a publishable key for the app, checked, then revoked and refused'
SELECT auth.create_api_key('publishable', 'demo app') AS app_key \gset
SELECT left(:'app_key', 19) || '…' AS app_key_shown_once;
SELECT kind, name, prefix, role FROM auth.api_keys;
SELECT kind, role FROM auth.verify_api_key(:'app_key');
SELECT auth.revoke_api_key(id, 'demo: leaked') FROM auth.api_keys WHERE name = 'demo app';
\set ON_ERROR_STOP 0
SELECT * FROM auth.verify_api_key(:'app_key');
\set ON_ERROR_STOP 1

\echo '== 11. The audit log'
SELECT at::time(0) AS at, actor, action, left(kid, 8) AS kid, detail FROM auth.key_events ORDER BY id;
