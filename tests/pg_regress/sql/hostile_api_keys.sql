-- Hostile input for the API-key and PostgREST functions (contract sections 4 and 5), as
-- hostile.sql does for signing keys and tokens: NULLs, empty strings, wrong shapes, hostile
-- Unicode, hostile request.headers, calls in the wrong state and without privileges. Each answer
-- is a clear error with the right SQLSTATE (28000 refused keys and tokens, 22023 bad arguments,
-- 55000 refused state, 42501 privilege, PT401 from pre_request) or the documented NULL / empty
-- answer; never a crash, never an internal error (XX000), never a half-written change, and no
-- error message, detail or hint holds a key, a secret or the apikey header, or exceeds 1 KiB
-- (flagged ECHOES A SECRET / TOO LONG). Keys are random: the output never shows them.
-- (10 MB input is in tests/cluster/tests/hostile_api_keys.rs: its output would be too large here.)
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
-- A database of its own: the legacy secret can only be migrated before any key is in use.
\set regress_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS pak_hostile_api_keys;
CREATE DATABASE pak_hostile_api_keys;
DROP ROLE IF EXISTS regress_pak_hostile_nobody;
CREATE ROLE regress_pak_hostile_nobody LOGIN;
\c pak_hostile_api_keys
CREATE EXTENSION pg_auth_keys;
SET auth.jwks_cache_ttl = 0;
SELECT pg_backend_pid() AS backend_pid, pg_postmaster_start_time() AS started \gset

-- pre_request before request.headers was ever set in this session (checked again in section 6).
SELECT auth.pre_request();
\echo :LAST_ERROR_SQLSTATE

-- Fixtures: the legacy secret with its registered anon and service_role keys, then an ES256 key
-- in use; a publishable key, secret keys sealed under a root key and one made without, and
-- revoked keys.
SELECT legacy_kid, standby_kid FROM auth.migrate_legacy_secret('hostile legacy secret, at least 32 characters') \gset
SELECT auth.sign_jwt('{"role":"anon","exp":4102444800}') AS anon_jwt \gset
SELECT auth.sign_jwt('{"role":"service_role","exp":4102444800}') AS service_jwt \gset
SELECT auth.sign_jwt('{"sub":"hostile user","role":"authenticated","exp":4102444800}') AS legacy_user_jwt \gset
SELECT auth.import_legacy_api_key(:'anon_jwt') IS NOT NULL AS anon_registered,
       auth.import_legacy_api_key(:'service_jwt') IS NOT NULL AS service_registered;
SELECT auth.rotate_key(:'standby_kid', force => true) = :'standby_kid' AS rotated;
SELECT auth.sign_jwt('{"sub":"11111111-1111-1111-1111-111111111111","role":"authenticated"}') AS alice \gset
SELECT split_part(:'alice', '.', 1) || '.' ||
       split_part(auth.sign_jwt('{"sub":"22222222-2222-2222-2222-222222222222","role":"authenticated"}'), '.', 2) || '.' ||
       split_part(:'alice', '.', 3) AS forged \gset
SELECT auth.create_api_key('publishable', 'hostile web') AS pk \gset
\set root_key 'hostile root key: at least thirty-two bytes long'
\i :set_root_key
SELECT auth.create_api_key('secret', 'hostile server') AS sk \gset
SELECT auth.create_api_key('secret', 'hostile revoked secret') AS revoked_sk \gset
\set root_key ''
\i :set_root_key
SELECT auth.create_api_key('secret', 'hostile unsealed') AS sk_unsealed \gset
SELECT auth.create_api_key('publishable', 'hostile revoked') AS revoked_pk \gset
SELECT key AS unissued FROM auth_private._new_api_key('secret') \gset
SELECT id AS pk_id FROM auth.api_keys WHERE name = 'hostile web' \gset
SELECT id AS sk_id FROM auth.api_keys WHERE name = 'hostile server' \gset
SELECT id AS unsealed_id FROM auth.api_keys WHERE name = 'hostile unsealed' \gset
SELECT id AS revoked_id FROM auth.api_keys WHERE name = 'hostile revoked' \gset
SELECT id AS anon_id FROM auth.api_keys WHERE name = 'legacy anon' \gset
SELECT id AS revoked_sk_id FROM auth.api_keys WHERE name = 'hostile revoked secret' \gset
SELECT auth.revoke_api_key(:'revoked_id', 'hostile: fixture'), auth.revoke_api_key(:'revoked_sk_id', 'hostile: fixture', true);
SELECT coalesce((SELECT max(id) FROM auth.key_events), 0) AS first_event \gset

-- What no error may contain.
CREATE TEMP TABLE secrets (what text, s text);
GRANT SELECT ON secrets TO regress_pak_hostile_nobody;
INSERT INTO secrets VALUES
    ('publishable key', :'pk'), ('secret key', :'sk'), ('unsealed secret key', :'sk_unsealed'),
    ('revoked key', :'revoked_pk'), ('revoked secret key', :'revoked_sk'), ('unissued key', :'unissued'),
    ('legacy anon key', :'anon_jwt'),
    ('legacy service_role key', :'service_jwt'), ('legacy user token', :'legacy_user_jwt'),
    ('user token', :'alice'), ('forged token', :'forged'),
    ('legacy secret', 'hostile legacy secret, at least 32 characters'),
    ('root key', 'hostile root key: at least thirty-two bytes long');
-- Each secret also appears in no error as its signature (tokens) or its random body (keys).
INSERT INTO secrets SELECT what || ' signature', split_part(s, '.', 3) FROM secrets WHERE s LIKE 'eyJ%';
INSERT INTO secrets SELECT what || ' body', substr(s, length(s) - 37) FROM secrets WHERE s LIKE 'sb\_%';

-- The state every refused call must leave untouched: keys, API keys, the legacy switch, the audit log.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT md5(coalesce((SELECT string_agg(k::text, ',' ORDER BY k.kid) FROM auth_private._keys k), '') || '|' ||
               coalesce((SELECT string_agg(a::text, ',' ORDER BY a.id) FROM auth_private._api_keys a), '') || '|' ||
               coalesce((SELECT string_agg(s::text, ',' ORDER BY s.name) FROM auth_private._switches s), '') || '|' ||
               coalesce((SELECT max(id)::text FROM auth.key_events), ''))
$$;
-- ' ECHOES A SECRET' when an error text holds a secret (or `extra`, e.g. the apikey header
-- sent), ' TOO LONG' when one is over 1 KiB.
CREATE FUNCTION pg_temp.flags(msg text, det text, hnt text, extra text DEFAULT NULL) RETURNS text
LANGUAGE sql AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_temp.secrets x
                             WHERE position(x.s IN concat_ws(' ', msg, det, hnt)) > 0)
                  OR (length(extra) >= 8 AND position(extra IN concat_ws(' ', msg, det, hnt)) > 0)
                THEN ' ECHOES A SECRET' ELSE '' END
        || CASE WHEN greatest(octet_length(msg), octet_length(det), octet_length(hnt)) > 1024
                THEN ' TOO LONG' ELSE '' END
$$;
-- Output shows secrets by name, never by value.
CREATE FUNCTION pg_temp.redact(t text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    x record;
BEGIN
    FOR x IN SELECT * FROM pg_temp.secrets ORDER BY length(s) DESC LOOP
        t := replace(t, x.s, '<' || x.what || '>');
    END LOOP;
    RETURN t;
END $$;
-- Runs `sql` (setting request.headers to `headers` first, transaction-local, when given), then
-- rolls it back: st is 'ok' or the SQLSTATE, msg the first column or the message (redacted),
-- flags as above, plus ' CHANGED' if a successful call modified the fingerprinted state or a
-- refused one left it modified. (A role that cannot read the tables gets no CHANGED check:
-- section 8 fingerprints around its calls instead.)
CREATE FUNCTION pg_temp.attempt(sql text, headers text DEFAULT NULL,
                                OUT st text, OUT msg text, OUT det text, OUT flags text)
LANGUAGE plpgsql AS $$
DECLARE
    can_see boolean := has_table_privilege('auth_private._api_keys', 'SELECT');
    before text := CASE WHEN can_see THEN pg_temp.fingerprint() END;
    after text;
    result text;
    hnt text;
    apikey text;
    caller text := current_user;
BEGIN
    BEGIN
        IF headers IS NOT NULL THEN
            PERFORM set_config('request.headers', headers, true);
        END IF;
        EXECUTE sql INTO result;
        -- pre_request switches to the role of a key that is the only credential: back to the
        -- caller for the fingerprint (the rollback below undoes both).
        IF can_see THEN
            EXECUTE format('SET LOCAL ROLE %I', caller);
        END IF;
        after := CASE WHEN can_see THEN pg_temp.fingerprint() END;
        RAISE EXCEPTION 'pak-undo';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                hnt = PG_EXCEPTION_HINT;
    END;
    BEGIN
        apikey := headers::json ->> 'apikey';
    EXCEPTION WHEN OTHERS THEN
        apikey := NULL;
    END;
    IF msg = 'pak-undo' THEN
        st := 'ok';
        msg := pg_temp.redact(result);
        det := NULL;
        flags := CASE WHEN after <> before THEN ' CHANGED' ELSE '' END;
    ELSE
        flags := pg_temp.flags(msg, det, hnt, apikey)
            || CASE WHEN can_see AND pg_temp.fingerprint() <> before THEN ' CHANGED' ELSE '' END;
        msg := pg_temp.redact(msg);
        det := pg_temp.redact(det);
    END IF;
END $$;
-- 'ok: <first column>' or '<SQLSTATE>: <message>', and the flags.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE a.st WHEN 'ok' THEN 'ok: ' || coalesce(left(a.msg, 60), 'NULL')
                     ELSE a.st || ': ' || left(a.msg, 120) END || a.flags
    FROM pg_temp.attempt(sql) a
$$;
-- The same, for calls whose right message is not settled: only the SQLSTATE and the flags.
CREATE FUNCTION pg_temp.code(sql text) RETURNS text LANGUAGE sql AS $$
    SELECT a.st || a.flags FROM pg_temp.attempt(sql) a
$$;
-- A PostgREST request's pre-request check with these request.headers: 'ok', or
-- 'PT401: <message> (<detail>)' and the flags.
CREATE FUNCTION pg_temp.pre(headers text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE a.st WHEN 'ok' THEN 'ok' ELSE a.st || ': ' || a.msg || coalesce(' (' || a.det || ')', '') END || a.flags
    FROM pg_temp.attempt('SELECT auth.pre_request()', headers) a
$$;
CREATE FUNCTION pg_temp.pre_code(headers text) RETURNS text LANGUAGE sql AS $$
    SELECT a.st || a.flags FROM pg_temp.attempt('SELECT auth.pre_request()', headers) a
$$;

-- Tokens of the legacy secret with any header and payload (include/jose.psql).
\i :jose
CREATE FUNCTION pg_temp.legacy_token(header text, payload text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT pg_temp.hs256_token('hostile legacy secret, at least 32 characters', header, payload) $$;
-- The SQL HMAC agrees with the extension's: a legacy token without kid, as Supabase made them.
-- (A user token of the legacy secret: an hour, within auth.max_token_lifetime.)
SELECT auth.verify_jwt(pg_temp.legacy_token('{"alg":"HS256","typ":"JWT"}',
    format('{"role":"authenticated","exp":%s}', extract(epoch FROM now())::bigint + 3600))) ->> 'role' AS sql_hmac_verifies;

-- 1. NULL for every argument ------------------------------------------------------------------

-- verify_api_key and _verify_api_key are STRICT: no row, no error. The administrative
-- functions refuse a NULL required argument with 22023 and change nothing; role, reason and
-- was_compromised may be NULL (the default role; no reason; not compromised).
SELECT f, pg_temp.try('SELECT ' || f || '::text') AS result FROM unnest(ARRAY[
    '(SELECT count(*) FROM auth.verify_api_key(NULL))', '(SELECT count(*) FROM auth_private._verify_api_key(NULL))',
    'auth.create_api_key(NULL, ''x'')', 'auth.create_api_key(NULL, NULL, NULL)',
    'auth.create_api_key(''secret'', NULL)', 'auth.create_api_key(''publishable'', NULL, ''anon'')',
    'auth.create_api_key(''publishable'', ''x'', NULL) LIKE ''sb\_publishable\_%''',
    'auth.create_api_key(''secret'', ''x'', NULL) LIKE ''sb\_secret\_%''',
    'auth.revoke_api_key(NULL)', 'auth.revoke_api_key(NULL, ''reason'', true)',
    'auth.delete_api_key(NULL)', 'auth.delete_api_key(NULL, NULL, NULL)', 'auth.reveal_api_key(NULL)',
    'auth.set_legacy_api_keys_enabled(NULL)', 'auth.postgrest_pre_config()']) f;
SELECT f, pg_temp.try(format('SELECT %s::text', format(f, :'pk_id'))) AS result FROM unnest(ARRAY[
    'auth.revoke_api_key(%L, NULL, NULL)', 'auth.delete_api_key(%L, NULL, NULL)']) f; -- %L: the publishable key's id
-- The audit records a NULL was_compromised as false, a NULL reason as null.
BEGIN;
SELECT auth.revoke_api_key(:'pk_id', NULL, NULL);
SELECT action, detail -> 'reason' AS reason, detail -> 'was_compromised' AS was_compromised
FROM auth.key_events WHERE id = (SELECT max(id) FROM auth.key_events);
ROLLBACK;
-- import_legacy_api_key(NULL): 22023 like every other required argument, not a NOT NULL
-- violation (23502) of the table it would have written.
SELECT pg_temp.code('SELECT auth.import_legacy_api_key(NULL)::text') AS import_legacy_null;

-- 2. Empty strings and blanks -----------------------------------------------------------------

SELECT f, pg_temp.try('SELECT ' || f || '::text') AS result FROM unnest(ARRAY[
    'auth.verify_api_key('''')', 'auth_private._verify_api_key('''')', 'auth.verify_api_key('' '')',
    'auth.verify_api_key(E''\n'')', 'auth.verify_api_key(''sb_secret_'')', 'auth.verify_api_key(''sb_publishable_'')',
    'auth.verify_api_key(''eyJ..'')', 'auth.verify_api_key(''..'')',
    'auth.create_api_key('''', ''x'')', 'auth.create_api_key('' '', ''x'')', 'auth.create_api_key(''secret'', '''')',
    'auth.create_api_key(''secret'', ''   '')', 'auth.create_api_key(''secret'', ''x'', '''')',
    'auth.create_api_key(''secret'', ''x'', '' '')',
    'auth.revoke_api_key('''')', 'auth.delete_api_key('''')', 'auth.reveal_api_key('''')',
    'auth.import_legacy_api_key('''')', 'auth.import_legacy_api_key('' '')',
    'auth.import_legacy_api_key(''..'')', 'auth.set_legacy_api_keys_enabled('''')']) f;

-- 3. Wrong kinds, roles and shapes ------------------------------------------------------------

-- create_api_key: kind exactly 'publishable' or 'secret'; role in auth.allowed_roles, exactly;
-- a publishable key never maps to service_role; name 1 to 128 characters.
SELECT f, pg_temp.try('SELECT ' || f || '::text') AS result FROM unnest(ARRAY[
    'auth.create_api_key(''legacy'', ''x'')', 'auth.create_api_key(''SECRET'', ''x'')',
    'auth.create_api_key(''secret '', ''x'')', 'auth.create_api_key(''sb_secret_'', ''x'')',
    'auth.create_api_key(''publishable,secret'', ''x'')', 'auth.create_api_key(''{secret}'', ''x'')',
    'auth.create_api_key(''secret'', ''x'', ''postgres'')', 'auth.create_api_key(''secret'', ''x'', ''pg_read_server_files'')',
    'auth.create_api_key(''secret'', ''x'', ''SERVICE_ROLE'')', 'auth.create_api_key(''secret'', ''x'', ''anon,service_role'')',
    'auth.create_api_key(''secret'', ''x'', ''"anon"'')', 'auth.create_api_key(''publishable'', ''x'', ''service_role'')',
    'auth.create_api_key(''publishable'', ''x'', ''authenticated'') LIKE ''sb\_publishable\_%''',
    'auth.create_api_key(''secret'', repeat(''n'', 129))', 'auth.create_api_key(''secret'', repeat(''n'', 128)) LIKE ''sb\_%''',
    'auth.create_api_key(''secret'', ''hostile web'') LIKE ''sb\_%''']) f;
-- A key pasted into the wrong argument is refused without being repeated in the error (nor in
-- the server log).
SELECT what, pg_temp.code(format(call, :'sk')) AS sqlstate FROM (VALUES
    ('secret key as kind', 'SELECT auth.create_api_key(%L, ''x'')'),
    ('secret key as role', 'SELECT auth.create_api_key(''secret'', ''x'', %L)'),
    ('secret key as name, with a tab', 'SELECT auth.create_api_key(''secret'', %L || E''\t'')'),
    ('secret key as a legacy key', 'SELECT auth.import_legacy_api_key(%L)::text')) AS t(what, call);
SELECT what, pg_temp.code(format(call, :'service_jwt')) AS sqlstate FROM (VALUES
    ('legacy key as kind', 'SELECT auth.create_api_key(%L, ''x'')'),
    ('legacy key as role', 'SELECT auth.create_api_key(''secret'', ''x'', %L)'),
    ('legacy key as name', 'SELECT auth.create_api_key(''secret'', %L)')) AS t(what, call);

-- verify_api_key: anything but a live key is refused with 28000, naming the reason only.
CREATE TEMP TABLE presented (n serial, name text, key text);
INSERT INTO presented (name, key) VALUES
    ('publishable key', :'pk'), ('secret key', :'sk'), ('legacy anon key', :'anon_jwt'),
    ('revoked key', :'revoked_pk'), ('revoked secret key', :'revoked_sk'), ('unissued key', :'unissued'),
    ('one character changed', overlay(:'sk' placing CASE WHEN substr(:'sk', 20, 1) = 'a' THEN 'b' ELSE 'a' END FROM 20 FOR 1)),
    ('upper case', upper(:'pk')), ('lower case', lower(:'sk')),
    ('secret prefix on a publishable body', 'sb_secret_' || substr(:'pk', 16)),
    ('publishable prefix on a secret body', 'sb_publishable_' || substr(:'sk', 11)),
    ('one character short', left(:'pk', -1)), ('one character long', :'pk' || 'x'),
    ('leading space', ' ' || :'pk'), ('trailing newline', :'pk' || E'\n'), ('doubled', :'pk' || :'pk'),
    ('the prefix only', 'sb_secret_'), ('38 non-ASCII characters', 'sb_secret_' || repeat('é', 19)),
    ('sb_ in another script', 'ѕb_secret_' || substr(:'sk', 11)),
    ('a legacy user token', :'legacy_user_jwt'), ('a user token', :'alice'), ('a forged token', :'forged'),
    ('legacy key with a space', :'anon_jwt' || ' '), ('legacy key, signature changed', left(:'anon_jwt', -2) || 'AA'),
    ('legacy key, header only', split_part(:'anon_jwt', '.', 1) || '..'),
    ('a JWT with alg none', 'eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYW5vbiJ9.'),
    ('the legacy secret', 'hostile legacy secret, at least 32 characters'),
    ('rtl override inside', overlay(:'pk' placing E'\u202E' FROM 20 FOR 1)),
    ('rtl override in front', E'\u202E' || :'pk'), ('zero-width space at the end', :'pk' || E'\u200B'),
    ('control characters', E'sb_secret_\u0001\u001f\u007f'), ('20000 characters', 'sb_publishable_' || repeat('x', 20000));
SELECT name, pg_temp.try(format('SELECT kind FROM auth.verify_api_key(%L)', key)) AS verify_api_key,
       pg_temp.try(format('SELECT kind FROM auth_private._verify_api_key(%L)', key)) AS _verify_api_key
FROM presented ORDER BY n;
-- PostgreSQL refuses a lone surrogate before any function runs.
SELECT pg_temp.try($$SELECT kind FROM auth.verify_api_key(E'sb_secret_\ud800')$$) AS lone_surrogate;

-- import_legacy_api_key: a JWT of the legacy secret whose role is anon or service_role.
SELECT auth.sign_jwt('{"role":"anon","exp":4102444800}', :'standby_kid') AS es_anon_jwt \gset
CREATE TEMP TABLE legacy_candidates (n serial, name text, jwt text);
INSERT INTO legacy_candidates (name, jwt) VALUES
    ('already registered', :'anon_jwt'), ('a legacy user token', :'legacy_user_jwt'),
    ('not a JWT', 'not a jwt'), ('three empty parts', '..'), ('eyJ.eyJ.x', 'eyJ.eyJ.x'),
    ('signed by the ES256 key', :'es_anon_jwt'), ('forged', :'forged'),
    ('signature changed', left(:'service_jwt', -2) || 'AA'), ('trailing space', :'anon_jwt' || ' '),
    ('alg none', 'eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYW5vbiJ9.'),
    ('an API key', :'pk'), ('rtl override', E'\u202E' || :'anon_jwt'),
    ('no kid, as Supabase made them', pg_temp.legacy_token('{"alg":"HS256","typ":"JWT"}', '{"iss":"supabase","role":"anon","exp":4102444800}')),
    ('no kid, duplicate role', pg_temp.legacy_token('{"alg":"HS256","typ":"JWT"}', '{"role":"anon","role":"service_role","exp":4102444800}')),
    ('no kid, alg HS512', pg_temp.legacy_token('{"alg":"HS512","typ":"JWT"}', '{"role":"anon","exp":4102444800}')),
    ('no kid, alg none', pg_temp.legacy_token('{"alg":"none","typ":"JWT"}', '{"role":"anon","exp":4102444800}')),
    ('kid of the ES256 key', pg_temp.legacy_token(format('{"alg":"HS256","kid":"%s"}', :'standby_kid'), '{"role":"anon","exp":4102444800}')),
    ('kid with an rtl override', pg_temp.legacy_token(format('{"alg":"HS256","kid":"%s\u202e"}', :'legacy_kid'), '{"role":"anon","exp":4102444800}')),
    ('NUL in the role', pg_temp.legacy_token('{"alg":"HS256","typ":"JWT"}', '{"role":"anon\u0000","exp":4102444800}')),
    ('lone surrogate in the role', pg_temp.legacy_token('{"alg":"HS256","typ":"JWT"}', '{"role":"anon\ud800","exp":4102444800}')),
    ('exp a string', pg_temp.legacy_token('{"alg":"HS256","typ":"JWT"}', '{"role":"anon","exp":"4102444800"}')),
    ('payload an array', pg_temp.legacy_token('{"alg":"HS256","typ":"JWT"}', '[{"role":"anon","exp":4102444800}]'));
SELECT name, pg_temp.try(format('SELECT auth.import_legacy_api_key(%L) IS NOT NULL', jwt)) AS import_legacy_api_key
FROM legacy_candidates ORDER BY n;
-- Legacy-secret tokens whose role claim is wrong: 22023 (or 28000 for a role not allowed at all).
SELECT claims, pg_temp.code(format('SELECT auth.import_legacy_api_key(auth.sign_jwt(%L, %L))::text', claims, :'legacy_kid')) AS sqlstate
FROM unnest(ARRAY['{}', '{"role":"authenticated"}', '{"role":"postgres"}', '{"role":5}', '{"role":null}',
    '{"role":["anon"]}', '{"role":{"anon":true}}', '{"role":"ANON"}', '{"role":"anon "}',
    '{"role":"anon","exp":1}']) claims;

-- 4. Hostile Unicode --------------------------------------------------------------------------

-- Kinds and roles are compared exactly: look-alikes and invisible characters are refused.
SELECT f, pg_temp.try('SELECT ' || f || '::text') AS result FROM unnest(ARRAY[
    'auth.create_api_key(E''secret\u202E'', ''x'')', 'auth.create_api_key(E''\u200Bsecret'', ''x'')',
    'auth.create_api_key(''ѕecret'', ''x'')', 'auth.create_api_key(E''secret\u0001'', ''x'')',
    'auth.create_api_key(''secret'', ''x'', ''аnon'')', 'auth.create_api_key(''secret'', ''x'', E''anon\u200B'')',
    'auth.create_api_key(''secret'', ''x'', E''service_role\u202E'')']) f;
-- Names: control characters (C0, DEL, C1) are refused; other Unicode is text, stored as given.
SELECT CASE WHEN length(name) > 30 THEN left(name, 3) || '… (' || length(name) || ' characters)' ELSE name END AS name,
       octet_length(name) AS bytes,
       pg_temp.try(format('SELECT auth.create_api_key(''secret'', %L) LIKE ''sb\_secret\_%%''', name)) AS result
FROM unnest(ARRAY[E'tab\there', E'new\nline', E'bell\u0007', E'del\u007f', E'c1\u0085', E'c1\u009b[31m',
    E'rtl\u202Eevil', E'zero\u200Bwidth', E'\u00A0', E'line\u2028separator', '<script>alert(1)</script>',
    '''; DROP TABLE auth_private._api_keys; --', repeat('𝕏', 128), repeat('𝕏', 129), repeat('é', 128) || 'x']) name;
-- Reasons are free text, audited as given (even control characters: the audit log is jsonb).
SELECT what, pg_temp.try(format('SELECT auth.revoke_api_key(%L, %L, true)', :'pk_id', reason)) AS revoke,
       pg_temp.try(format('SELECT auth.delete_api_key(%L, %L)', :'pk_id', reason)) AS delete
FROM (VALUES ('rtl override', E'rtl\u202Eevil'), ('control characters', E'ctl\u0001\u001f'),
             ('5000 characters', repeat('é', 5000)), ('a secret key', :'sk')) AS t(what, reason);
-- ... and kept exactly (the audit log is jsonb).
BEGIN;
SELECT auth.revoke_api_key(:'pk_id', E'rtl\u202Eevil\u0001\n\\"');
SELECT detail ->> 'reason' = E'rtl\u202Eevil\u0001\n\\"' AS reason_kept FROM auth.key_events WHERE id = (SELECT max(id) FROM auth.key_events);
ROLLBACK;

-- 5. Calls in the wrong state, and reveal with and without a root key ------------------------

SELECT what, pg_temp.try(format('SELECT %s::text', call)) AS result FROM (VALUES
    ('revoke an unknown id', 'auth.revoke_api_key(''00000000-0000-0000-0000-000000000000'')'),
    ('delete an unknown id', 'auth.delete_api_key(''00000000-0000-0000-0000-000000000000'')'),
    ('reveal an unknown id', 'auth.reveal_api_key(''00000000-0000-0000-0000-000000000000'')'),
    ('revoke an unknown id, compromised', 'auth.revoke_api_key(''ffffffff-ffff-ffff-ffff-ffffffffffff'', ''reason'', true)'),
    ('revoke a revoked key', format('auth.revoke_api_key(%L)', :'revoked_id')),
    ('revoke a revoked key, compromised', format('auth.revoke_api_key(%L, ''again'', true)', :'revoked_id')),
    ('delete a revoked key', format('auth.delete_api_key(%L)', :'revoked_id')),
    ('delete a live key', format('auth.delete_api_key(%L, ''cleanup'', false)', :'pk_id')),
    ('revoke a legacy key', format('auth.revoke_api_key(%L)', :'anon_id'))) AS t(what, call);
-- Without auth.root_key (unset, or set empty): nothing can be revealed.
SELECT what, pg_temp.try(format('SELECT auth.reveal_api_key(%L)', id)) AS reveal_without_root_key
FROM (VALUES ('sealed secret key', :'sk_id'::uuid), ('unsealed secret key', :'unsealed_id'::uuid),
             ('publishable key', :'pk_id'::uuid), ('legacy key', :'anon_id'::uuid)) AS k(what, id);
ALTER SYSTEM SET auth.root_key = '';
SELECT pg_reload_conf() AS reloaded \gset
SELECT what, pg_temp.try(format('SELECT auth.reveal_api_key(%L)', id)) AS reveal_with_empty_root_key
FROM (VALUES ('sealed secret key', :'sk_id'::uuid), ('unsealed secret key', :'unsealed_id'::uuid)) AS k(what, id);
-- A secret key made while the root key is empty is not sealed: it can never be revealed.
SELECT pg_temp.try('SELECT auth.create_api_key(''secret'', ''made with an empty root key'') LIKE ''sb\_secret\_%''') AS create_with_empty_root_key;
-- With the right root key: only that live, sealed secret key, and only as the superuser.
\set root_key 'hostile root key: at least thirty-two bytes long'
\i :set_root_key
SELECT what, pg_temp.try(format('SELECT auth.reveal_api_key(%L)', id)) AS reveal
FROM (VALUES ('sealed secret key', :'sk_id'::uuid), ('unsealed secret key', :'unsealed_id'::uuid),
             ('publishable key', :'pk_id'::uuid), ('legacy key', :'anon_id'::uuid),
             ('revoked publishable key', :'revoked_id'::uuid), ('revoked secret key', :'revoked_sk_id'::uuid)) AS k(what, id);
-- A reveal is audited (CHANGED), and a refused one is not.
SELECT pg_temp.try(format('SELECT auth.reveal_api_key(%L) = %L', :'sk_id', :'sk')) AS revealed;
-- A session cannot pick another root key (it is a server setting): any value - too short (in
-- bytes), differing by one byte, hostile Unicode, the right one repeated - is refused with 55P02
-- by set_config and SET LOCAL, and never echoed. (Opening under another root key: api_keys.sql.)
SELECT root_key_is, pg_temp.try(format('SELECT set_config(''auth.root_key'', %L, true) IS NOT NULL AND auth.reveal_api_key(%L) IS NOT NULL', root_key, :'sk_id')) AS set_config,
       pg_temp.try(format('SET LOCAL auth.root_key = %L', root_key)) AS set_local
FROM (VALUES ('31 bytes', repeat('r', 31)), ('31 characters, 32 bytes', repeat('r', 30) || 'é'),
             ('one byte different', 'hostile root key: at least thirty-two bytes lonG'),
             ('with a trailing space', 'hostile root key: at least thirty-two bytes long '),
             ('11 rtl overrides', repeat(E'\u202E', 11)), ('control characters', repeat(E'\u0001', 32)),
             ('the right one twice', repeat('hostile root key: at least thirty-two bytes long', 2))) AS t(root_key_is, root_key);
-- A short root key refuses secret keys only; publishable keys are not sealed.
\set root_key 'short'
\i :set_root_key
SELECT pg_temp.try('SELECT auth.create_api_key(''publishable'', ''x'') LIKE ''sb\_publishable\_%''') AS publishable_with_short_root_key;
SELECT pg_temp.try('SELECT auth.create_api_key(''secret'', ''x'') LIKE ''sb\_secret\_%''') AS secret_with_short_root_key;
\set root_key ''
\i :set_root_key

-- set_legacy_api_keys_enabled: any boolean, transactional and audited, even when unchanged.
SELECT f, pg_temp.try('SELECT ' || f || '::text') AS result FROM unnest(ARRAY[
    'auth.set_legacy_api_keys_enabled(true)', 'auth.set_legacy_api_keys_enabled(false)',
    'auth.set_legacy_api_keys_enabled(''yes'')', 'auth.set_legacy_api_keys_enabled(''maybe'')']) f;

-- 6. Hostile request.headers for pre_request (anyone can write them) --------------------------

-- Every refusal is PT401 with a JSON-able message and a detail naming the reason; nothing else
-- raises, nothing echoes the apikey header.
CREATE TEMP TABLE hostile_headers (n serial, name text, headers text);
INSERT INTO hostile_headers (name, headers) VALUES
    ('empty', ''), ('not JSON', 'not json'), ('an array', '[]'),
    ('an array holding the headers', json_build_array(json_build_object('apikey', :'pk'))::text),
    ('a number', '5'), ('null', 'null'), ('a string', '"apikey"'), ('true', 'true'), ('no headers', '{}'),
    ('truncated JSON', left(json_build_object('apikey', :'pk')::text, -2)),
    ('trailing garbage', json_build_object('apikey', :'pk')::text || 'x'),
    ('10000 nested arrays', repeat('[', 10000) || repeat(']', 10000)),
    ('a 1000-deep header beside the apikey', '{"x":' || repeat('[', 1000) || repeat(']', 1000) || ',"apikey":"' || :'pk' || '"}'),
    ('a 100-deep header beside the apikey', '{"x":' || repeat('[', 100) || repeat(']', 100) || ',"apikey":"' || :'pk' || '"}'),
    ('1e400 beside the apikey', '{"x":1e400,"apikey":"' || :'pk' || '"}'),
    -- the apikey header
    ('apikey: publishable key', json_build_object('apikey', :'pk')::text),
    ('apikey: secret key', json_build_object('apikey', :'sk')::text),
    ('apikey: legacy anon key', json_build_object('apikey', :'anon_jwt')::text),
    ('apikey: legacy service_role key', json_build_object('apikey', :'service_jwt')::text),
    ('apikey: a number', '{"apikey":5}'), ('apikey: null', '{"apikey":null}'), ('apikey: true', '{"apikey":true}'),
    ('apikey: an empty array', '{"apikey":[]}'), ('apikey: an empty object', '{"apikey":{}}'),
    ('apikey: the key in an array', json_build_object('apikey', json_build_array(:'pk'))::text),
    ('apikey: the key in an object', json_build_object('apikey', json_build_object('key', :'pk'))::text),
    ('apikey: empty', '{"apikey":""}'), ('apikey: a space', '{"apikey":" "}'),
    ('apikey: leading space', json_build_object('apikey', ' ' || :'pk')::text),
    ('apikey: trailing newline', json_build_object('apikey', :'pk' || E'\n')::text),
    ('apikey: NUL after the key', '{"apikey":"' || :'pk' || '\u0000"}'),
    ('apikey: NUL only', '{"apikey":"\u0000"}'),
    ('apikey: NUL inside', '{"apikey":"' || left(:'pk', 20) || '\u0000' || substr(:'pk', 21) || '"}'),
    ('apikey: lone high surrogate', '{"apikey":"\ud800"}'),
    ('apikey: lone low surrogate elsewhere', '{"apikey":"' || :'pk' || '","x":"\udfff"}'),
    ('apikey: rtl override in front', json_build_object('apikey', E'\u202E' || :'pk')::text),
    ('apikey: rtl override escaped', '{"apikey":"\u202e' || :'pk' || '"}'),
    ('apikey: revoked key', json_build_object('apikey', :'revoked_pk')::text),
    ('apikey: unissued key', json_build_object('apikey', :'unissued')::text),
    ('apikey: one character changed', json_build_object('apikey', left(:'pk', -1) || CASE WHEN right(:'pk', 1) = 'a' THEN 'b' ELSE 'a' END)::text),
    ('apikey: a user token', json_build_object('apikey', :'alice')::text),
    ('apikey: a legacy user token', json_build_object('apikey', :'legacy_user_jwt')::text),
    ('apikey: the legacy secret', json_build_object('apikey', 'hostile legacy secret, at least 32 characters')::text),
    ('apikey: 20000 characters', json_build_object('apikey', 'sb_publishable_' || repeat('x', 20000))::text),
    -- header names
    ('APIKEY', json_build_object('APIKEY', :'pk')::text), ('ApiKey', json_build_object('ApiKey', :'pk')::text),
    ('api-key', json_build_object('api-key', :'pk')::text), ('api_key', json_build_object('api_key', :'pk')::text),
    ('"apikey " with a space', json_build_object('apikey ', :'pk')::text),
    ('apikey in Cyrillic', json_build_object('аpikey', :'pk')::text),
    ('APİKEY (dotted capital I)', json_build_object('APİKEY', :'pk')::text),
    ('apikey with a NUL in the name', '{"api\u0000key":"' || :'pk' || '"}'),
    -- duplicate members: the last one counts, as for PostgreSQL's json operators and auth.claims()
    ('apikey twice, the valid one last', '{"apikey":"garbage","apikey":"' || :'pk' || '"}'),
    ('apikey twice, the valid one first', '{"apikey":"' || :'pk' || '","apikey":"garbage"}'),
    ('apikey and APIKEY, garbage in APIKEY', '{"APIKEY":"garbage","apikey":"' || :'pk' || '"}'),
    ('apikey and APIKEY, APIKEY a number', '{"APIKEY":5,"apikey":"' || :'pk' || '"}'),
    -- the authorization header
    ('authorization: a user token', json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'alice')::text),
    ('authorization: lower-case bearer', json_build_object('apikey', :'pk', 'authorization', 'bearer ' || :'alice')::text),
    ('authorization: BEARER and spaces', json_build_object('apikey', :'pk', 'authorization', '  BEARER   ' || :'alice' || '  ')::text),
    ('authorization: the apikey', json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'pk')::text),
    ('authorization: a legacy anon key', json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'anon_jwt')::text),
    ('Authorization (capitalised): a user token', json_build_object('apikey', :'pk', 'Authorization', 'Bearer ' || :'alice')::text),
    ('authorization: empty', json_build_object('apikey', :'pk', 'authorization', '')::text),
    ('authorization: Bearer', json_build_object('apikey', :'pk', 'authorization', 'Bearer')::text),
    ('authorization: Bearer and a space', json_build_object('apikey', :'pk', 'authorization', 'Bearer ')::text),
    ('authorization: a tab after Bearer', json_build_object('apikey', :'pk', 'authorization', E'Bearer\t' || :'alice')::text),
    ('authorization: no scheme', json_build_object('apikey', :'pk', 'authorization', :'alice')::text),
    ('authorization: the apikey without a scheme', json_build_object('apikey', :'pk', 'authorization', :'pk')::text),
    ('authorization: Basic', json_build_object('apikey', :'pk', 'authorization', 'Basic ' || :'alice')::text),
    ('authorization: two tokens', json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'alice' || ' ' || :'alice')::text),
    ('authorization: a forged token', json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'forged')::text),
    ('authorization: another API key', json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'sk')::text),
    ('authorization: a revoked key', json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'revoked_pk')::text),
    ('authorization: NUL after the token', '{"apikey":"' || :'pk' || '","authorization":"Bearer ' || :'alice' || '\u0000"}'),
    ('authorization: NUL after the apikey', '{"apikey":"' || :'pk' || '","authorization":"Bearer ' || :'pk' || '\u0000"}'),
    ('authorization: lone surrogate', '{"apikey":"' || :'pk' || '","authorization":"Bearer \ud800"}'),
    ('authorization: rtl override', json_build_object('apikey', :'pk', 'authorization', E'Bearer \u202E' || :'alice')::text),
    ('authorization: 20000 characters', json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || repeat('x', 20000))::text),
    ('authorization twice, the valid one last', '{"apikey":"' || :'pk' || '","authorization":"Bearer ' || :'forged' || '","authorization":"Bearer ' || :'alice' || '"}'),
    ('authorization twice, the valid one first', '{"apikey":"' || :'pk' || '","authorization":"Bearer ' || :'alice' || '","authorization":"Bearer ' || :'forged' || '"}'),
    -- elevated keys from a browser
    ('secret key from a server', json_build_object('apikey', :'sk', 'user-agent', 'curl/8.5.0')::text),
    ('secret key, Origin', json_build_object('apikey', :'sk', 'Origin', 'https://app.example.com')::text),
    ('secret key, origin null', json_build_object('apikey', :'sk', 'origin', NULL)::text),
    ('secret key, SEC-FETCH-SITE a number', json_build_object('apikey', :'sk', 'SEC-FETCH-SITE', 5)::text),
    ('secret key, User-Agent Mozilla', json_build_object('apikey', :'sk', 'User-Agent', 'Mozilla/5.0 (X11)')::text),
    ('legacy service_role key, origin', json_build_object('apikey', :'service_jwt', 'origin', 'https://app.example.com')::text),
    ('publishable key, origin', json_build_object('apikey', :'pk', 'origin', 'https://app.example.com')::text),
    ('legacy anon key, origin', json_build_object('apikey', :'anon_jwt', 'origin', 'https://app.example.com')::text);
CREATE TEMP TABLE pre_answers AS SELECT n, pg_temp.pre(headers) AS answer FROM hostile_headers;
SELECT h.name, a.answer AS pre_request FROM hostile_headers h JOIN pre_answers a USING (n) ORDER BY n;
-- A header that is present but not a string, or present twice under different cases, is not
-- a valid bearer token (nor a browser-free user agent): refused, whichever member JSON object
-- order puts first. (auth.claims() reads the lower-case authorization member; pre_request must
-- not pass a request whose authorization it did not check.)
CREATE TEMP TABLE ambiguous_headers (n serial, name text, headers text);
INSERT INTO ambiguous_headers (name, headers) VALUES
    ('authorization: a number', json_build_object('apikey', :'pk', 'authorization', 5)::text),
    ('authorization: null', json_build_object('apikey', :'pk', 'authorization', NULL)::text),
    ('authorization: an array', json_build_object('apikey', :'pk', 'authorization', json_build_array('Bearer ' || :'alice'))::text),
    ('authorization: an object', json_build_object('apikey', :'pk', 'authorization', json_build_object('Bearer', :'alice'))::text),
    ('Authorization the apikey, authorization forged', '{"apikey":"' || :'pk' || '","Authorization":"Bearer ' || :'pk' || '","authorization":"Bearer ' || :'forged' || '"}'),
    ('Authorization a number, authorization forged', '{"apikey":"' || :'pk' || '","Authorization":5,"authorization":"Bearer ' || :'forged' || '"}'),
    ('Authorization forged, authorization a user token', '{"apikey":"' || :'pk' || '","Authorization":"Bearer ' || :'forged' || '","authorization":"Bearer ' || :'alice' || '"}'),
    ('apikey a number, APIKEY the key', '{"apikey":5,"APIKEY":"' || :'pk' || '"}'),
    ('secret key, user-agent an array', json_build_object('apikey', :'sk', 'user-agent', json_build_array('Mozilla/5.0'))::text);
SELECT name, pg_temp.pre_code(headers) AS pre_request FROM ambiguous_headers ORDER BY n;
-- The same requests as an unprivileged caller, inside a READ ONLY transaction (as PostgREST
-- runs GET requests): the same answers.
GRANT SELECT ON hostile_headers, pre_answers TO regress_pak_hostile_nobody;
BEGIN READ ONLY;
SET LOCAL ROLE regress_pak_hostile_nobody;
SELECT count(*) AS requests, count(*) FILTER (WHERE pg_temp.pre(h.headers) IS DISTINCT FROM a.answer) AS different_answers
FROM hostile_headers h JOIN pre_answers a USING (n);
COMMIT;
-- In the transaction that revokes the key, or disables legacy keys, the next check refuses it.
BEGIN;
SELECT auth.revoke_api_key(:'pk_id', 'hostile: rolled back');
SELECT name, pg_temp.pre(headers) AS pre_request FROM hostile_headers
WHERE name IN ('apikey: publishable key', 'authorization: the apikey') ORDER BY n;
ROLLBACK;
BEGIN;
SELECT auth.set_legacy_api_keys_enabled(false);
SELECT name, pg_temp.pre(headers) AS pre_request FROM hostile_headers
WHERE name IN ('apikey: legacy anon key', 'apikey: legacy service_role key', 'authorization: a legacy anon key') ORDER BY n;
ROLLBACK;
SELECT name, pg_temp.pre(headers) AS pre_request_after_rollbacks FROM hostile_headers
WHERE name IN ('apikey: publishable key', 'apikey: legacy anon key') ORDER BY n;
-- Session-level headers work the same.
SELECT set_config('request.headers', json_build_object('apikey', :'revoked_pk')::text, false) IS NOT NULL AS set_for_the_session;
SELECT pg_temp.try('SELECT auth.pre_request()') AS session_headers;
RESET request.headers;

-- 7. postgrest_pre_config ---------------------------------------------------------------------

-- A public key whose kid holds quotes, backslashes, control characters and an RTL override, and
-- a hostile pgrst.jwt_secret set beforehand: the published value is the JWKS as valid JSON, the
-- kid intact, no private or symmetric member, and it lasts for the transaction only.
SELECT auth.import_key((SELECT public_jwk FROM auth.keys WHERE kid = :'standby_kid') - 'kid'
       || jsonb_build_object('kid', E'q"\\\u202E\u0001\n</script>')) = E'q"\\\u202E\u0001\n</script>' AS hostile_kid_imported;
BEGIN;
SELECT set_config('pgrst.jwt_secret', '{"keys":[{"kty":"oct","k":"aG9zdGlsZQ"}]}', true) IS NOT NULL AS preset,
       set_config('pgrst.jwt_secret_is_base64', 'true', true) IS NOT NULL AS preset_base64;
SELECT auth.postgrest_pre_config();
SELECT current_setting('pgrst.jwt_secret')::jsonb = auth.jwks() AS jwt_secret_is_jwks,
       current_setting('pgrst.jwt_secret_is_base64') AS is_base64,
       jsonb_path_exists(current_setting('pgrst.jwt_secret')::jsonb, '$.keys[*] ? (@.kid == $k)',
                         jsonb_build_object('k', E'q"\\\u202E\u0001\n</script>')) AS hostile_kid_listed,
       jsonb_path_exists(current_setting('pgrst.jwt_secret')::jsonb,
                         '$.keys[*] ? (exists(@.d) || exists(@.k) || @.kty == "oct")') AS private_members,
       (SELECT count(*) FROM pg_temp.secrets WHERE position(s IN current_setting('pgrst.jwt_secret')) > 0) AS secrets_published;
COMMIT;
SELECT coalesce(current_setting('pgrst.jwt_secret', true), '') = '' AS local_to_the_transaction;
BEGIN READ ONLY;
SET LOCAL ROLE regress_pak_hostile_nobody;
SELECT auth.postgrest_pre_config();
SELECT current_setting('pgrst.jwt_secret')::jsonb = auth.jwks() AS nobody_gets_the_jwks;
COMMIT;

-- 8. Without privileges -----------------------------------------------------------------------

-- Every administrative call is refused with 42501 (even with a root key configured), changes
-- nothing; the root key cannot be set or read; what PUBLIC may call works.
\set root_key 'hostile root key: at least thirty-two bytes long'
\i :set_root_key
SELECT pg_temp.fingerprint() AS before_nobody \gset
SET ROLE regress_pak_hostile_nobody;
SELECT what, pg_temp.try(call) AS as_nobody FROM (VALUES
    ('create_api_key', 'SELECT auth.create_api_key(''secret'', ''x'')'),
    ('create_api_key(NULL, NULL)', 'SELECT auth.create_api_key(NULL, NULL)'),
    ('revoke_api_key', format('SELECT auth.revoke_api_key(%L)::text', :'sk_id')),
    ('delete_api_key', format('SELECT auth.delete_api_key(%L)::text', :'sk_id')),
    ('reveal_api_key', format('SELECT auth.reveal_api_key(%L)', :'sk_id')),
    ('reveal_api_key(NULL)', 'SELECT auth.reveal_api_key(NULL)'),
    ('import_legacy_api_key', format('SELECT auth.import_legacy_api_key(%L)::text', :'anon_jwt')),
    ('set_legacy_api_keys_enabled', 'SELECT auth.set_legacy_api_keys_enabled(false)::text'),
    ('set_legacy_api_keys_enabled(NULL)', 'SELECT auth.set_legacy_api_keys_enabled(NULL)::text'),
    ('_new_api_key', 'SELECT key FROM auth_private._new_api_key(''secret'')'),
    ('_legacy_api_key', format('SELECT role FROM auth_private._legacy_api_key(%L)', :'anon_jwt')),
    ('_seal_api_key', format('SELECT encode(auth_private._seal_api_key(%L, ''x''), ''hex'')', :'sk_id')),
    ('_open_api_key', format('SELECT auth_private._open_api_key(%L, ''\x00'')', :'sk_id')),
    ('_request_refusal', 'SELECT auth_private._request_refusal()::text'),
    ('_api_keys_changed', 'SELECT auth_private._api_keys_changed()::text'),
    ('read auth.api_keys', 'SELECT count(*)::text FROM auth.api_keys'),
    ('read auth_private._api_keys', 'SELECT count(*)::text FROM auth_private._api_keys'),
    ('read auth_private._switches', 'SELECT count(*)::text FROM auth_private._switches'),
    ('read auth.key_events', 'SELECT count(*)::text FROM auth.key_events'),
    ('write auth_private._switches', 'INSERT INTO auth_private._switches VALUES (''legacy_api_keys'', false) RETURNING name'),
    ('unrevoke in auth_private._api_keys', 'UPDATE auth_private._api_keys SET revoked_at = NULL RETURNING name'),
    ('delete from auth_private._api_keys', 'DELETE FROM auth_private._api_keys RETURNING name'),
    ('set auth.root_key', 'SELECT set_config(''auth.root_key'', ''a root key of my own, thirty-two bytes long'', false)'),
    ('read auth.root_key', 'SELECT current_setting(''auth.root_key'')'),
    ('show auth.root_key', 'SHOW auth.root_key'),
    ('auth.root_key in pg_settings', 'SELECT count(*)::text FROM pg_settings WHERE name = ''auth.root_key'''),
    ('verify_api_key: publishable key', format('SELECT kind FROM auth.verify_api_key(%L)', :'pk')),
    ('_verify_api_key: secret key', format('SELECT kind FROM auth_private._verify_api_key(%L)', :'sk')),
    ('verify_api_key: legacy anon key', format('SELECT kind FROM auth.verify_api_key(%L)', :'anon_jwt')),
    ('verify_api_key: revoked key', format('SELECT kind FROM auth.verify_api_key(%L)', :'revoked_pk')),
    ('verify_api_key(NULL)', 'SELECT count(*)::text FROM auth.verify_api_key(NULL)'),
    ('postgrest_pre_config', 'SELECT auth.postgrest_pre_config()::text')) AS t(what, call);
RESET ROLE;
SELECT pg_temp.fingerprint() = :'before_nobody' AS nobody_changed_nothing;
\set root_key ''
\i :set_root_key

-- 9. verify_api_key in a parallel worker ------------------------------------------------------

-- verify_api_key is PARALLEL SAFE, so it must answer in a parallel worker too, in every isolation
-- level (the README's 55000 is for a key set that changed under a REPEATABLE READ transaction,
-- and a retry then succeeds): here nothing changed. (PostgreSQL 16 renamed force_parallel_mode
-- to debug_parallel_query.)
SELECT current_setting('server_version_num')::int >= 160000 AS debug_parallel_query \gset
\if :debug_parallel_query
SET debug_parallel_query = on;
\else
SET force_parallel_mode = on;
\endif
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SELECT kind, role FROM auth.verify_api_key(:'pk');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT kind, role FROM auth.verify_api_key(:'sk');
COMMIT;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT kind, role FROM auth.verify_api_key(:'anon_jwt');
COMMIT;
\if :debug_parallel_query
RESET debug_parallel_query;
\else
RESET force_parallel_mode;
\endif
RESET parallel_setup_cost;
RESET parallel_tuple_cost;

-- 10. Still the same server, the same connection, and nothing half-written --------------------

SELECT pg_backend_pid() = :backend_pid AS same_backend,
       pg_postmaster_start_time() = :'started' AS no_crash_restart;
-- The only change that stuck since the fixtures is the hostile kid's import (section 7).
SELECT action, detail ->> 'name' AS name FROM auth.key_events WHERE id > :first_event ORDER BY id;
SELECT name, kind, role, revoked_at IS NOT NULL AS revoked FROM auth.api_keys ORDER BY created_at, name;
SELECT coalesce((SELECT enabled FROM auth_private._switches WHERE name = 'legacy_api_keys'), true) AS legacy_enabled;
SELECT count(*) AS events_holding_a_secret FROM auth.key_events e, pg_temp.secrets x
WHERE position(x.s IN e.detail::text) > 0;

\c :regress_db
DROP DATABASE pak_hostile_api_keys;
DROP ROLE regress_pak_hostile_nobody;
