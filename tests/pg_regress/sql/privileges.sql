-- Privileges: what a role with nothing but USAGE on schema auth (which the extension grants to
-- PUBLIC) can do, what a key administrator can do, and that no caller's search_path reaches the
-- code that runs with the extension owner's rights.
--
-- Everything below is derived from the catalog (pg_depend on the extension), so a function,
-- table or setting added later is covered without editing this file. The one list kept by hand
-- is pg_temp.public_functions: what PUBLIC may execute (sql/finalize.sql, section 4, and
-- sql/api_keys.sql). Add a function there only if it is meant for everyone.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
\i :es1_in_use
SET auth.jwks_cache_ttl = 0;

CREATE ROLE regress_pak_nobody LOGIN;
CREATE ROLE regress_pak_admin LOGIN;
SELECT auth.grant_admin('regress_pak_admin');

CREATE FUNCTION pg_temp.public_functions() RETURNS SETOF regprocedure LANGUAGE sql AS $$
    SELECT f::regprocedure FROM unnest(ARRAY[
        'auth.version()', 'auth.verify_jwt(text)', 'auth.try_verify_jwt(text)',
        'auth.verify_jws(text)', 'auth.inspect_jwt(text)', 'auth.authenticate(text, boolean)',
        'auth.claims()', 'auth.uid()', 'auth.role()', 'auth.email()', 'auth.jwt()',
        'auth.jwks()', 'auth.stats()', 'auth_private._public_jwk(text, bytea, text)',
        -- API keys and PostgREST (contract sections 4 and 5); _verify_api_key is what the SQL
        -- function verify_api_key calls, as the caller.
        'auth.verify_api_key(text)', 'auth_private._verify_api_key(text)', 'auth.pre_request()',
        'auth.postgrest_pre_config()',
        -- pre_request runs as the caller (to switch the role) and asks _pre_request, which
        -- returns a refusal or a role, no secret; api_key_token: the key is the credential.
        'auth_private._pre_request()', 'auth.api_key_token(text, interval)',
        -- Token revocations (contract section 5a): the caller's own tokens only.
        'auth.sign_out()'
    ]) AS f
$$;

-- Every function of the extension, with a call that passes a harmless non-NULL value for each
-- argument of a known type, else a typed NULL (a NULL constant lets the planner fold a STRICT
-- call away before the privilege check: such calls are listed below, add their types here).
CREATE FUNCTION pg_temp.extension_functions()
RETURNS TABLE (fn regprocedure, is_internal boolean, call text) LANGUAGE sql AS $$
    SELECT p.oid::regprocedure, p.proname LIKE '\_%',
           format('SELECT %I.%I(%s)', n.nspname, p.proname, coalesce((
               SELECT string_agg(CASE format_type(t, NULL)
                        WHEN 'text' THEN '''x''::text'
                        WHEN 'name' THEN '''x''::name'
                        WHEN 'jsonb' THEN '''{}''::jsonb'
                        WHEN 'bytea' THEN '''\x00''::bytea'
                        WHEN 'boolean' THEN 'false'
                        WHEN 'bigint' THEN '0::bigint'
                        WHEN 'integer' THEN '0'
                        WHEN 'interval' THEN '''1 second''::interval'
                        WHEN 'uuid' THEN '''00000000-0000-0000-0000-000000000000''::uuid'
                        WHEN 'auth.key_state' THEN '''standby''::auth.key_state'
                        WHEN 'anyelement' THEN '''x''::text'
                        ELSE format('NULL::%s', format_type(t, NULL)) END, ', ' ORDER BY i)
               FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i)), ''))
    FROM pg_depend d
    JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
      AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_auth_keys')
$$;

-- Runs `sql` and always rolls it back; returns 'ok' or the SQLSTATE and message. (Operators are
-- schema-qualified: section 4 calls it under a search_path full of look-alikes.)
CREATE FUNCTION pg_temp.attempt(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
BEGIN
    BEGIN
        EXECUTE sql;
        RAISE EXCEPTION 'pak-undo';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        IF msg OPERATOR(pg_catalog.=) 'pak-undo' THEN
            RETURN 'ok';
        END IF;
        RETURN pg_catalog.concat(st, ': ', msg);
    END;
END $$;

-- What unprivileged calls returned, for the secrets check at the end.
CREATE TEMP TABLE seen (what text, output text);
GRANT INSERT, SELECT ON seen TO regress_pak_nobody, regress_pak_admin;

-- 1. The catalog -------------------------------------------------------------------------------

-- Every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp (nothing expected).
SELECT fn, p.proconfig FROM pg_temp.extension_functions() JOIN pg_proc p ON p.oid = fn
WHERE p.prosecdef AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false);
SELECT count(*) > 5 AS has_security_definer_functions
FROM pg_temp.extension_functions() JOIN pg_proc p ON p.oid = fn WHERE p.prosecdef;

-- Functions PUBLIC can execute that are not meant for PUBLIC: a missing REVOKE (nothing expected).
SELECT fn AS executable_by_public FROM pg_temp.extension_functions() JOIN pg_proc p ON p.oid = fn
WHERE (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
                                   WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))
  AND fn NOT IN (SELECT pg_temp.public_functions())
ORDER BY 1::text;
-- ... nor through a grant to some role the unprivileged role belongs to.
SELECT fn AS executable_by_nobody FROM pg_temp.extension_functions()
WHERE has_function_privilege('regress_pak_nobody', fn, 'EXECUTE')
  AND fn NOT IN (SELECT pg_temp.public_functions())
ORDER BY 1::text;
-- Every function of the list exists and belongs to the extension (nothing expected).
SELECT f AS listed_but_not_in_extension FROM pg_temp.public_functions() f
WHERE f NOT IN (SELECT fn FROM pg_temp.extension_functions());
-- Every STRICT function gets non-NULL arguments (nothing expected).
SELECT fn, call FROM pg_temp.extension_functions() JOIN pg_proc p ON p.oid = fn
WHERE p.proisstrict AND call LIKE '%NULL::%';

-- 2. A role with nothing but USAGE on auth -----------------------------------------------------

SET ROLE regress_pak_nobody;
SELECT has_schema_privilege('auth', 'USAGE') AS usage_on_auth,
       has_schema_privilege('auth', 'CREATE') AS create_on_auth;

-- Every function not meant for PUBLIC is refused with 42501 (nothing expected). A function
-- taking `internal` (the planner support function) cannot be called from SQL at all; the
-- has_function_privilege check above covers it.
INSERT INTO seen
SELECT 'call ' || fn::text, pg_temp.attempt(call)
FROM pg_temp.extension_functions() JOIN pg_proc p ON p.oid = fn
WHERE fn NOT IN (SELECT pg_temp.public_functions())
  AND NOT 'internal'::regtype = ANY (p.proargtypes::regtype[]);
SELECT what, output FROM seen WHERE what LIKE 'call %' AND output NOT LIKE '42501: %' ORDER BY 1;
SELECT count(*) >= 20 AS admin_functions_refused FROM seen WHERE output LIKE '42501: permission denied for function %';

-- Every table, view and sequence of the extension: read, written, truncated directly, each
-- refused with 42501 (nothing expected).
CREATE TEMP VIEW extension_relations AS
SELECT c.oid::regclass AS rel, c.relkind,
       (SELECT quote_ident(attname) FROM pg_attribute
        WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped AND attidentity = ''
          AND attgenerated = '' ORDER BY attnum LIMIT 1) AS col
FROM pg_class c
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND (c.oid IN (SELECT objid FROM pg_depend
                 WHERE classid = 'pg_class'::regclass AND refclassid = 'pg_extension'::regclass
                   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_auth_keys'))
       OR c.relnamespace = 'auth'::regnamespace);
INSERT INTO seen
SELECT format('%s %s', a.action, r.rel), pg_temp.attempt(format(a.sql, r.rel, r.col))
FROM extension_relations r
CROSS JOIN (VALUES ('select', 'SELECT * FROM %s LIMIT 1', NULL),
                   ('insert', 'INSERT INTO %s DEFAULT VALUES', NULL),
                   ('update', 'UPDATE %s SET %2$s = %2$s', NULL),
                   ('delete', 'DELETE FROM %s', NULL),
                   ('truncate', 'TRUNCATE %s', 'table'),
                   ('nextval', 'SELECT nextval(''%s'')', 'sequence'),
                   ('setval', 'SELECT setval(''%s'', 1)', 'sequence')) AS a(action, sql, only_for)
WHERE (a.only_for IS NULL AND r.relkind <> 'S')
   OR (a.only_for = 'table' AND r.relkind IN ('r', 'p'))
   OR (a.only_for = 'sequence' AND r.relkind = 'S')
   OR (a.action = 'select' AND r.relkind = 'S');
SELECT what, output FROM seen
WHERE what ~ '^(select|insert|update|delete|truncate|nextval|setval) ' AND output NOT LIKE '42501: %'
ORDER BY 1;
SELECT count(*) FILTER (WHERE what LIKE '% auth_private._keys') AS attempts_on_keys_table,
       count(*) FILTER (WHERE what LIKE '% auth.key_events' OR what LIKE '% auth_private.key_events') AS attempts_on_audit,
       count(*) FILTER (WHERE what LIKE '% auth.keys') AS attempts_on_keys_view
FROM seen WHERE output LIKE '42501: %';

-- Nothing can be created in schema auth.
SELECT pg_temp.attempt('CREATE TABLE auth.mine (x int)') AS create_table,
       pg_temp.attempt('CREATE FUNCTION auth.uid(x int) RETURNS uuid LANGUAGE sql AS $f$ SELECT NULL::uuid $f$') AS create_function;

-- Settings that decide what is trusted are superuser-only (each refused; nothing expected).
SELECT name, pg_temp.attempt(format('SELECT set_config(%L, %L, false)', name, coalesce(reset_val, '')))
FROM pg_settings WHERE name LIKE 'auth.%' AND context = 'superuser'
  AND pg_temp.attempt(format('SELECT set_config(%L, %L, false)', name, coalesce(reset_val, ''))) NOT LIKE '42501: %';
RESET ROLE;
SELECT count(*) >= 9 AS superuser_settings FROM pg_settings WHERE name LIKE 'auth.%' AND context = 'superuser';
SET ROLE regress_pak_nobody;
SELECT pg_temp.attempt('SELECT current_setting(''auth.root_key'')') AS read_root_key;

-- What PUBLIC may call works, and shows public material only.
RESET ROLE;
-- The RFC 7515 A.3 P-256 key (its d member is the secret) and a known HS256 secret.
SELECT auth.import_key('{"kty":"EC","crv":"P-256","kid":"priv-es",
  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
  "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}');
SELECT auth.import_key('{"kty":"oct","kid":"priv-hs","k":"cHJpdmlsZWdlcy10ZXN0LXNlY3JldC0zMi1ieXRlcy0hIQ"}');
SELECT auth.sign_jwt('{"sub":"11111111-1111-1111-1111-111111111111","role":"authenticated","email":"a@example.com"}', 'priv-es') AS es_token \gset
SELECT auth.sign_jwt('{"sub":"11111111-1111-1111-1111-111111111111","role":"authenticated"}', 'priv-hs') AS hs_token \gset
SET ROLE regress_pak_nobody;
INSERT INTO seen VALUES
    ('jwks', auth.jwks()::text),
    ('inspect es', auth.inspect_jwt(:'es_token')::text),
    ('inspect hs', auth.inspect_jwt(:'hs_token')::text),
    ('verify es', auth.verify_jwt(:'es_token')::text),
    ('verify hs', auth.verify_jwt(:'hs_token')::text),
    ('verify_jws', encode(auth.verify_jws(:'hs_token'), 'escape')),
    ('authenticate', auth.authenticate(:'hs_token')::text),
    ('stats', auth.stats()::text),
    ('public_jwk', auth_private._public_jwk('HS256', '\x00'::bytea, 'x')::text),
    ('bad signature', pg_temp.attempt(format('SELECT auth.verify_jwt(%L)', :'hs_token' || 'x'))),
    ('bad kid', pg_temp.attempt(format('SELECT auth.verify_jwt(%L)', replace(:'hs_token', 'J', 'K'))));
SELECT what, output IS NOT NULL AS answered FROM seen
WHERE what IN ('verify es', 'verify hs', 'verify_jws', 'authenticate', 'jwks', 'stats') ORDER BY 1;
-- The JWKS has public members only, and no symmetric key at all.
SELECT jsonb_path_exists(auth.jwks(), '$.keys[*] ? (exists(@.d) || exists(@.k) || exists(@.p) || exists(@.q) || exists(@.dp) || exists(@.dq) || exists(@.qi) || @.kty == "oct")') AS private_members,
       auth.jwks() @> '{"keys":[{"kid":"priv-es","kty":"EC","use":"sig"}]}' AS lists_priv_es,
       jsonb_path_exists(auth.jwks(), '$.keys[*] ? (@.kid == "priv-hs")') AS lists_priv_hs;
RESET ROLE;

-- No private key or secret, in any encoding, appears in anything the unprivileged role saw
-- (nothing expected).
CREATE TEMP TABLE secrets AS
SELECT kid, s FROM auth_private._keys k,
LATERAL (SELECT m FROM (VALUES (k.private_key), (CASE WHEN k.alg LIKE 'HS%' THEN k.verify_key END)) v(m) WHERE m IS NOT NULL) mat,
LATERAL (VALUES (encode(mat.m, 'hex')), (translate(encode(mat.m, 'base64'), E'\n', '')),
                (rtrim(translate(encode(mat.m, 'base64'), E'+/\n', '-_'), '='))) e(s);
INSERT INTO secrets VALUES ('priv-es', 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI'),
                           ('priv-hs', 'cHJpdmlsZWdlcy10ZXN0LXNlY3JldC0zMi1ieXRlcy0hIQ'),
                           ('priv-hs', 'privileges-test-secret-32-bytes-!!');
SELECT count(DISTINCT kid) >= 2 AS secrets_known FROM secrets;
SELECT seen.what, secrets.kid FROM seen JOIN secrets ON strpos(seen.output, secrets.s) > 0 ORDER BY 1, 2;
SELECT count(*) > 40 AS outputs_checked FROM seen;

-- 3. A key administrator (auth.grant_admin) ----------------------------------------------------

SET ROLE regress_pak_admin;
-- Administrative functions are granted, internal ones and grant_admin are not (nothing expected).
SELECT fn, pg_temp.attempt(call) FROM pg_temp.extension_functions()
WHERE (is_internal OR fn = 'auth.grant_admin(name)'::regprocedure)
  AND fn NOT IN (SELECT pg_temp.public_functions())
  AND NOT (has_function_privilege(fn, 'EXECUTE') IS FALSE AND fn::text LIKE '%(internal)')
  AND pg_temp.attempt(call) NOT LIKE '42501: %';
SELECT pg_temp.attempt('SELECT count(*) FROM auth_private._keys') AS read_keys_table,
       pg_temp.attempt('SELECT count(*) FROM auth.keys') AS read_keys_view,
       pg_temp.attempt('SELECT count(*) FROM auth.key_events') AS read_audit,
       pg_temp.attempt('DELETE FROM auth.key_events') AS erase_audit,
       pg_temp.attempt('UPDATE auth.keys SET state = ''in_use''') AS write_keys_view;

-- 4. search_path cannot reach what runs with the owner's rights ---------------------------------

-- The administrator owns a schema of look-alikes: every one records that it ran.
RESET ROLE;
CREATE TEMP TABLE in_use_before AS SELECT kid FROM auth.keys WHERE state = 'in_use';
-- The rotation guard must read the real setting (a look-alike current_setting says 0).
SET auth.jwks_cache_ttl = '20min';
CREATE SCHEMA regress_evil AUTHORIZATION regress_pak_admin;
SET ROLE regress_pak_admin;
CREATE TABLE regress_evil.calls (fn text, as_user name DEFAULT current_user);
CREATE FUNCTION regress_evil.called(fn text) RETURNS void LANGUAGE sql
AS $$ INSERT INTO regress_evil.calls (fn) VALUES (fn) $$;
CREATE FUNCTION regress_evil.now() RETURNS timestamptz LANGUAGE sql
AS $$ SELECT regress_evil.called('now'); SELECT 'epoch'::timestamptz $$;
CREATE FUNCTION regress_evil.gen_random_uuid() RETURNS uuid LANGUAGE sql
AS $$ SELECT regress_evil.called('gen_random_uuid'); SELECT '00000000-0000-0000-0000-000000000000'::uuid $$;
CREATE FUNCTION regress_evil.convert_to(text, text) RETURNS bytea LANGUAGE sql
AS $$ SELECT regress_evil.called('convert_to'); SELECT '\x00'::bytea $$;
CREATE FUNCTION regress_evil.current_setting(text) RETURNS text LANGUAGE sql
AS $$ SELECT regress_evil.called('current_setting'); SELECT '0'::text $$;
CREATE FUNCTION regress_evil.to_regproc(text) RETURNS regproc LANGUAGE sql
AS $$ SELECT regress_evil.called('to_regproc'); SELECT NULL::regproc $$;
CREATE FUNCTION regress_evil.ceil(numeric) RETURNS numeric LANGUAGE sql
AS $$ SELECT regress_evil.called('ceil'); SELECT 0::numeric $$;
CREATE FUNCTION regress_evil.jsonb_build_object(VARIADIC text[]) RETURNS jsonb LANGUAGE sql
AS $$ SELECT regress_evil.called('jsonb_build_object(text[])'); SELECT '{}'::jsonb $$;
CREATE FUNCTION regress_evil.jsonb_build_object(text, text, text, boolean) RETURNS jsonb LANGUAGE sql
AS $$ SELECT regress_evil.called('jsonb_build_object(t,t,t,b)'); SELECT '{}'::jsonb $$;
CREATE FUNCTION regress_evil.jsonb_build_object(text, text, text, text, text, text, text, boolean) RETURNS jsonb LANGUAGE sql
AS $$ SELECT regress_evil.called('jsonb_build_object(7t,b)'); SELECT '{}'::jsonb $$;
CREATE FUNCTION regress_evil.jsonb_build_object(text, text) RETURNS jsonb LANGUAGE sql
AS $$ SELECT regress_evil.called('jsonb_build_object(t,t)'); SELECT '{}'::jsonb $$;
CREATE FUNCTION regress_evil.jsonb_build_object(text, text, text, auth.key_state) RETURNS jsonb LANGUAGE sql
AS $$ SELECT regress_evil.called('jsonb_build_object(t,t,t,key_state)'); SELECT '{}'::jsonb $$;
CREATE FUNCTION regress_evil.text_eq(text, text) RETURNS boolean LANGUAGE sql
AS $$ SELECT regress_evil.called('= (text)'); SELECT true $$;
CREATE OPERATOR regress_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_evil.text_eq);
CREATE FUNCTION regress_evil.state_ne(auth.key_state, auth.key_state) RETURNS boolean LANGUAGE sql
AS $$ SELECT regress_evil.called('<> (key_state)'); SELECT false $$;
CREATE OPERATOR regress_evil.<> (LEFTARG = auth.key_state, RIGHTARG = auth.key_state, FUNCTION = regress_evil.state_ne);
CREATE FUNCTION regress_evil.interval_lt(interval, interval) RETURNS boolean LANGUAGE sql
AS $$ SELECT regress_evil.called('< (interval)'); SELECT false $$;
CREATE OPERATOR regress_evil.< (LEFTARG = interval, RIGHTARG = interval, FUNCTION = regress_evil.interval_lt);
CREATE FUNCTION regress_evil.jsonb_concat(jsonb, jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT regress_evil.called('|| (jsonb)'); SELECT '{}'::jsonb $$;
CREATE OPERATOR regress_evil.|| (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = regress_evil.jsonb_concat);
CREATE FUNCTION regress_evil.agg_step(jsonb, jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT regress_evil.called('jsonb_agg'); SELECT '[]'::jsonb $$;
CREATE AGGREGATE regress_evil.jsonb_agg(jsonb) (SFUNC = regress_evil.agg_step, STYPE = jsonb);
-- pg_temp: searched first for relations and types unless listed; look-alike tables too.
CREATE TEMP TABLE _keys (kid text, state text);
CREATE TEMP TABLE key_events (id int);

-- With the look-alikes first in search_path, unqualified SQL picks them ...
SET search_path = regress_evil, pg_catalog, public;
SELECT now() = 'epoch' AS shadowed_now, 'a' = 'b' AS shadowed_equals;
SELECT count(*) AS look_alikes_work FROM regress_evil.calls;
TRUNCATE regress_evil.calls;
-- ... but no function of the extension does, whatever it runs.
SELECT auth.import_key('{"kty":"OKP","crv":"Ed25519","kid":"priv-ed",
  "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}') AS imported;
SELECT auth.create_key('EdDSA', 'made under a hostile search_path') AS evil_kid \gset
SELECT auth.rotate_key(:'evil_kid', force => true) AS rotated_kid \gset
SELECT auth.sign_jwt('{"sub":"11111111-1111-1111-1111-111111111111","role":"authenticated"}') AS evil_token \gset
SELECT auth.verify_jwt(:'evil_token') ->> 'sub' AS verified_sub;
SELECT auth.inspect_jwt(:'evil_token') ->> 'valid' AS inspected;
SELECT auth.authenticate(:'evil_token') IS NOT NULL AS authenticated, auth.uid() IS NOT NULL AS uid,
       auth.role() AS role, auth.claims() IS NOT NULL AS claims;
SELECT auth.jwks() @> '{"keys":[{"kid":"priv-ed"}]}' AS jwks_lists_priv_ed;
SELECT auth.move_key('priv-ed', 'previously_used');
SELECT auth.revoke_key('priv-ed', force => true);
SELECT auth.delete_key('priv-ed');
-- After those changes the key set and the API keys are read again, under this search_path.
SELECT auth.verify_jwt(:'evil_token') ->> 'sub' AS verified_after_changes;
SELECT left(pg_temp.attempt('SELECT auth.verify_api_key(''eyJhbGciOiJIUzI1NiJ9.e30.AAAA'')'), 5) AS api_key_check;
SELECT left(pg_temp.attempt('SELECT auth.rotate_key(''priv-hs'')'), 5) AS rotate_guard_still_applies;
-- Nothing expected: no look-alike ran.
SELECT fn, as_user FROM regress_evil.calls ORDER BY fn;
RESET search_path;
SELECT length(:'evil_kid') AS kid_length, :'rotated_kid' = :'evil_kid' AS rotated,
       (SELECT state FROM auth.keys WHERE kid = :'evil_kid') AS evil_kid_state,
       (SELECT count(*) FROM auth.keys WHERE kid = 'priv-ed') AS priv_ed_left;
RESET ROLE;
-- Put back the key that was in use before this section, for whatever runs after this file.
DO $$
DECLARE
    prev text := (SELECT kid FROM pg_temp.in_use_before);
BEGIN
    IF prev IS NOT NULL AND (SELECT state FROM auth.keys WHERE kid = prev) = 'previously_used' THEN
        PERFORM auth.move_key(prev, 'standby');
        PERFORM auth.rotate_key(prev, force => true);
    END IF;
END $$;
SELECT count(*) = count(*) FILTER (WHERE kid = (SELECT kid FROM pg_temp.in_use_before)) AS in_use_restored
FROM auth.keys WHERE state = 'in_use';
RESET auth.jwks_cache_ttl;

-- A role with no privilege at all shadows built-in type names in pg_temp (searched before
-- pg_catalog when search_path does not list it). Loading the key set after a change, which
-- reads auth_private._keys with the owner's rights, must not resolve a type name through it.
SET ROLE regress_pak_nobody;
CREATE TEMP TABLE type_log (typ pg_catalog.text, as_user pg_catalog.name);
CREATE FUNCTION pg_temp.logged(typ pg_catalog.text) RETURNS pg_catalog.bool LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pg_temp.type_log VALUES (typ, current_user);
    RETURN true;
END $$;
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.logged('text'));
CREATE DOMAIN pg_temp.bytea AS pg_catalog.bytea CHECK (pg_temp.logged('bytea'));
CREATE DOMAIN pg_temp.name AS pg_catalog.name CHECK (pg_temp.logged('name'));
CREATE DOMAIN pg_temp.uuid AS pg_catalog.uuid CHECK (pg_temp.logged('uuid'));
CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (pg_temp.logged('jsonb'));
CREATE DOMAIN pg_temp.timestamptz AS pg_catalog.timestamptz CHECK (pg_temp.logged('timestamptz'));
CREATE DOMAIN pg_temp.int8 AS pg_catalog.int8 CHECK (pg_temp.logged('int8'));
RESET ROLE;
-- Two committed key changes (ending where they started) make every session reload the set.
SELECT (auth.stats() ->> 'key_set_loads')::pg_catalog.int8 AS loads_before \gset
SELECT auth.move_key('priv-hs', 'previously_used');
SELECT auth.move_key('priv-hs', 'standby');
SET ROLE regress_pak_nobody;
SELECT auth.try_verify_jwt(:'hs_token') ->> 'sub' AS still_verifies;
SELECT left(pg_temp.attempt('SELECT auth.verify_api_key(''eyJhbGciOiJIUzI1NiJ9.e30.AAAA'')'), 5) AS api_key_check;
SELECT (auth.stats() ->> 'key_set_loads')::pg_catalog.int8 > :loads_before AS key_set_reloaded;
-- Nothing expected: no look-alike type ran, least of all as the owner of auth_private._keys.
SELECT typ, as_user FROM pg_temp.type_log WHERE as_user <> current_user ORDER BY 1, 2;
DROP DOMAIN pg_temp.text, pg_temp.bytea, pg_temp.name, pg_temp.uuid, pg_temp.jsonb,
    pg_temp.timestamptz, pg_temp.int8;
RESET ROLE;

-- Clean up what this file made (keys stay: the audit keeps their history anyway).
DROP SCHEMA regress_evil CASCADE;
DROP OWNED BY regress_pak_nobody, regress_pak_admin;
DROP ROLE regress_pak_nobody, regress_pak_admin;
