-- API keys: publishable and secret keys, revocation, reveal, legacy keys (contract §4).
-- Keys are random: the output shows their shape, never their text.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
-- A database of its own: the legacy secret can only be migrated before any key is in use.
\set regress_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS pak_api_keys;
CREATE DATABASE pak_api_keys;
\c pak_api_keys
CREATE EXTENSION pg_auth_keys;
SET auth.jwks_cache_ttl = 0;

-- A publishable key (role anon) and two secret keys (role service_role).
SELECT auth.create_api_key('publishable', 'web app') AS pk \gset
SELECT auth.create_api_key('secret', 'billing worker') AS sk1 \gset
SELECT auth.create_api_key('secret', 'cron') AS sk2 \gset
SELECT :'pk' ~ '^sb_publishable_[0-9A-Za-z]{38}$' AS publishable_shape,
       :'sk1' ~ '^sb_secret_[0-9A-Za-z]{38}$' AS secret_shape,
       :'sk1' <> :'sk2' AS distinct_keys;
SELECT kind, name, role, left(:'pk', 19) = prefix OR left(:'sk1', 14) = prefix OR left(:'sk2', 14) = prefix AS prefix_matches,
       revoked_at IS NULL AS live
FROM auth.api_keys ORDER BY created_at, name;

-- Verification returns the key's id, kind and role.
SELECT v.kind, v.role, v.id = (SELECT id FROM auth.api_keys WHERE name = 'web app') AS same_id
FROM auth.verify_api_key(:'pk') v;
SELECT kind, role FROM auth.verify_api_key(:'sk1');

-- Only a hash is stored: the key's text appears nowhere in the table.
SELECT count(*) AS rows_containing_the_key
FROM auth_private._api_keys k WHERE position(convert_to(:'sk1', 'UTF8') IN k.key_hash) > 0
   OR position(:'sk1' IN k.prefix) > 0;

-- Malformed keys are refused before any lookup; a typo fails the checksum.
SELECT * FROM auth.verify_api_key('');
SELECT * FROM auth.verify_api_key('sb_secret_short');
SELECT * FROM auth.verify_api_key('sb_secret_' || repeat('A', 38));
SELECT * FROM auth.verify_api_key(overlay(:'sk1' placing (CASE WHEN substr(:'sk1', 20, 1) = 'a' THEN 'b' ELSE 'a' END) from 20 for 1));
SELECT * FROM auth.verify_api_key('sb_publishable_' || repeat('x', 20000));
SELECT count(*) AS rows_for_null FROM auth.verify_api_key(NULL);

-- Bad arguments change nothing.
SELECT auth.create_api_key('legacy', 'x');
SELECT auth.create_api_key('secret', '');
SELECT auth.create_api_key('secret', E'tab\tname');
SELECT auth.create_api_key('secret', repeat('n', 129));
SELECT auth.create_api_key('secret', 'admin', 'postgres');
SELECT auth.create_api_key('publishable', 'elevated', 'service_role');
SELECT count(*) AS api_keys FROM auth.api_keys;
-- auth.allowed_roles and auth.elevated_roles are read with the parser token verification uses:
-- entries trimmed, empty ones ignored, names exact (a quoted role name may hold a space).
BEGIN;
\set ON_ERROR_ROLLBACK on
SET LOCAL auth.allowed_roles = ' anon , authenticated,, service_role, web user ';
SET LOCAL auth.elevated_roles = 'service_role, authenticated';
SELECT auth.create_api_key('publishable', 'elevated by the setting', 'authenticated');
SELECT auth.create_api_key('secret', 'a role with a space', 'web user') IS NOT NULL AS created;
SELECT auth.create_api_key('secret', 'case matters', 'Anon');
SELECT auth.create_api_key('publishable', 'anon is not elevated', 'anon') IS NOT NULL AS created;
ROLLBACK;
\unset ON_ERROR_ROLLBACK

-- Revocation is instant, audited, and cannot be repeated.
SELECT auth.revoke_api_key((SELECT id FROM auth.api_keys WHERE name = 'cron'), 'rotated', true);
SELECT * FROM auth.verify_api_key(:'sk2');
\set VERBOSITY terse
SELECT auth.revoke_api_key((SELECT id FROM auth.api_keys WHERE name = 'cron'));
\set VERBOSITY default
SELECT name, revoked_at IS NOT NULL AS revoked FROM auth.api_keys ORDER BY created_at, name;
-- A rolled-back revocation changes nothing.
BEGIN;
SELECT auth.revoke_api_key((SELECT id FROM auth.api_keys WHERE name = 'billing worker'));
SELECT * FROM auth.verify_api_key(:'sk1');
ROLLBACK;
SELECT kind FROM auth.verify_api_key(:'sk1');

-- Deletion: the key is unknown afterwards.
SELECT auth.delete_api_key((SELECT id FROM auth.api_keys WHERE name = 'cron'), 'cleanup');
SELECT * FROM auth.verify_api_key(:'sk2');
SELECT auth.delete_api_key('00000000-0000-0000-0000-000000000000');

-- Reveal needs a root key (a server setting); keys made without one can never be revealed.
\set VERBOSITY terse
SELECT auth.reveal_api_key((SELECT id FROM auth.api_keys WHERE name = 'billing worker'));
\set root_key 'a root key of at least thirty-two bytes, for the tests'
\i :set_root_key
SELECT auth.reveal_api_key((SELECT id FROM auth.api_keys WHERE name = 'billing worker'));
\set VERBOSITY default
SELECT auth.create_api_key('secret', 'revealable') AS sk3 \gset
SELECT auth.reveal_api_key((SELECT id FROM auth.api_keys WHERE name = 'revealable')) = :'sk3' AS revealed;
\set VERBOSITY terse
SELECT auth.reveal_api_key((SELECT id FROM auth.api_keys WHERE name = 'web app'));
\set VERBOSITY default
-- Under another root key the sealed copy does not open.
\set root_key 'another root key, also thirty-two bytes or more'
\i :set_root_key
SELECT auth.reveal_api_key((SELECT id FROM auth.api_keys WHERE name = 'revealable'));
\set root_key 'too short'
\i :set_root_key
SELECT auth.create_api_key('secret', 'short root key');
\set root_key ''
\i :set_root_key
SELECT count(*) AS api_keys FROM auth.api_keys;

-- Legacy keys: the anon and service_role JWTs of the legacy secret.
SELECT legacy_kid AS legacy_kid FROM auth.migrate_legacy_secret('legacy-jwt-secret-with-at-least-32-characters') \gset
SELECT auth.sign_jwt('{"iss":"supabase","role":"anon","exp":4102444800}') AS anon_jwt \gset
SELECT auth.sign_jwt('{"iss":"supabase","role":"service_role","exp":4102444800}') AS service_jwt \gset
SELECT auth.import_legacy_api_key(:'anon_jwt') IS NOT NULL AS anon_registered;
SELECT auth.import_legacy_api_key(:'service_jwt') IS NOT NULL AS service_registered;
SELECT auth.import_legacy_api_key(:'anon_jwt');
SELECT auth.import_legacy_api_key(auth.sign_jwt('{"role":"authenticated"}'));
SELECT auth.import_legacy_api_key('not a jwt');
SELECT kind, name, role, prefix ~ '^legacy_(anon|service_role)_…' AS prefix_shape
FROM auth.api_keys WHERE kind = 'legacy' ORDER BY name;
SELECT kind, role FROM auth.verify_api_key(:'anon_jwt');
SELECT auth.verify_jwt(:'anon_jwt') ->> 'role' AS anon_jwt_verifies;

-- The legacy secret cannot be revoked while legacy keys are enabled.
SELECT auth.rotate_key(force => true) IS NOT NULL AS rotated_away_from_legacy;
SELECT auth.revoke_key(:'legacy_kid', force => true);

-- Disabled legacy keys are refused although their signature is valid; user tokens of the
-- legacy secret still verify.
SELECT auth.set_legacy_api_keys_enabled(false);
SELECT * FROM auth.verify_api_key(:'anon_jwt');
SELECT auth.verify_jwt(:'anon_jwt');
SELECT auth.try_verify_jwt(:'service_jwt') IS NULL AS service_jwt_refused;
SELECT auth.inspect_jwt(:'anon_jwt') ->> 'reason' AS reason;
SELECT auth.set_legacy_api_keys_enabled(true);
SELECT kind, role FROM auth.verify_api_key(:'service_jwt');
-- Revoking one legacy key refuses exactly that token.
SELECT auth.revoke_api_key((SELECT id FROM auth.api_keys WHERE name = 'legacy service_role'));
SELECT auth.try_verify_jwt(:'service_jwt') IS NULL AS service_jwt_refused,
       auth.try_verify_jwt(:'anon_jwt') ->> 'role' AS anon_still_valid;
SELECT auth.set_legacy_api_keys_enabled(false);
SELECT auth.revoke_key(:'legacy_kid', force => true);
SELECT * FROM auth.verify_api_key(:'anon_jwt');

-- The audit log: one row per change and per reveal, never the key itself.
SELECT action, detail ->> 'kind' AS kind, detail ->> 'name' AS name,
       detail - 'api_key_id' - 'prefix' - 'kind' - 'name' - 'role' AS detail
FROM auth.key_events WHERE kid IS NULL ORDER BY id;
SELECT count(*) AS events_containing_a_key FROM auth.key_events
WHERE detail::text LIKE '%' || :'sk1' || '%' OR detail::text LIKE '%' || :'sk3' || '%';

\c :regress_db
DROP DATABASE pak_api_keys;
