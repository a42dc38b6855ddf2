-- pg_auth_keys 0.1.0 -> 0.2.0: API keys and the PostgREST hooks (contract §4, §5), claims
-- functions evaluated once per statement, stricter argument checks.
\echo Use "ALTER EXTENSION pg_auth_keys UPDATE TO '0.2.0'" to load this file. \quit

-- New tables (as in sql/bootstrap.sql) ------------------------------------------------------

-- API keys (contract §4). Only the SHA-256 of each key is kept: a key has about 190 random
-- bits, so a fast hash cannot be reversed. A secret key is also kept sealed (AES-256-GCM under
-- auth.root_key) when a root key was configured at creation, so auth.reveal_api_key can show it.
CREATE TABLE auth._api_keys (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind       text NOT NULL CHECK (kind IN ('publishable', 'secret', 'legacy')),
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 128),
    -- What people recognise a key by (sb_secret_AbCd…); never enough to use it.
    prefix     text NOT NULL,
    role       name NOT NULL,
    key_hash   bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    sealed_key bytea CHECK (sealed_key IS NULL OR kind = 'secret'),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
REVOKE ALL ON auth._api_keys FROM PUBLIC;

-- Switches that are not settings because they must be transactional and the same in every
-- session; a missing row means the default. Today only 'legacy_api_keys' (default enabled).
CREATE TABLE auth._switches (
    name    text PRIMARY KEY CHECK (name IN ('legacy_api_keys')),
    enabled boolean NOT NULL
);
REVOKE ALL ON auth._switches FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('auth._api_keys', '');
SELECT pg_catalog.pg_extension_config_dump('auth._switches', '');

-- New functions in Rust (as pgrx generates them) ----------------------------------------------

CREATE FUNCTION auth._api_keys_changed() RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_api_keys_changed_wrapper';

CREATE FUNCTION auth._claims_support(
	"request" internal /* pgrx :: Internal */
) RETURNS internal /* pgrx :: Internal */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_claims_support_wrapper';

CREATE FUNCTION auth._legacy_api_key(
	"jwt" TEXT /* & str */
) RETURNS TABLE (
	"key_hash" bytea,  /* Vec < u8 > */
	"role" TEXT,  /* String */
	"prefix" TEXT  /* String */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_legacy_api_key_wrapper';

CREATE FUNCTION auth._new_api_key(
	"kind" TEXT /* & str */
) RETURNS TABLE (
	"key" TEXT,  /* String */
	"prefix" TEXT,  /* String */
	"key_hash" bytea  /* Vec < u8 > */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_new_api_key_wrapper';

CREATE FUNCTION auth._open_api_key(
	"id" uuid, /* pgrx :: Uuid */
	"sealed" bytea /* & [u8] */
) RETURNS TEXT /* String */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_open_api_key_wrapper';

CREATE FUNCTION auth._request_refusal() RETURNS jsonb /* Option < pgrx :: JsonB > */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_request_refusal_wrapper';

CREATE FUNCTION auth._seal_api_key(
	"id" uuid, /* pgrx :: Uuid */
	"key" TEXT /* & str */
) RETURNS bytea /* :: std :: option :: Option < Vec < u8 > > */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_seal_api_key_wrapper';

CREATE FUNCTION auth._verify_api_key(
	"key" TEXT /* & str */
) RETURNS TABLE (
	"id" uuid,  /* pgrx :: Uuid */
	"kind" TEXT,  /* String */
	"role" TEXT  /* String */
)
STRICT STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_verify_api_key_wrapper';

-- API keys and PostgREST (sql/api_keys.sql, new in 0.2.0) ------------------------------------

-- pg_auth_keys: API keys (contract §4) and the PostgREST hooks (contract §5).
--
-- Like the signing-key functions (finalize.sql), every function that changes API keys is
-- SECURITY DEFINER with search_path pinned, not executable by PUBLIC, writes one
-- auth.key_events row per change (kid NULL, detail.api_key_id set) and calls
-- auth._api_keys_changed(), which makes every session see the change at the next statement
-- once (and only if) the transaction commits.

-- The key's id, kind and role; SQLSTATE 28000 when it is malformed, unknown or revoked.
-- PARALLEL RESTRICTED: a parallel worker has no copy of the API keys, and under REPEATABLE READ
-- it cannot read the table with a snapshot newer than the transaction's (src/latest.rs).
CREATE FUNCTION auth.verify_api_key(key text) RETURNS TABLE (id uuid, kind text, role name)
LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED
AS $$ SELECT v.id, v.kind, v.role::pg_catalog.name FROM auth._verify_api_key($1) v $$;

CREATE FUNCTION auth._lock_api_keys() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ LOCK TABLE auth._api_keys IN SHARE ROW EXCLUSIVE MODE $$;

-- The row of `id`, locked; raises when there is none.
CREATE FUNCTION auth._api_key_for_update(id uuid) RETURNS auth._api_keys
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth._api_keys;
BEGIN
    SELECT * INTO k FROM auth._api_keys WHERE auth._api_keys.id = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no api key with id %', coalesce($1::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN k;
END $$;

CREATE FUNCTION auth._audit_api_key(action text, k auth._api_keys, detail jsonb DEFAULT '{}')
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO auth.key_events (action, kid, detail)
    VALUES ($1, NULL, jsonb_build_object('api_key_id', ($2).id, 'kind', ($2).kind,
                                         'name', ($2).name, 'prefix', ($2).prefix,
                                         'role', ($2).role) || coalesce($3, '{}'))
$$;

-- Are legacy anon / service_role keys enabled? True by default, and only meaningful while some
-- legacy key is registered and unrevoked.
CREATE FUNCTION auth._legacy_api_keys_enabled() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT s.enabled FROM auth._switches s WHERE s.name = 'legacy_api_keys'), true)
       AND EXISTS (SELECT 1 FROM auth._api_keys k WHERE k.kind = 'legacy' AND k.revoked_at IS NULL)
$$;

CREATE FUNCTION auth.create_api_key(kind text, name text, role name DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g record;
    k auth._api_keys;
    allowed text[] := string_to_array(replace(current_setting('auth.allowed_roles'), ' ', ''), ',');
BEGIN
    -- The messages never repeat the argument: a key pasted into the wrong argument would
    -- otherwise end up in the error and the server log.
    IF $1 IS NULL OR $1 NOT IN ('publishable', 'secret') THEN
        RAISE EXCEPTION 'api key kind must be ''publishable'' or ''secret'''
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'legacy anon and service_role keys are registered with auth.import_legacy_api_key';
    END IF;
    IF $2 IS NULL OR char_length(btrim($2)) = 0 OR char_length($2) > 128 OR $2 ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'api key name must be 1 to 128 characters without control characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    k.kind := $1;
    k.name := $2;
    k.role := coalesce($3, CASE $1 WHEN 'publishable' THEN 'anon' ELSE 'service_role' END);
    IF NOT k.role::text = ANY (allowed) THEN
        RAISE EXCEPTION 'the role is not one of auth.allowed_roles (%)',
            current_setting('auth.allowed_roles') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF k.kind = 'publishable' AND k.role = 'service_role' THEN
        RAISE EXCEPTION 'a publishable key cannot map to service_role'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Publishable keys are meant to be shipped in browsers and apps.',
                  HINT = 'create a secret key instead';
    END IF;
    PERFORM auth._lock_api_keys();
    SELECT * INTO g FROM auth._new_api_key(k.kind);
    k.id := gen_random_uuid();
    k.prefix := g.prefix;
    k.key_hash := g.key_hash;
    IF k.kind = 'secret' THEN
        k.sealed_key := auth._seal_api_key(k.id, g.key);
    END IF;
    k.created_at := now();
    INSERT INTO auth._api_keys SELECT (k).*;
    PERFORM auth._audit_api_key('create_api_key', k,
        jsonb_build_object('revealable', k.sealed_key IS NOT NULL));
    PERFORM auth._api_keys_changed();
    RETURN g.key;
END $$;

CREATE FUNCTION auth.revoke_api_key(id uuid, reason text DEFAULT NULL,
                                    was_compromised boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth._api_keys;
BEGIN
    PERFORM auth._lock_api_keys();
    k := auth._api_key_for_update($1);
    IF k.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'api key "%" is already revoked', k.name
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = 'id: ' || k.id;
    END IF;
    -- A revoked key can never be used again, so there is nothing left to reveal.
    UPDATE auth._api_keys SET revoked_at = now(), sealed_key = NULL WHERE auth._api_keys.id = k.id;
    PERFORM auth._audit_api_key('revoke_api_key', k,
        jsonb_build_object('reason', $2, 'was_compromised', coalesce($3, false)));
    PERFORM auth._api_keys_changed();
END $$;

CREATE FUNCTION auth.delete_api_key(id uuid, reason text DEFAULT NULL,
                                    was_compromised boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth._api_keys;
BEGIN
    PERFORM auth._lock_api_keys();
    k := auth._api_key_for_update($1);
    DELETE FROM auth._api_keys WHERE auth._api_keys.id = k.id;
    PERFORM auth._audit_api_key('delete_api_key', k,
        jsonb_build_object('reason', $2, 'was_compromised', coalesce($3, false),
                           'was_revoked', k.revoked_at IS NOT NULL));
    PERFORM auth._api_keys_changed();
END $$;

CREATE FUNCTION auth.reveal_api_key(id uuid) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth._api_keys;
    key text;
BEGIN
    PERFORM auth._lock_api_keys();
    k := auth._api_key_for_update($1);
    IF k.kind <> 'secret' THEN
        RAISE EXCEPTION 'only secret api keys can be revealed; "%" is a % key', k.name, k.kind
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = 'id: ' || k.id;
    END IF;
    IF k.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'api key "%" is revoked', k.name
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = 'id: ' || k.id;
    END IF;
    IF k.sealed_key IS NULL THEN
        RAISE EXCEPTION 'api key "%" cannot be revealed: it was created while auth.root_key was not set', k.name
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = 'id: ' || k.id,
                  HINT = 'create a new secret key after setting auth.root_key, and revoke this one';
    END IF;
    key := auth._open_api_key(k.id, k.sealed_key);
    PERFORM auth._audit_api_key('reveal_api_key', k);
    RETURN key;
END $$;

-- The legacy anon / service_role JWT, signed by the legacy secret (auth.migrate_legacy_secret).
CREATE FUNCTION auth.import_legacy_api_key(jwt text) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l record;
    k auth._api_keys;
BEGIN
    PERFORM auth._required($1, 'jwt');
    PERFORM auth._lock_api_keys();
    SELECT * INTO l FROM auth._legacy_api_key($1);
    IF EXISTS (SELECT 1 FROM auth._api_keys a WHERE a.key_hash = l.key_hash) THEN
        RAISE EXCEPTION 'this legacy api key is already registered'
            USING ERRCODE = 'duplicate_object';
    END IF;
    k.id := gen_random_uuid();
    k.kind := 'legacy';
    k.name := 'legacy ' || l.role;
    k.prefix := l.prefix;
    k.role := l.role;
    k.key_hash := l.key_hash;
    k.created_at := now();
    INSERT INTO auth._api_keys SELECT (k).*;
    PERFORM auth._audit_api_key('import_legacy_api_key', k);
    PERFORM auth._api_keys_changed();
    RETURN k.id;
END $$;

CREATE FUNCTION auth.set_legacy_api_keys_enabled(enabled boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    was boolean;
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'enabled must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM auth._lock_api_keys();
    was := coalesce((SELECT s.enabled FROM auth._switches s WHERE s.name = 'legacy_api_keys'), true);
    INSERT INTO auth._switches (name, enabled) VALUES ('legacy_api_keys', $1)
    ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled;
    INSERT INTO auth.key_events (action, kid, detail)
    VALUES ('set_legacy_api_keys_enabled', NULL, jsonb_build_object('from', was, 'to', $1));
    PERFORM auth._api_keys_changed();
END $$;

CREATE VIEW auth.api_keys WITH (security_barrier) AS
SELECT k.id, k.kind, k.name, k.prefix, k.role, k.created_at, k.revoked_at
FROM auth._api_keys k;

-- PostgREST --------------------------------------------------------------------------------

-- db-pre-request: refuses the request with SQLSTATE PT401 (PostgREST answers HTTP 401 with the
-- message, detail and hint as JSON) unless the apikey header holds a valid key and the
-- authorization header, when present, holds a valid bearer JWT or that same key.
CREATE FUNCTION auth.pre_request() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    refusal jsonb := auth._request_refusal();
BEGIN
    IF refusal ->> 'hint' IS NOT NULL THEN
        RAISE SQLSTATE 'PT401' USING MESSAGE = refusal ->> 'message',
            DETAIL = refusal ->> 'detail', HINT = refusal ->> 'hint';
    ELSIF refusal IS NOT NULL THEN
        RAISE SQLSTATE 'PT401' USING MESSAGE = refusal ->> 'message', DETAIL = refusal ->> 'detail';
    END IF;
END $$;

-- db-pre-config: PostgREST verifies JWTs with the public keys of the trusted signing keys.
CREATE FUNCTION auth.postgrest_pre_config() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('pgrst.jwt_secret', auth.jwks()::text, true);
    PERFORM set_config('pgrst.jwt_secret_is_base64', 'false', true);
END $$;

-- Privileges ----------------------------------------------------------------------------------

REVOKE EXECUTE ON FUNCTION
    auth._lock_api_keys(), auth._api_key_for_update(uuid),
    auth._audit_api_key(text, auth._api_keys, jsonb), auth._legacy_api_keys_enabled(),
    auth._new_api_key(text), auth._seal_api_key(uuid, text), auth._open_api_key(uuid, bytea),
    auth._legacy_api_key(text), auth._request_refusal(), auth._api_keys_changed(),
    auth.create_api_key(text, text, name), auth.revoke_api_key(uuid, text, boolean),
    auth.delete_api_key(uuid, text, boolean), auth.reveal_api_key(uuid),
    auth.import_legacy_api_key(text), auth.set_legacy_api_keys_enabled(boolean)
FROM PUBLIC;
REVOKE ALL ON auth.api_keys FROM PUBLIC;

-- sql/finalize.sql as of 0.2.0, every function and view replaced in place -------------------

-- pg_auth_keys: the key lifecycle, views and privileges (runs after the Rust functions exist).
--
-- Every function that changes keys:
--   * is SECURITY DEFINER with search_path pinned, and not executable by PUBLIC;
--   * takes auth._lock_keys() first, so concurrent changes serialize;
--   * writes exactly one auth.key_events row per change, in the same transaction;
--   * calls auth._keys_changed(), which publishes the change to every session when (and only
--     if) the transaction commits.

-- Any role may call the verification and claims functions (RLS policies run as the caller).
GRANT USAGE ON SCHEMA auth TO PUBLIC;

CREATE OR REPLACE FUNCTION auth._lock_keys() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ LOCK TABLE auth._keys IN SHARE ROW EXCLUSIVE MODE $$;

CREATE OR REPLACE FUNCTION auth._audit(action text, kid text, detail jsonb DEFAULT '{}') RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ INSERT INTO auth.key_events (action, kid, detail) VALUES ($1, $2, coalesce($3, '{}')) $$;

-- A caller's text as an error message shows it: at most 64 characters, so that a 10 MB argument
-- does not become a 10 MB message.
CREATE OR REPLACE FUNCTION auth._shown(value text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN length($1) > 64 THEN left($1, 64) || '…' ELSE coalesce($1, '<NULL>') END $$;

-- Refuse a NULL argument with 22023 rather than letting it reach a NOT NULL column (23502).
CREATE OR REPLACE FUNCTION auth._required(value anyelement, name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', $2 USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

-- A new key's kid must be new: not in use, and not a deleted key's (deletion is permanent).
CREATE OR REPLACE FUNCTION auth._check_new_kid(kid text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM auth._keys k WHERE k.kid = $1) THEN
        RAISE EXCEPTION 'a key with kid "%" already exists', auth._shown($1)
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF EXISTS (SELECT 1 FROM auth.key_events e WHERE e.kid = $1 AND e.action = 'delete') THEN
        RAISE EXCEPTION 'kid "%" belonged to a deleted key and cannot be reused', auth._shown($1)
            USING ERRCODE = 'duplicate_object';
    END IF;
END $$;

-- The row of `kid`, locked; raises when there is none.
CREATE OR REPLACE FUNCTION auth._key_for_update(kid text) RETURNS auth._keys
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth._keys;
BEGIN
    SELECT * INTO k FROM auth._keys WHERE auth._keys.kid = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no signing key with kid "%"', auth._shown($1)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN k;
END $$;

CREATE OR REPLACE FUNCTION auth._wait_text(remaining interval) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT ceil(extract(epoch FROM $1))::bigint || ' more seconds' $$;

CREATE OR REPLACE FUNCTION auth._insert_key(kid text, alg text, verify_key bytea, private_key bytea,
                                 description text, action text, detail jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_kid text := coalesce($1, gen_random_uuid()::text);
BEGIN
    PERFORM auth._check_new_kid(new_kid);
    -- Every key of a database must fit the shared-memory slots, or nothing could verify.
    IF (SELECT count(*) FROM auth._keys) >= current_setting('auth.max_keys', true)::int THEN
        RAISE EXCEPTION 'this database already has % signing keys, as many as auth.max_keys allows',
            current_setting('auth.max_keys')
            USING ERRCODE = 'configuration_limit_exceeded',
                  HINT = 'delete revoked keys with auth.delete_key, or raise auth.max_keys and restart';
    END IF;
    INSERT INTO auth._keys (kid, alg, state, verify_key, private_key, description)
    VALUES (new_kid, $2, 'standby', $3, $4, $5);
    PERFORM auth._audit($6, new_kid,
        jsonb_build_object('alg', $2, 'can_sign', $4 IS NOT NULL) || coalesce($7, '{}'));
    PERFORM auth._keys_changed();
    RETURN new_kid;
END $$;

-- 1. Creating and importing keys ------------------------------------------------------------

CREATE OR REPLACE FUNCTION auth.create_key(alg text DEFAULT 'ES256', description text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g record;
BEGIN
    PERFORM auth._required($1, 'alg');
    PERFORM auth._lock_keys();
    SELECT * INTO g FROM auth._generate_key($1);
    RETURN auth._insert_key(NULL, g.alg, g.verify_key, g.private_key, $2, 'create');
END $$;

CREATE OR REPLACE FUNCTION auth.import_key(jwk jsonb, description text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    PERFORM auth._required($1, 'jwk');
    PERFORM auth._lock_keys();
    SELECT * INTO p FROM auth._parse_jwk($1);
    RETURN auth._insert_key(p.kid, p.alg, p.verify_key, p.private_key, $2, 'import',
                            jsonb_build_object('format', 'jwk'));
END $$;

CREATE OR REPLACE FUNCTION auth.import_pem(pem text, alg text, description text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    PERFORM auth._required($1, 'pem');
    PERFORM auth._required($2, 'alg');
    PERFORM auth._lock_keys();
    SELECT * INTO p FROM auth._parse_pem($1, $2);
    RETURN auth._insert_key(NULL, p.alg, p.verify_key, p.private_key, $3, 'import',
                            jsonb_build_object('format', 'pem'));
END $$;

-- A whole key set, all or nothing (one function call is one statement: any refusal rolls back
-- every key it inserted).
CREATE OR REPLACE FUNCTION auth.import_jwks(jwks jsonb) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    PERFORM auth._required($1, 'jwks');
    PERFORM auth._lock_keys();
    FOR p IN SELECT * FROM auth._parse_jwks($1) LOOP
        RETURN NEXT auth._insert_key(p.kid, p.alg, p.verify_key, p.private_key, NULL, 'import',
                                     jsonb_build_object('format', 'jwks'));
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION auth.migrate_legacy_secret(secret text)
RETURNS TABLE (legacy_kid text, standby_kid text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key bytea;
    lkid text := gen_random_uuid()::text;
BEGIN
    PERFORM auth._required($1, 'secret');
    PERFORM auth._lock_keys();
    IF EXISTS (SELECT 1 FROM auth._keys k WHERE k.is_legacy) THEN
        RAISE EXCEPTION 'the legacy JWT secret was already migrated'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF EXISTS (SELECT 1 FROM auth._keys k WHERE k.state = 'in_use') THEN
        RAISE EXCEPTION 'a key is already in use; the legacy secret can only be migrated first'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    key := auth._parse_secret(convert_to($1, 'UTF8'));
    INSERT INTO auth._keys (kid, alg, state, is_legacy, verify_key, private_key, description)
    VALUES (lkid, 'HS256', 'in_use', true, key, key, 'legacy JWT secret');
    PERFORM auth._audit('migrate_legacy_secret', lkid, '{"alg": "HS256", "state": "in_use"}');
    PERFORM auth._keys_changed();
    legacy_kid := lkid;
    standby_kid := auth.create_key('ES256', 'created by migrate_legacy_secret');
    RETURN NEXT;
END $$;

-- 2. Transitions ------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION auth.rotate_key(kid text DEFAULT NULL, force boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth._keys;
    old_kid text;
    ttl interval := current_setting('auth.jwks_cache_ttl')::interval;
    forced boolean := false;
BEGIN
    PERFORM auth._required($2, 'force');
    PERFORM auth._lock_keys();
    IF $1 IS NULL THEN
        SELECT * INTO k FROM auth._keys
        WHERE state = 'standby' AND private_key IS NOT NULL
        ORDER BY created_at, auth._keys.kid LIMIT 1 FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no standby key to rotate to'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'create one with auth.create_key()';
        END IF;
    ELSE
        k := auth._key_for_update($1);
    END IF;
    IF k.state <> 'standby' THEN
        RAISE EXCEPTION 'cannot rotate to key %: it is %, only a standby key can become in_use',
            k.kid, k.state USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF k.private_key IS NULL THEN
        RAISE EXCEPTION 'cannot rotate to key %: it is verify-only (imported without a private key)',
            k.kid USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF now() - k.state_changed_at < ttl THEN
        IF NOT $2 THEN
            RAISE EXCEPTION 'cannot rotate to key % yet: it became standby less than auth.jwks_cache_ttl (%) ago, wait %',
                k.kid, current_setting('auth.jwks_cache_ttl'),
                auth._wait_text(ttl - (now() - k.state_changed_at))
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Verifiers that cache the JWKS may not have fetched this key yet.',
                      HINT = 'pass force => true to rotate anyway';
        END IF;
        forced := true;
    END IF;
    UPDATE auth._keys SET state = 'previously_used', state_changed_at = now(), left_in_use_at = now()
    WHERE state = 'in_use'
    RETURNING auth._keys.kid INTO old_kid;
    IF old_kid IS NOT NULL THEN
        PERFORM auth._audit('transition', old_kid,
            '{"from": "in_use", "to": "previously_used"}');
    END IF;
    UPDATE auth._keys SET state = 'in_use', state_changed_at = now() WHERE auth._keys.kid = k.kid;
    PERFORM auth._audit(CASE WHEN forced THEN 'forced_transition' ELSE 'transition' END, k.kid,
        jsonb_build_object('from', 'standby', 'to', 'in_use', 'replaces', old_kid, 'forced', forced));
    PERFORM auth._keys_changed();
    RETURN k.kid;
END $$;

CREATE OR REPLACE FUNCTION auth.revoke_key(kid text, force boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth._keys;
    lifetime interval := current_setting('auth.jwt_max_lifetime')::interval;
    forced boolean := false;
BEGIN
    PERFORM auth._required($1, 'kid');
    PERFORM auth._required($2, 'force');
    PERFORM auth._lock_keys();
    k := auth._key_for_update($1);
    IF k.state = 'in_use' THEN
        RAISE EXCEPTION 'cannot revoke the in_use key %: rotate first', k.kid
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'auth.rotate_key() makes a standby key in_use and this one previously_used';
    ELSIF k.state <> 'previously_used' THEN
        RAISE EXCEPTION 'cannot revoke key %: it is %, only a previously_used key can be revoked',
            k.kid, k.state USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = CASE WHEN k.state = 'standby'
                        THEN 'move it first: auth.move_key(kid, ''previously_used'')' END;
    END IF;
    -- contract §4: revoking the legacy secret is refused while legacy API keys are enabled
    IF k.is_legacy AND auth._legacy_api_keys_enabled() THEN
        RAISE EXCEPTION 'cannot revoke the legacy JWT secret while legacy API keys are enabled'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The legacy anon and service_role API keys are tokens of this secret.',
                  HINT = 'auth.set_legacy_api_keys_enabled(false) first';
    END IF;
    IF k.left_in_use_at IS NOT NULL AND now() - k.left_in_use_at < lifetime THEN
        IF NOT $2 THEN
            RAISE EXCEPTION 'cannot revoke key % yet: it left in_use less than auth.jwt_max_lifetime (%) ago, wait %',
                k.kid, current_setting('auth.jwt_max_lifetime'),
                auth._wait_text(lifetime - (now() - k.left_in_use_at))
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Tokens it signed may still be valid; revoking signs those users out.',
                      HINT = 'pass force => true to revoke anyway';
        END IF;
        forced := true;
    END IF;
    UPDATE auth._keys SET state = 'revoked', state_changed_at = now() WHERE auth._keys.kid = k.kid;
    PERFORM auth._audit(CASE WHEN forced THEN 'forced_transition' ELSE 'transition' END, k.kid,
        jsonb_build_object('from', 'previously_used', 'to', 'revoked', 'forced', forced));
    PERFORM auth._keys_changed();
END $$;

CREATE OR REPLACE FUNCTION auth.move_key(kid text, to_state auth.key_state) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth._keys;
BEGIN
    PERFORM auth._required($1, 'kid');
    PERFORM auth._required($2, 'to_state');
    PERFORM auth._lock_keys();
    k := auth._key_for_update($1);
    IF NOT ((k.state = 'standby' AND $2 = 'previously_used')
            OR (k.state IN ('previously_used', 'revoked') AND $2 = 'standby')) THEN
        RAISE EXCEPTION 'cannot move key % from % to %', k.kid, k.state, $2
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = CASE $2 WHEN 'in_use' THEN 'use auth.rotate_key(kid)'
                                 WHEN 'revoked' THEN 'use auth.revoke_key(kid)'
                                 ELSE 'allowed: standby -> previously_used, previously_used or revoked -> standby' END;
    END IF;
    UPDATE auth._keys SET state = $2, state_changed_at = now() WHERE auth._keys.kid = k.kid;
    PERFORM auth._audit('transition', k.kid, jsonb_build_object('from', k.state, 'to', $2));
    PERFORM auth._keys_changed();
END $$;

CREATE OR REPLACE FUNCTION auth.delete_key(kid text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth._keys;
BEGIN
    PERFORM auth._required($1, 'kid');
    PERFORM auth._lock_keys();
    k := auth._key_for_update($1);
    IF k.is_legacy THEN
        RAISE EXCEPTION 'the legacy JWT secret can never be deleted'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF k.state <> 'revoked' THEN
        RAISE EXCEPTION 'cannot delete key %: it is %, only a revoked key can be deleted', k.kid, k.state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- Deleting the row destroys the private material; the audit trail keeps the kid.
    DELETE FROM auth._keys WHERE auth._keys.kid = k.kid;
    PERFORM auth._audit('delete', k.kid, jsonb_build_object('alg', k.alg));
    PERFORM auth._keys_changed();
END $$;

-- 3. What may be seen ------------------------------------------------------------------------

-- Public JWKs of trusted asymmetric keys: what external verifiers fetch. Public by nature.
CREATE OR REPLACE FUNCTION auth.jwks() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('keys', coalesce(
        jsonb_agg(auth._public_jwk(k.alg, k.verify_key, k.kid) ORDER BY k.created_at, k.kid),
        '[]'::jsonb))
    FROM auth._keys k
    WHERE k.state <> 'revoked' AND k.alg NOT LIKE 'HS%'
$$;

CREATE OR REPLACE VIEW auth.keys WITH (security_barrier) AS
SELECT k.kid, k.alg, k.state, k.is_legacy, k.private_key IS NOT NULL AS can_sign, k.description,
       k.created_at, k.state_changed_at, auth._public_jwk(k.alg, k.verify_key, k.kid) AS public_jwk
FROM auth._keys k;

-- Signs with the in_use key, or the named trusted key that has private material.
CREATE OR REPLACE FUNCTION auth.sign_jwt(claims jsonb, kid text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth._keys;
BEGIN
    IF $2 IS NULL THEN
        SELECT * INTO k FROM auth._keys WHERE state = 'in_use';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no key is in use'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'create a key with auth.create_key() and make it in_use with auth.rotate_key()';
        END IF;
    ELSE
        SELECT * INTO k FROM auth._keys WHERE auth._keys.kid = $2;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no signing key with kid "%"', auth._shown($2)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF k.state = 'revoked' THEN
            RAISE EXCEPTION 'key % is revoked and cannot sign', k.kid
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END IF;
    IF k.private_key IS NULL THEN
        RAISE EXCEPTION 'key % is verify-only and cannot sign', k.kid
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN auth._sign($1, k.kid, k.alg, k.private_key,
        extract(epoch FROM current_setting('auth.jwt_max_lifetime')::interval)::bigint);
END $$;

-- 3b. Claims functions are evaluated once per statement (src/planner.rs) -------------------

ALTER FUNCTION auth.uid() SUPPORT auth._claims_support;
ALTER FUNCTION auth.claims() SUPPORT auth._claims_support;
ALTER FUNCTION auth.jwt() SUPPORT auth._claims_support;
ALTER FUNCTION auth.role() SUPPORT auth._claims_support;
ALTER FUNCTION auth.email() SUPPORT auth._claims_support;

-- 4. Privileges -------------------------------------------------------------------------------

-- Functions are executable by PUBLIC by default: take that away from everything internal or
-- administrative. What remains for PUBLIC: verification, claims, jwks, version, stats, and
-- auth._public_jwk (a pure function of public bytes, which the auth.keys view calls with the
-- privileges of whoever reads the view).
REVOKE EXECUTE ON FUNCTION
    auth._lock_keys(), auth._audit(text, text, jsonb), auth._check_new_kid(text),
    auth._shown(text), auth._required(anyelement, text),
    auth._key_for_update(text), auth._wait_text(interval),
    auth._insert_key(text, text, bytea, bytea, text, text, jsonb),
    auth._generate_key(text), auth._parse_jwk(jsonb), auth._parse_jwks(jsonb),
    auth._parse_pem(text, text), auth._parse_secret(bytea),
    auth._keys_changed(), auth._sign(jsonb, text, text, bytea, bigint), auth._claims_support(internal),
    auth.create_key(text, text), auth.import_key(jsonb, text), auth.import_pem(text, text, text),
    auth.import_jwks(jsonb), auth.migrate_legacy_secret(text), auth.rotate_key(text, boolean),
    auth.revoke_key(text, boolean), auth.move_key(text, auth.key_state), auth.delete_key(text),
    auth.sign_jwt(jsonb, text)
FROM PUBLIC;
REVOKE ALL ON auth.keys FROM PUBLIC;

-- Gives `role` everything an administrator of keys needs; superuser only (it is not granted).
CREATE OR REPLACE FUNCTION auth.grant_admin(role name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION
        auth.create_key(text, text), auth.import_key(jsonb, text), auth.import_pem(text, text, text),
        auth.import_jwks(jsonb), auth.migrate_legacy_secret(text), auth.rotate_key(text, boolean),
        auth.revoke_key(text, boolean), auth.move_key(text, auth.key_state), auth.delete_key(text),
        auth.sign_jwt(jsonb, text), auth.create_api_key(text, text, name),
        auth.revoke_api_key(uuid, text, boolean), auth.delete_api_key(uuid, text, boolean),
        auth.reveal_api_key(uuid), auth.import_legacy_api_key(text),
        auth.set_legacy_api_keys_enabled(boolean) TO %I', $1);
    EXECUTE format('GRANT SELECT ON auth.keys, auth.api_keys, auth.key_events TO %I', $1);
END $$;
REVOKE EXECUTE ON FUNCTION auth.grant_admin(name) FROM PUBLIC;
