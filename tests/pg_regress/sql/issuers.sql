-- Third-party issuers (contract §5b) without a network: the arguments auth.add_issuer refuses,
-- who may call the functions and read the view, and verification with an issuer's stored keys
-- (rows written directly, as pg_restore would). The fetching itself is tested against a real
-- HTTPS server in tests/cluster/tests/issuers.rs. :LAST_ERROR_SQLSTATE shows each refusal.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
\i :es1_in_use
SET client_min_messages = warning;
SET auth.jwks_cache_ttl = 0;
SELECT count(*) AS issuer_events_before FROM auth.key_events WHERE action LIKE '%issuer%';

-- 1. Arguments refused before anything is fetched or written ---------------------------------
SELECT auth.add_issuer(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.add_issuer('http://issuer.example');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.add_issuer('https://user:secret@issuer.example');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.add_issuer('https://issuer.example', jwks_uri => 'file:///etc/passwd');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.add_issuer('https://issuer.example', default_role => 'postgres');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.add_issuer('https://issuer.example', audience => '');
\echo :LAST_ERROR_SQLSTATE
-- Loopback and private addresses are refused (auth.issuer_allow_private is off): no connection.
SELECT auth.add_issuer('https://127.0.0.1:9/tenant');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.add_issuer('https://10.0.0.1:9/tenant', jwks_uri => 'https://[::1]:9/jwks');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.remove_issuer('https://unknown.example');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.refresh_issuer('https://unknown.example');
\echo :LAST_ERROR_SQLSTATE
-- Nothing was written.
SELECT (SELECT count(*) FROM auth.issuers) AS issuers,
       (SELECT count(*) FROM auth.key_events WHERE action LIKE '%issuer%') AS issuer_events,
       (auth.stats() ->> 'issuer_fetch_failures')::int >= 2 AS failures_counted;

-- 2. Privileges -------------------------------------------------------------------------------
CREATE ROLE issuers_nobody;
CREATE ROLE issuers_admin;
SELECT auth.grant_admin('issuers_admin');
SET ROLE issuers_nobody;
SELECT auth.add_issuer('https://issuer.example');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.refresh_issuer('https://issuer.example');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.remove_issuer('https://issuer.example');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM auth.issuers;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM auth_private._issuer_keys;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE issuers_admin;
SELECT count(*) AS admin_reads_issuers FROM auth.issuers;
-- An administrator may not widen what a fetch reaches.
SET auth.issuer_allow_private = on;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- 3. Verification with an issuer's stored keys ------------------------------------------------
-- The issuer's key is a copy of the public half of a key made here, so that this test can sign.
SELECT auth.create_key('ES256', 'issuers test') AS ikid \gset
SELECT extract(epoch FROM now())::bigint AS now_s \gset
-- (Not due for a refresh: the background worker leaves it alone.)
INSERT INTO auth_private._issuers (issuer, discover, jwks_uri, audience, default_role,
                                   last_success_at, next_refresh_at)
VALUES ('https://issuer.example', false, 'https://issuer.example/jwks', 'api', 'anon', now(),
        now() + interval '1 day');
INSERT INTO auth_private._issuer_keys (issuer, kid, alg, verify_key)
SELECT 'https://issuer.example', kid, alg, verify_key FROM auth_private._keys WHERE kid = :'ikid';
SELECT issuer, jwks_uri, audience, default_role, key_count FROM auth.issuers;
SELECT kid = :'ikid' AS same_kid, alg, state, can_sign, issuer FROM auth.keys WHERE issuer IS NOT NULL;
-- A token naming the issuer: verified with its key, its audience, its default role.
SELECT auth.sign_jwt(jsonb_build_object('iss', 'https://issuer.example', 'sub', 'ext-1',
       'aud', 'api', 'iat', :now_s, 'exp', :now_s + 600), :'ikid') AS ext \gset
SELECT auth.verify_jwt(:'ext') ->> 'role' AS role, auth.verify_jwt(:'ext') ->> 'sub' AS sub;
SELECT auth.sign_jwt(jsonb_build_object('iss', 'https://issuer.example', 'sub', 'ext-2',
       'aud', 'other', 'iat', :now_s, 'exp', :now_s + 600), :'ikid') AS wrong_aud \gset
SELECT auth.verify_jwt(:'wrong_aud');
\echo :LAST_ERROR_SQLSTATE
-- A role claim is kept when allowed, refused when not.
SELECT auth.verify_jwt(auth.sign_jwt(jsonb_build_object('iss', 'https://issuer.example',
       'sub', 'ext-3', 'aud', 'api', 'role', 'authenticated', 'iat', :now_s, 'exp', :now_s + 600),
       :'ikid')) ->> 'role' AS role_claim_kept;
SELECT auth.verify_jwt(auth.sign_jwt(jsonb_build_object('iss', 'https://issuer.example',
       'sub', 'ext-4', 'aud', 'api', 'role', 'postgres', 'iat', :now_s, 'exp', :now_s + 600),
       :'ikid'));
\echo :LAST_ERROR_SQLSTATE
-- Only the issuer's keys verify its tokens: a kid of ours it does not publish is unknown.
SELECT kid AS ours FROM auth.keys WHERE kid <> :'ikid' AND issuer IS NULL AND state <> 'revoked' LIMIT 1 \gset
SELECT auth.verify_jwt(auth.sign_jwt(jsonb_build_object('iss', 'https://issuer.example',
       'sub', 'ext-5', 'aud', 'api', 'iat', :now_s, 'exp', :now_s + 600), :'ours'));
\echo :LAST_ERROR_SQLSTATE
-- Keys older than auth.issuer_max_stale: refused, with that reason.
UPDATE auth_private._issuers SET last_success_at = now() - interval '2 days';
SELECT auth.verify_jwt(:'ext');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.inspect_jwt(:'ext') ->> 'reason' AS inspected_reason;
SET auth.issuer_max_stale = '3d';
SELECT auth.verify_jwt(:'ext') ->> 'sub' AS trusted_with_a_longer_max_stale;
RESET auth.issuer_max_stale;
-- Removed: at once for this session; the token now follows our own rules (our key of that kid).
SELECT auth.remove_issuer('https://issuer.example');
SELECT auth.verify_jwt(:'ext') ->> 'sub' AS sub_by_our_rules;
SELECT action, detail FROM auth.key_events WHERE action LIKE '%issuer%' ORDER BY id;
DROP ROLE issuers_nobody;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA auth FROM issuers_admin;
REVOKE ALL ON ALL TABLES IN SCHEMA auth FROM issuers_admin;
DROP ROLE issuers_admin;
