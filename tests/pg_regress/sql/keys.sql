-- Signing keys: import, the lifecycle and its guards, the audit log.
-- Keys imported with fixed kids keep this output stable; auth.create_key makes UUID kids.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
SET auth.jwks_cache_ttl = '20min';
SET auth.jwt_max_lifetime = '1h';

-- A private ES256 JWK (RFC 7515 A.3), with our kid.
SELECT auth.import_key('{"kty":"EC","crv":"P-256","kid":"es-1",
  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
  "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}', 'first ES256 key');
-- A public-only Ed25519 key (RFC 8037 A.2): verify-only, it can never sign.
SELECT auth.import_key('{"kty":"OKP","crv":"Ed25519","kid":"third-party",
  "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}');
SELECT kid, alg, state, can_sign, description FROM auth.keys ORDER BY kid;

-- Keys that cannot be trusted are refused when imported, and nothing is written.
SELECT auth.import_key('{"kty":"EC","crv":"P-256","kid":"off-curve",
  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4"}');
SELECT auth.import_key('{"kty":"EC","crv":"P-256","alg":"ES384","kid":"wrong-curve",
  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}');
SELECT auth.import_key('{"kty":"oct","kid":"short","k":"c2hvcnQ"}');
SELECT auth.import_key('{"kty":"OKP","crv":"Ed25519","use":"enc","kid":"enc",
  "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}');
SELECT auth.import_key('{"kty":"OKP","crv":"Ed25519","kid":"identity",
  "x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}');
SELECT auth.import_key('{"kty":"EC","crv":"P-256","kid":"es-1",
  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}');
SELECT auth.create_key('none');
SELECT count(*) AS keys, (SELECT count(*) FROM auth.key_events) AS events FROM auth.keys;

-- Rotation waits until external verifiers can have fetched the new key (auth.jwks_cache_ttl).
BEGIN;
SELECT auth.import_key('{"kty":"EC","crv":"P-256","kid":"es-2",
  "x":"96CHiGIGBHUQMiwZr8QfVDrWsc5bHdhAKgvE18VRliM",
  "y":"k_Y8801kthGhQsGW3MdFF0KtF_Nreqi0SQXnQhxv8v8",
  "d":"nAylk917sUqyczTwiuOp78X_SfkE12i7miOdEzlwWtg"}');
SELECT auth.rotate_key('es-2');
ROLLBACK;
SELECT auth.rotate_key('third-party', force => true);
SELECT auth.rotate_key('es-1', force => true);
SELECT kid, state FROM auth.keys ORDER BY kid;

-- Refused transitions change nothing.
SELECT auth.revoke_key('es-1');
SELECT auth.delete_key('es-1');
SELECT auth.move_key('es-1', 'standby');
SELECT auth.move_key('third-party', 'in_use');
SELECT auth.revoke_key('third-party');
SELECT auth.revoke_key('no-such-key');

-- standby -> previously_used -> revoked -> standby -> previously_used -> revoked -> deleted
SELECT auth.move_key('third-party', 'previously_used');
SELECT auth.revoke_key('third-party');
SELECT auth.move_key('third-party', 'standby');
SELECT auth.move_key('third-party', 'previously_used');
SELECT auth.revoke_key('third-party');
SELECT auth.delete_key('third-party');
-- Deletion is permanent: the kid cannot come back.
SELECT auth.import_key('{"kty":"OKP","crv":"Ed25519","kid":"third-party",
  "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}');

-- The JWKS lists trusted asymmetric keys, public parameters only.
SELECT jsonb_pretty(auth.jwks());

-- One audit row per change; forced actions say so.
SELECT actor = session_user AS by_me, action, kid, detail FROM auth.key_events ORDER BY id;
