-- Hostile input: NULLs, empty strings, wrong JSON shapes, hostile Unicode and NUL escapes, given
-- to every function. Each answer is a clear error with the right SQLSTATE (28000 for tokens,
-- 22023 for bad arguments, 55000 for a refused state) or NULL where that is the documented
-- answer; never a crash, never an internal error (XX000) and never a half-written change.
-- (Oversized input is in tests/cluster/tests/hostile.rs: its output would be too large here.)
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
\i :es1_in_use
SET auth.jwks_cache_ttl = '20min';
SET auth.jwt_max_lifetime = '1h';
SELECT pg_backend_pid() AS backend_pid, pg_postmaster_start_time() AS started,
       coalesce((SELECT max(id) FROM auth.key_events), 0) AS first_event \gset

-- The state every refused call must leave untouched.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT md5(coalesce((SELECT string_agg(kid || ':' || state || ':' || coalesce(description, ''), ',' ORDER BY kid)
                         FROM auth_private._keys), '') || '|' ||
               coalesce((SELECT max(id)::text FROM auth.key_events), ''))
$$;
-- Runs `sql`, then rolls it back: 'ok: <first column>' or '<SQLSTATE>: <message>', and
-- ' CHANGED' if it modified auth_private._keys or auth.key_events (a refused call must not).
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.fingerprint();
    after text;
    result text;
    st text;
    msg text;
BEGIN
    BEGIN
        EXECUTE sql INTO result;
        after := pg_temp.fingerprint();
        RAISE EXCEPTION 'pak-undo';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        IF msg = 'pak-undo' THEN
            RETURN 'ok: ' || coalesce(left(result, 60), 'NULL')
                || CASE WHEN after <> before THEN ' CHANGED' ELSE '' END;
        END IF;
        RETURN st || ': ' || left(msg, 120);
    END;
END $$;
-- The same, for calls whose right message is not settled: only the SQLSTATE and whether it
-- changed anything.
CREATE FUNCTION pg_temp.code(sql text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN r LIKE 'ok: %' THEN 'ok' || CASE WHEN r LIKE '% CHANGED' THEN ' CHANGED' ELSE '' END
                ELSE left(r, 5) END
    FROM pg_temp.try(sql) r
$$;
-- Tokens of the key 'hostile-hs' with any header and payload (include/jose.psql).
\i :jose
CREATE FUNCTION pg_temp.hs_token(header text, payload text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT pg_temp.hs256_token('hostile-test-secret-of-32-bytes!', header, payload) $$;
SELECT auth.import_key(jsonb_build_object('kty', 'oct', 'kid', 'hostile-hs',
       'k', pg_temp.b64url(convert_to('hostile-test-secret-of-32-bytes!', 'UTF8')))) AS kid;
-- The SQL HMAC agrees with the extension's.
-- (An hour from now: auth.max_token_lifetime refuses a token that stays valid longer.)
SELECT format('{"sub":"x","exp":%s}', extract(epoch FROM now())::bigint + 3600) AS hour_payload \gset
SELECT auth.verify_jwt(pg_temp.hs_token('{"alg":"HS256","kid":"hostile-hs"}', :'hour_payload')) - 'exp' AS sql_hmac_verifies;

-- 1. NULL for every argument ------------------------------------------------------------------

-- Verification and claims: STRICT, so NULL in gives NULL out, and nothing is bound.
SELECT f, pg_temp.try('SELECT ' || f || '::text') AS result FROM unnest(ARRAY[
    'auth.verify_jwt(NULL)', 'auth.try_verify_jwt(NULL)', 'auth.verify_jws(NULL)',
    'auth.inspect_jwt(NULL)', 'auth.authenticate(NULL)', 'auth.authenticate(NULL, false)',
    'auth_private._public_jwk(NULL, NULL, NULL)', 'auth_private._public_jwk(''ES256'', NULL, ''k'')']) f;
SELECT auth.claims() IS NULL AS anonymous;

-- Administrative functions: a required argument that is NULL is refused with 22023 and changes
-- nothing; optional ones (description, the kid of sign_jwt and rotate_key) may be NULL.
SELECT f, pg_temp.try('SELECT ' || f || '::text') AS result FROM unnest(ARRAY[
    'auth.revoke_key(NULL)', 'auth.move_key(NULL, ''standby'')', 'auth.move_key(''hostile-hs'', NULL)',
    'auth.delete_key(NULL)', 'auth.sign_jwt(''{}'', NULL) IS NOT NULL',
    'auth.sign_jwt(''{"sub":"x"}'', ''hostile-hs'') IS NOT NULL',
    'auth.create_key(''ES256'', NULL) IS NOT NULL', 'auth.grant_admin(NULL)']) f;
SELECT f, pg_temp.code('SELECT ' || f || '::text') AS sqlstate FROM unnest(ARRAY[
    'auth.create_key(NULL)', 'auth.create_key(NULL, ''description'')', 'auth.import_key(NULL)',
    'auth.import_pem(NULL, ''ES256'')', 'auth.import_pem(''-----BEGIN PUBLIC KEY-----'', NULL)',
    'auth.import_jwks(NULL)', 'auth.rotate_key(NULL, NULL)', 'auth.rotate_key(''hostile-hs'', NULL)']) f;
-- force => NULL must not skip the safe-rotation guards: a key that left in_use a moment ago ...
SELECT auth.create_key('ES256', 'hostile: next') AS next_kid \gset
SELECT auth.rotate_key(:'next_kid', force => true) = :'next_kid' AS rotated;
SELECT kid AS prev_kid FROM auth.keys WHERE state = 'previously_used' ORDER BY state_changed_at DESC LIMIT 1 \gset
-- ... is refused without force (55000), and with force => NULL (a NULL is no consent: 22023).
SELECT pg_temp.code(format('SELECT auth.revoke_key(%L)', :'prev_kid')) AS without_force,
       pg_temp.code(format('SELECT auth.revoke_key(%L, NULL)', :'prev_kid')) AS force_null;
SELECT auth.create_key('ES256', 'hostile: fresh standby') AS fresh_kid \gset
SELECT pg_temp.code(format('SELECT auth.rotate_key(%L)', :'fresh_kid')) AS rotate_without_force,
       pg_temp.code(format('SELECT auth.rotate_key(%L, NULL)', :'fresh_kid')) AS rotate_force_null;

-- 2. Empty strings ----------------------------------------------------------------------------

SELECT f, pg_temp.try('SELECT ' || f || '::text') AS result FROM unnest(ARRAY[
    'auth.verify_jwt('''')', 'auth.try_verify_jwt('''')', 'auth.verify_jws('''')',
    'auth.inspect_jwt('''') ->> ''reason''', 'auth.authenticate('''')', 'auth.verify_jwt(''..'')',
    'auth.verify_jwt(''.'')', 'auth.verify_jwt('' '')',
    'auth.create_key('''')', 'auth.create_key(''ES256'', '''') IS NOT NULL',
    'auth.import_pem('''', ''ES256'')', 'auth.import_pem(''x'', '''')',
    'auth.rotate_key('''', true)', 'auth.revoke_key('''')', 'auth.move_key('''', ''standby'')',
    'auth.delete_key('''')', 'auth.sign_jwt(''{}'', '''')', 'auth.migrate_legacy_secret('''')',
    'auth_private._public_jwk('''', '''', '''')', 'auth_private._public_jwk(''ES256'', '''', '''')',
    'auth.move_key(''hostile-hs'', '''')']) f;

-- 3. Wrong JSON shapes ------------------------------------------------------------------------

SELECT j, pg_temp.try(format('SELECT auth.import_key(%L)', j)) AS import_key FROM unnest(ARRAY[
    '[]', '5', '"a string"', 'null', 'true', '{}', '{"kty":5}', '{"kty":null}', '{"kty":["EC"]}',
    '{"kty":"EC"}', '{"kty":"EC","crv":{"name":"P-256"}}', '{"kty":"EC","crv":"P-256","x":5,"y":5}',
    '{"kty":"EC","crv":"P-256","x":"","y":""}', '{"kty":"RSA","n":[],"e":"AQAB"}',
    '{"kty":"OKP","crv":"Ed25519","x":{"x":"y"}}', '{"kty":"oct","k":["a"]}', '{"kty":"oct","k":""}',
    '{"kty":"oct","k":"hostile-test-secret-of-32-bytes!"}', '{"kty":"oct","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE="}',
    '{"kty":"oct","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyF"}',
    '{"kty":"oct","kid":5,"k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}',
    '{"kty":"oct","kid":{"a":1},"k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}',
    '{"kty":"oct","kid":"","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}',
    '{"kty":"oct","alg":5,"k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}',
    '{"kty":"oct","alg":"none","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}',
    '{"kty":"oct","use":["sig"],"k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}',
    '{"kty":"oct","key_ops":"verify","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}',
    '{"kty":"oct","key_ops":[1],"k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}',
    '{"kty":"oct","kid":"hostile-hs","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}',
    '{"keys":[{"kty":"oct","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}]}']) j;
SELECT j, pg_temp.try(format('SELECT auth.import_jwks(%L)', j)) AS import_jwks FROM unnest(ARRAY[
    '{"keys":5}', '{"keys":"a"}', '{"keys":{}}', '{"keys":null}', '{"keys":[]}', '{"keys":[5]}',
    '{"keys":[null]}', '{"keys":[[]]}', '[]', '5', 'null', '{}', '{"kty":"oct"}',
    '{"keys":[{"kty":"oct","kid":"hostile-a","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"},5]}',
    '{"keys":[{"kty":"oct","kid":"hostile-a","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"},{"kty":"oct","kid":"hostile-a","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}]}']) j;
SELECT j, pg_temp.try(format('SELECT auth.sign_jwt(%L)', j)) AS sign_jwt FROM unnest(ARRAY[
    '[]', '5', '"claims"', 'null', 'true', '[{"sub":"x"}]']) j;
-- Numbers jsonb holds but a JSON library may not (1e400), and deep nesting: a clear 22023,
-- never an internal error (XX000).
SELECT what, pg_temp.code('SELECT auth.' || call) AS sqlstate FROM (VALUES
    ('import_key: a member is 1e400', 'import_key(''{"kty":"oct","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE","x":1e400}'')'),
    ('import_key: 200 nested arrays', 'import_key(''{"kty":"oct","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE","x":' || repeat('[', 200) || repeat(']', 200) || '}'')'),
    ('import_jwks: a member is -1e400', 'import_jwks(''{"keys":[{"kty":"oct","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE","x":-1e400}]}'')'),
    ('sign_jwt: a claim is 1e400', 'sign_jwt(''{"sub":"x","n":1e400}'')'),
    ('sign_jwt: 200 nested objects', 'sign_jwt(''{"sub":"x","n":' || repeat('{"a":', 200) || '1' || repeat('}', 200) || '}'')')) AS t(what, call);

-- 4. Hostile Unicode --------------------------------------------------------------------------

-- jsonb itself refuses \u0000 and lone surrogates, before any function runs.
SELECT pg_temp.try($$SELECT auth.import_key('{"kty":"oct","kid":"a\u0000b","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}')$$) AS nul_in_jsonb,
       pg_temp.try($$SELECT auth.import_key('{"kty":"oct","kid":"\ud800","k":"aG9zdGlsZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE"}')$$) AS lone_surrogate_in_jsonb;
-- Control characters, a right-to-left override and a 256-byte kid are valid kids: stored and
-- matched exactly; 257 bytes is refused.
SELECT auth.import_key(jsonb_build_object('kty', 'oct', 'kid', E'rtl\u202Eevil\u0001\u001f\t',
       'k', pg_temp.b64url('hostile: a second secret, 32 byte'))) = E'rtl\u202Eevil\u0001\u001f\t' AS control_kid;
SELECT auth.import_key(jsonb_build_object('kty', 'oct', 'kid', repeat('é', 128),
       'k', pg_temp.b64url('hostile: a third secret, 32 bytes'))) = repeat('é', 128) AS kid_256_bytes;
SELECT pg_temp.try(format('SELECT auth.import_key(%L)', jsonb_build_object('kty', 'oct', 'kid', repeat('é', 128) || 'x',
       'k', pg_temp.b64url('hostile: a fourth secret 32 bytes')))) AS kid_257_bytes;
SELECT auth.verify_jws(auth.sign_jwt('{"sub":"x"}', E'rtl\u202Eevil\u0001\u001f\t')) IS NOT NULL AS control_kid_signs,
       auth.verify_jwt(auth.sign_jwt('{"sub":"x"}', repeat('é', 128))) ->> 'sub' AS long_kid_verifies;

-- Tokens (text) whose JSON holds what PostgreSQL text and jsonb cannot: \u0000, lone surrogates.
-- Refused with 28000 (try_verify_jwt: NULL), inspect_jwt answers; nothing raises anything else.
CREATE TEMP TABLE hostile_tokens (name text, token text);
INSERT INTO hostile_tokens VALUES
    ('nul in kid (unsigned)', pg_temp.b64url('{"alg":"HS256","kid":"hostile-hs\u0000"}') || '.e30.AAAA'),
    ('nul in payload (unsigned)', pg_temp.b64url('{"alg":"HS256","kid":"hostile-hs"}') || '.' || pg_temp.b64url('{"sub":"\u0000"}') || '.AAAA'),
    ('nul in header member name', pg_temp.b64url('{"alg":"HS256","kid":"hostile-hs","\u0000":1}') || '.e30.AAAA'),
    ('lone surrogate in kid', pg_temp.b64url('{"alg":"HS256","kid":"\ud800"}') || '.e30.AAAA'),
    ('lone surrogate in payload', pg_temp.b64url('{"alg":"HS256","kid":"hostile-hs"}') || '.' || pg_temp.b64url('{"sub":"\udfff"}') || '.AAAA'),
    ('rtl override in kid', pg_temp.b64url(E'{"alg":"HS256","kid":"hostile-hs\u202E"}') || '.e30.AAAA'),
    ('raw control chars in header', pg_temp.b64url(E'{"alg":"HS256","kid":"hostile-hs\u0001"}') || '.e30.AAAA'),
    ('overlong kid', pg_temp.b64url('{"alg":"HS256","kid":"' || repeat('k', 300) || '"}') || '.e30.AAAA'),
    ('kid is a number', pg_temp.b64url('{"alg":"HS256","kid":5}') || '.e30.AAAA'),
    ('kid is an object', pg_temp.b64url('{"alg":"HS256","kid":{"kid":"hostile-hs"}}') || '.e30.AAAA'),
    ('alg is an array', pg_temp.b64url('{"alg":["HS256"],"kid":"hostile-hs"}') || '.e30.AAAA'),
    ('header is an array', pg_temp.b64url('[{"alg":"HS256","kid":"hostile-hs"}]') || '.e30.AAAA'),
    ('payload is a number', pg_temp.b64url('{"alg":"HS256","kid":"hostile-hs"}') || '.' || pg_temp.b64url('5') || '.AAAA'),
    ('header not utf-8', pg_temp.b64url('\xff7b7d'::bytea) || '.e30.AAAA'),
    ('signed: nul in a claim', pg_temp.hs_token('{"alg":"HS256","kid":"hostile-hs"}',
        '{"sub":"11111111-1111-1111-1111-111111111111","email":"a\u0000@example.com","role":"authenticated","exp":99999999999}')),
    ('signed: nul in a member name', pg_temp.hs_token('{"alg":"HS256","kid":"hostile-hs"}',
        '{"sub":"11111111-1111-1111-1111-111111111111","\u0000":1,"exp":99999999999}')),
    ('signed: lone surrogate', pg_temp.hs_token('{"alg":"HS256","kid":"hostile-hs"}',
        '{"sub":"\ud800","exp":99999999999}')),
    ('signed: payload is an array', pg_temp.hs_token('{"alg":"HS256","kid":"hostile-hs"}', '[{"exp":99999999999}]')),
    ('signed: exp is a string', pg_temp.hs_token('{"alg":"HS256","kid":"hostile-hs"}', '{"exp":"99999999999"}')),
    ('signed: exp is 1e400', pg_temp.hs_token('{"alg":"HS256","kid":"hostile-hs"}', '{"exp":1e400}')),
    ('signed: exp is nested', pg_temp.hs_token('{"alg":"HS256","kid":"hostile-hs"}', '{"exp":{"exp":99999999999}}')),
    ('signed: deep nesting', pg_temp.hs_token('{"alg":"HS256","kid":"hostile-hs"}',
        '{"exp":99999999999,"x":' || repeat('[', 300) || repeat(']', 300) || '}')),
    ('signed: role is an object', pg_temp.hs_token('{"alg":"HS256","kid":"hostile-hs"}', '{"exp":99999999999,"role":{"r":"anon"}}')),
    ('signed: duplicate exp', pg_temp.hs_token('{"alg":"HS256","kid":"hostile-hs"}', '{"exp":1,"exp":99999999999}'));
SELECT name, pg_temp.code(format('SELECT auth.verify_jwt(%L)', token)) AS verify_jwt,
       pg_temp.try(format('SELECT auth.try_verify_jwt(%L)', token)) AS try_verify_jwt,
       pg_temp.code(format('SELECT auth.authenticate(%L)', token)) AS authenticate,
       pg_temp.try(format('SELECT auth.inspect_jwt(%L) ->> ''valid''', token)) AS inspect_valid
FROM hostile_tokens ORDER BY name;
-- A refused authenticate binds nothing, even for the session.
SELECT name, pg_temp.code(format('SELECT auth.authenticate(%L, is_local => false)', token)) AS authenticate
FROM hostile_tokens WHERE name = 'signed: nul in a claim';
SELECT auth.claims() IS NULL AS claims_null, auth.uid() IS NULL AS uid_null, auth.email() IS NULL AS email_null;
-- (Whatever happened: a good token bound for the transaction replaces any binding, and goes.)
SELECT auth.authenticate(pg_temp.hs_token('{"alg":"HS256","kid":"hostile-hs"}', :'hour_payload')) ->> 'sub' AS rebound;
SELECT auth.claims() IS NULL AS anonymous_again;
-- PostgREST's bearer token: a refused one leaves the request anonymous, nothing raises, and no
-- text value with an embedded NUL ever comes out (auth.email() would otherwise hold "a\0@...").
SELECT name, pg_temp.try(format($$SELECT set_config('request.headers', %L, true) IS NULL OR auth.claims() IS NULL$$,
                                json_build_object('authorization', 'Bearer ' || token)::text)) AS anonymous,
       pg_temp.try(format($$SELECT set_config('request.headers', %L, true) IS NULL OR auth.email() IS NULL$$,
                          json_build_object('authorization', 'Bearer ' || token)::text)) AS no_email
FROM hostile_tokens WHERE name LIKE 'signed: nul%' ORDER BY name;

-- 5. Hostile request.headers (anyone can write it): anonymous, never an error -------------------

SELECT h, pg_temp.try(format($$SELECT set_config('request.headers', %L, true) IS NULL OR auth.claims() IS NULL$$, h)) AS anonymous
FROM unnest(ARRAY['', 'not json', '[]', '5', 'null', '{"authorization":5}', '{"authorization":null}',
    '{"authorization":["Bearer x"]}', '{"authorization":{"Bearer":"x"}}', '{"authorization":""}',
    '{"authorization":"Bearer"}', '{"authorization":"Bearer "}', '{"authorization":"Basic eA=="}',
    '{"authorization":"Bearer a.b.c d.e.f"}', '{"authorization":"Bearer \u0000"}',
    '{"authorization":"Bearer \ud800"}', '{"authorization":"Bearer \u202e"}',
    '{"Authorization":"Bearer x.y.z"}', '{"authorization":"Bearer x.y.z","authorization":"Bearer y"}']) h;

-- 6. Still the same server, the same connection, and nothing half-written -----------------------

SELECT pg_backend_pid() = :backend_pid AS same_backend,
       pg_postmaster_start_time() = :'started' AS no_crash_restart;
SELECT action, CASE kid WHEN :'next_kid' THEN 'next' WHEN :'prev_kid' THEN 'prev' ELSE 'fresh' END AS key,
       detail - 'replaces' AS detail
FROM auth.key_events WHERE id > :first_event AND kid IN (:'next_kid', :'prev_kid', :'fresh_kid') ORDER BY id;
SELECT count(*) FILTER (WHERE kid LIKE 'hostile%') AS hostile_keys,
       count(*) FILTER (WHERE description LIKE 'hostile:%') AS created_here
FROM auth.keys;
