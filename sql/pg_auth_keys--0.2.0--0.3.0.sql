-- pg_auth_keys 0.2.0 -> 0.3.0: internal objects move to the extension's own schema
-- auth_private; every write to the key tables is published by triggers; private keys and HMAC
-- secrets are sealed at rest (the last section).
\echo Use "ALTER EXTENSION pg_auth_keys UPDATE TO '0.3.0'" to load this file. \quit

-- Refuse a schema auth in which PUBLIC may create objects (as CREATE EXTENSION does).
DO $$
BEGIN
    IF pg_catalog.has_schema_privilege('public', '@extschema@', 'CREATE') THEN
        RAISE EXCEPTION 'pg_auth_keys cannot be installed into schema "@extschema@": PUBLIC may create objects in it'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'REVOKE CREATE ON SCHEMA @extschema@ FROM PUBLIC, then update again';
    END IF;
END $$;

-- The private schema (as in sql/bootstrap.sql) -------------------------------------------------

CREATE SCHEMA auth_private;
REVOKE ALL ON SCHEMA auth_private FROM PUBLIC;
GRANT USAGE ON SCHEMA auth_private TO PUBLIC;

-- Tables move with their rows, indexes, sequences and pg_dump configuration.
ALTER TABLE auth._keys SET SCHEMA auth_private;
ALTER TABLE auth._api_keys SET SCHEMA auth_private;
ALTER TABLE auth._switches SET SCHEMA auth_private;
ALTER TABLE auth.key_events SET SCHEMA auth_private;

-- The audit trail as users read it; whoever could read the table (grant_admin) reads the view.
CREATE VIEW auth.key_events AS
SELECT e.at, e.actor, e.action, e.kid, e.detail, e.id FROM auth_private.key_events e;
REVOKE ALL ON auth.key_events FROM PUBLIC;
DO $$
DECLARE
    grantee regrole;
BEGIN
    FOR grantee IN
        SELECT DISTINCT a.grantee::regrole
        FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
        WHERE c.oid = 'auth_private.key_events'::pg_catalog.regclass
          AND a.grantee <> c.relowner AND a.grantee <> 0 AND a.privilege_type = 'SELECT'
    LOOP
        EXECUTE pg_catalog.format('GRANT SELECT ON auth.key_events TO %s', grantee);
        EXECUTE pg_catalog.format('REVOKE ALL ON auth_private.key_events FROM %s', grantee);
    END LOOP;
END $$;

-- Internal functions move; the SQL ones are then redefined below to name only auth_private.

ALTER FUNCTION auth._api_keys_changed() SET SCHEMA auth_private;
ALTER FUNCTION auth._claims_support(internal) SET SCHEMA auth_private;
ALTER FUNCTION auth._generate_key(text) SET SCHEMA auth_private;
ALTER FUNCTION auth._keys_changed() SET SCHEMA auth_private;
ALTER FUNCTION auth._legacy_api_key(text) SET SCHEMA auth_private;
ALTER FUNCTION auth._new_api_key(text) SET SCHEMA auth_private;
ALTER FUNCTION auth._open_api_key(uuid, bytea) SET SCHEMA auth_private;
ALTER FUNCTION auth._parse_jwk(jsonb) SET SCHEMA auth_private;
ALTER FUNCTION auth._parse_jwks(jsonb) SET SCHEMA auth_private;
ALTER FUNCTION auth._parse_pem(text, text) SET SCHEMA auth_private;
ALTER FUNCTION auth._parse_secret(bytea) SET SCHEMA auth_private;
ALTER FUNCTION auth._public_jwk(text, bytea, text) SET SCHEMA auth_private;
ALTER FUNCTION auth._request_refusal() SET SCHEMA auth_private;
ALTER FUNCTION auth._seal_api_key(uuid, text) SET SCHEMA auth_private;
ALTER FUNCTION auth._sign(jsonb, text, text, bytea, bigint) SET SCHEMA auth_private;
ALTER FUNCTION auth._verify_api_key(text) SET SCHEMA auth_private;
ALTER FUNCTION auth._lock_api_keys() SET SCHEMA auth_private;
ALTER FUNCTION auth._api_key_for_update(uuid) SET SCHEMA auth_private;
ALTER FUNCTION auth._audit_api_key(text, auth_private._api_keys, jsonb) SET SCHEMA auth_private;
ALTER FUNCTION auth._legacy_api_keys_enabled() SET SCHEMA auth_private;
ALTER FUNCTION auth._lock_keys() SET SCHEMA auth_private;
ALTER FUNCTION auth._audit(text, text, jsonb) SET SCHEMA auth_private;
ALTER FUNCTION auth._shown(text) SET SCHEMA auth_private;
ALTER FUNCTION auth._required(anyelement, text) SET SCHEMA auth_private;
ALTER FUNCTION auth._check_new_kid(text) SET SCHEMA auth_private;
ALTER FUNCTION auth._key_for_update(text) SET SCHEMA auth_private;
ALTER FUNCTION auth._wait_text(interval) SET SCHEMA auth_private;
ALTER FUNCTION auth._insert_key(text, text, bytea, bytea, text, text, jsonb) SET SCHEMA auth_private;

-- Sealed key material (src/keys.rs, src/rekey.rs): the functions that make key material return
-- it sealed, with a kid (made there when the key has none), and are VOLATILE (they make kids and
-- read the key-encryption key).

-- _parse_secret (the secret in the clear) is replaced by _parse_legacy_secret; its C symbol stays
-- for databases not yet updated.
DROP FUNCTION auth_private._parse_secret(bytea);
CREATE FUNCTION auth_private."_parse_legacy_secret"(
	"secret" bytea /* & [u8] */
) RETURNS TABLE (
	"kid" TEXT,  /* String */
	"alg" TEXT,  /* String */
	"verify_key" bytea,  /* Vec < u8 > */
	"private_key" bytea  /* :: std :: option :: Option < Vec < u8 > > */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_parse_legacy_secret_wrapper';
ALTER FUNCTION auth_private._parse_jwk(jsonb) VOLATILE PARALLEL UNSAFE;
ALTER FUNCTION auth_private._parse_jwks(jsonb) VOLATILE PARALLEL UNSAFE;
ALTER FUNCTION auth_private._parse_pem(text, text) VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION auth_private."_reseal_key"(
	"kid" TEXT, /* & str */
	"purpose" TEXT, /* & str */
	"sealed" bytea /* & [u8] */
) RETURNS bytea /* :: std :: option :: Option < Vec < u8 > > */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_reseal_key_wrapper';
CREATE FUNCTION auth_private."_reseal_api_key"(
	"id" uuid, /* pgrx :: Uuid */
	"sealed" bytea /* & [u8] */
) RETURNS bytea /* :: std :: option :: Option < Vec < u8 > > */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_reseal_api_key_wrapper';
CREATE FUNCTION auth_private."_kek_id"() RETURNS TEXT /* String */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_kek_id_wrapper';
CREATE FUNCTION auth_private."_init_kek"() RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_init_kek_wrapper';

-- Every SQL-defined function, as in sql/api_keys.sql and sql/finalize.sql ---------------------

CREATE OR REPLACE FUNCTION auth.verify_api_key(key text) RETURNS TABLE (id uuid, kind text, role name)
LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED
AS $$ SELECT v.id, v.kind, v.role::pg_catalog.name FROM auth_private._verify_api_key($1) v $$;

CREATE OR REPLACE FUNCTION auth_private._lock_api_keys() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ LOCK TABLE auth_private._api_keys IN SHARE ROW EXCLUSIVE MODE $$;

CREATE OR REPLACE FUNCTION auth_private._api_key_for_update(id uuid) RETURNS auth_private._api_keys
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth_private._api_keys;
BEGIN
    SELECT * INTO k FROM auth_private._api_keys WHERE auth_private._api_keys.id = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no api key with id %', coalesce($1::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN k;
END $$;

CREATE OR REPLACE FUNCTION auth_private._audit_api_key(action text, k auth_private._api_keys, detail jsonb DEFAULT '{}')
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO auth_private.key_events (action, kid, detail)
    VALUES ($1, NULL, jsonb_build_object('api_key_id', ($2).id, 'kind', ($2).kind,
                                         'name', ($2).name, 'prefix', ($2).prefix,
                                         'role', ($2).role) || coalesce($3, '{}'))
$$;

CREATE OR REPLACE FUNCTION auth_private._legacy_api_keys_enabled() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT s.enabled FROM auth_private._switches s WHERE s.name = 'legacy_api_keys'), true)
       AND EXISTS (SELECT 1 FROM auth_private._api_keys k WHERE k.kind = 'legacy' AND k.revoked_at IS NULL)
$$;

-- New in 0.3.0: auth.create_api_key reads auth.allowed_roles and auth.elevated_roles with the
-- parser token verification uses.
CREATE FUNCTION auth_private."_role_allowed"(
	"role" TEXT /* &str */
) RETURNS bool /* bool */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_role_allowed_wrapper';

CREATE FUNCTION auth_private."_role_elevated"(
	"role" TEXT /* &str */
) RETURNS bool /* bool */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_role_elevated_wrapper';

CREATE OR REPLACE FUNCTION auth.create_api_key(kind text, name text, role name DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g record;
    k auth_private._api_keys;
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
    -- Both role lists are read by the extension's one parser (as token verification reads them).
    IF NOT auth_private._role_allowed(k.role::pg_catalog.text) THEN
        RAISE EXCEPTION 'the role is not one of auth.allowed_roles (%)',
            current_setting('auth.allowed_roles') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF k.kind = 'publishable' AND auth_private._role_elevated(k.role::pg_catalog.text) THEN
        RAISE EXCEPTION 'a publishable key cannot map to an elevated role'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The role is in auth.elevated_roles; publishable keys are meant to be shipped in browsers and apps.',
                  HINT = 'create a secret key instead';
    END IF;
    PERFORM auth_private._lock_api_keys();
    SELECT * INTO g FROM auth_private._new_api_key(k.kind);
    k.id := gen_random_uuid();
    k.prefix := g.prefix;
    k.key_hash := g.key_hash;
    IF k.kind = 'secret' THEN
        k.sealed_key := auth_private._seal_api_key(k.id, g.key);
    END IF;
    k.created_at := now();
    INSERT INTO auth_private._api_keys SELECT (k).*;
    PERFORM auth_private._audit_api_key('create_api_key', k,
        jsonb_build_object('revealable', k.sealed_key IS NOT NULL));
    RETURN g.key;
END $$;

CREATE OR REPLACE FUNCTION auth.revoke_api_key(id uuid, reason text DEFAULT NULL,
                                    was_compromised boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth_private._api_keys;
BEGIN
    PERFORM auth_private._lock_api_keys();
    k := auth_private._api_key_for_update($1);
    IF k.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'api key "%" is already revoked', k.name
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = 'id: ' || k.id;
    END IF;
    -- A revoked key can never be used again, so there is nothing left to reveal.
    UPDATE auth_private._api_keys SET revoked_at = now(), sealed_key = NULL WHERE auth_private._api_keys.id = k.id;
    PERFORM auth_private._audit_api_key('revoke_api_key', k,
        jsonb_build_object('reason', $2, 'was_compromised', coalesce($3, false)));
END $$;

CREATE OR REPLACE FUNCTION auth.delete_api_key(id uuid, reason text DEFAULT NULL,
                                    was_compromised boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth_private._api_keys;
BEGIN
    PERFORM auth_private._lock_api_keys();
    k := auth_private._api_key_for_update($1);
    DELETE FROM auth_private._api_keys WHERE auth_private._api_keys.id = k.id;
    PERFORM auth_private._audit_api_key('delete_api_key', k,
        jsonb_build_object('reason', $2, 'was_compromised', coalesce($3, false),
                           'was_revoked', k.revoked_at IS NOT NULL));
END $$;

CREATE OR REPLACE FUNCTION auth.reveal_api_key(id uuid) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth_private._api_keys;
    key text;
BEGIN
    PERFORM auth_private._lock_api_keys();
    k := auth_private._api_key_for_update($1);
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
    key := auth_private._open_api_key(k.id, k.sealed_key);
    PERFORM auth_private._audit_api_key('reveal_api_key', k);
    RETURN key;
END $$;

CREATE OR REPLACE FUNCTION auth.import_legacy_api_key(jwt text) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l record;
    k auth_private._api_keys;
BEGIN
    PERFORM auth_private._required($1, 'jwt');
    PERFORM auth_private._lock_api_keys();
    SELECT * INTO l FROM auth_private._legacy_api_key($1);
    IF EXISTS (SELECT 1 FROM auth_private._api_keys a WHERE a.key_hash = l.key_hash) THEN
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
    INSERT INTO auth_private._api_keys SELECT (k).*;
    PERFORM auth_private._audit_api_key('import_legacy_api_key', k);
    RETURN k.id;
END $$;

CREATE OR REPLACE FUNCTION auth.set_legacy_api_keys_enabled(enabled boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    was boolean;
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'enabled must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM auth_private._lock_api_keys();
    was := coalesce((SELECT s.enabled FROM auth_private._switches s WHERE s.name = 'legacy_api_keys'), true);
    INSERT INTO auth_private._switches (name, enabled) VALUES ('legacy_api_keys', $1)
    ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled;
    INSERT INTO auth_private.key_events (action, kid, detail)
    VALUES ('set_legacy_api_keys_enabled', NULL, jsonb_build_object('from', was, 'to', $1));
END $$;

CREATE OR REPLACE FUNCTION auth.pre_request() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    refusal jsonb := auth_private._request_refusal();
BEGIN
    IF refusal ->> 'hint' IS NOT NULL THEN
        RAISE SQLSTATE 'PT401' USING MESSAGE = refusal ->> 'message',
            DETAIL = refusal ->> 'detail', HINT = refusal ->> 'hint';
    ELSIF refusal IS NOT NULL THEN
        RAISE SQLSTATE 'PT401' USING MESSAGE = refusal ->> 'message', DETAIL = refusal ->> 'detail';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION auth.postgrest_pre_config() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('pgrst.jwt_secret', auth_private._jwks()::text, true);
    PERFORM set_config('pgrst.jwt_secret_is_base64', 'false', true);
END $$;

CREATE OR REPLACE FUNCTION auth_private._lock_keys() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ LOCK TABLE auth_private._keys IN SHARE ROW EXCLUSIVE MODE $$;

CREATE OR REPLACE FUNCTION auth_private._audit(action text, kid text, detail jsonb DEFAULT '{}') RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ INSERT INTO auth_private.key_events (action, kid, detail) VALUES ($1, $2, coalesce($3, '{}')) $$;

CREATE OR REPLACE FUNCTION auth_private._shown(value text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN length($1) > 64 THEN left($1, 64) || '…' ELSE coalesce($1, '<NULL>') END $$;

CREATE OR REPLACE FUNCTION auth_private._required(value anyelement, name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', $2 USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION auth_private._check_new_kid(kid text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM auth_private._keys k WHERE k.kid = $1) THEN
        RAISE EXCEPTION 'a key with kid "%" already exists', auth_private._shown($1)
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF EXISTS (SELECT 1 FROM auth_private.key_events e WHERE e.kid = $1 AND e.action = 'delete') THEN
        RAISE EXCEPTION 'kid "%" belonged to a deleted key and cannot be reused', auth_private._shown($1)
            USING ERRCODE = 'duplicate_object';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION auth_private._key_for_update(kid text) RETURNS auth_private._keys
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth_private._keys;
BEGIN
    SELECT * INTO k FROM auth_private._keys WHERE auth_private._keys.kid = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no signing key with kid "%"', auth_private._shown($1)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN k;
END $$;

CREATE OR REPLACE FUNCTION auth_private._wait_text(remaining interval) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT ceil(extract(epoch FROM $1))::bigint || ' more seconds' $$;

CREATE OR REPLACE FUNCTION auth_private._insert_key(kid text, alg text, verify_key bytea, private_key bytea,
                                 description text, action text, detail jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- Made by the Rust side when the key came without one: its seal is bound to it.
    new_kid text := $1;
BEGIN
    PERFORM auth_private._required($1, 'kid');
    PERFORM auth_private._check_new_kid(new_kid);
    -- Every key of a database must fit the shared-memory slots, or nothing could verify.
    IF (SELECT count(*) FROM auth_private._keys) >= current_setting('auth.max_keys', true)::int THEN
        RAISE EXCEPTION 'this database already has % signing keys, as many as auth.max_keys allows',
            current_setting('auth.max_keys')
            USING ERRCODE = 'configuration_limit_exceeded',
                  HINT = 'delete revoked keys with auth.delete_key, or raise auth.max_keys and restart';
    END IF;
    INSERT INTO auth_private._keys (kid, alg, state, verify_key, private_key, description)
    VALUES (new_kid, $2, 'standby', $3, $4, $5);
    PERFORM auth_private._audit($6, new_kid,
        jsonb_build_object('alg', $2, 'can_sign', $4 IS NOT NULL) || coalesce($7, '{}'));
    RETURN new_kid;
END $$;

CREATE OR REPLACE FUNCTION auth.create_key(alg text DEFAULT 'ES256', description text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g record;
BEGIN
    PERFORM auth_private._required($1, 'alg');
    PERFORM auth_private._lock_keys();
    SELECT * INTO g FROM auth_private._generate_key($1);
    RETURN auth_private._insert_key(g.kid, g.alg, g.verify_key, g.private_key, $2, 'create');
END $$;

CREATE OR REPLACE FUNCTION auth.import_key(jwk jsonb, description text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    PERFORM auth_private._required($1, 'jwk');
    PERFORM auth_private._lock_keys();
    SELECT * INTO p FROM auth_private._parse_jwk($1);
    RETURN auth_private._insert_key(p.kid, p.alg, p.verify_key, p.private_key, $2, 'import',
                            jsonb_build_object('format', 'jwk'));
END $$;

CREATE OR REPLACE FUNCTION auth.import_pem(pem text, alg text, description text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    PERFORM auth_private._required($1, 'pem');
    PERFORM auth_private._required($2, 'alg');
    PERFORM auth_private._lock_keys();
    SELECT * INTO p FROM auth_private._parse_pem($1, $2);
    RETURN auth_private._insert_key(p.kid, p.alg, p.verify_key, p.private_key, $3, 'import',
                            jsonb_build_object('format', 'pem'));
END $$;

CREATE OR REPLACE FUNCTION auth.import_jwks(jwks jsonb) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    PERFORM auth_private._required($1, 'jwks');
    PERFORM auth_private._lock_keys();
    FOR p IN SELECT * FROM auth_private._parse_jwks($1) LOOP
        RETURN NEXT auth_private._insert_key(p.kid, p.alg, p.verify_key, p.private_key, NULL, 'import',
                                     jsonb_build_object('format', 'jwks'));
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION auth.migrate_legacy_secret(secret text)
RETURNS TABLE (legacy_kid text, standby_kid text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
    g record;
BEGIN
    PERFORM auth_private._required($1, 'secret');
    PERFORM auth_private._lock_keys();
    IF EXISTS (SELECT 1 FROM auth_private._keys k WHERE k.is_legacy) THEN
        RAISE EXCEPTION 'the legacy JWT secret was already migrated'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF EXISTS (SELECT 1 FROM auth_private._keys k WHERE k.state = 'in_use') THEN
        RAISE EXCEPTION 'a key is already in use; the legacy secret can only be migrated first'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT * INTO p FROM auth_private._parse_legacy_secret(convert_to($1, 'UTF8'));
    INSERT INTO auth_private._keys (kid, alg, state, is_legacy, verify_key, private_key, description)
    VALUES (p.kid, p.alg, 'in_use', true, p.verify_key, p.private_key, 'legacy JWT secret');
    PERFORM auth_private._audit('migrate_legacy_secret', p.kid, '{"alg": "HS256", "state": "in_use"}');
    legacy_kid := p.kid;
    SELECT * INTO g FROM auth_private._generate_key('ES256');
    standby_kid := auth_private._insert_key(g.kid, g.alg, g.verify_key, g.private_key,
                                            'created by migrate_legacy_secret', 'create');
    RETURN NEXT;
END $$;

CREATE OR REPLACE FUNCTION auth.rotate_key(kid text DEFAULT NULL, force boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth_private._keys;
    old_kid text;
    ttl interval := current_setting('auth.jwks_cache_ttl')::interval;
    forced boolean := false;
BEGIN
    PERFORM auth_private._required($2, 'force');
    PERFORM auth_private._lock_keys();
    IF $1 IS NULL THEN
        SELECT * INTO k FROM auth_private._keys
        WHERE state = 'standby' AND private_key IS NOT NULL
        ORDER BY created_at, auth_private._keys.kid LIMIT 1 FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no standby key to rotate to'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'create one with auth.create_key()';
        END IF;
    ELSE
        k := auth_private._key_for_update($1);
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
                auth_private._wait_text(ttl - (now() - k.state_changed_at))
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Verifiers that cache the JWKS may not have fetched this key yet.',
                      HINT = 'pass force => true to rotate anyway';
        END IF;
        forced := true;
    END IF;
    UPDATE auth_private._keys SET state = 'previously_used', state_changed_at = now(), left_in_use_at = now()
    WHERE state = 'in_use'
    RETURNING auth_private._keys.kid INTO old_kid;
    IF old_kid IS NOT NULL THEN
        PERFORM auth_private._audit('transition', old_kid,
            '{"from": "in_use", "to": "previously_used"}');
    END IF;
    UPDATE auth_private._keys SET state = 'in_use', state_changed_at = now() WHERE auth_private._keys.kid = k.kid;
    PERFORM auth_private._audit(CASE WHEN forced THEN 'forced_transition' ELSE 'transition' END, k.kid,
        jsonb_build_object('from', 'standby', 'to', 'in_use', 'replaces', old_kid, 'forced', forced));
    RETURN k.kid;
END $$;

CREATE OR REPLACE FUNCTION auth.revoke_key(kid text, force boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth_private._keys;
    lifetime interval := current_setting('auth.jwt_max_lifetime')::interval;
    forced boolean := false;
BEGIN
    PERFORM auth_private._required($1, 'kid');
    PERFORM auth_private._required($2, 'force');
    PERFORM auth_private._lock_keys();
    k := auth_private._key_for_update($1);
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
    -- README "API keys": revoking the legacy secret is refused while legacy API keys are enabled
    IF k.is_legacy AND auth_private._legacy_api_keys_enabled() THEN
        RAISE EXCEPTION 'cannot revoke the legacy JWT secret while legacy API keys are enabled'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The legacy anon and service_role API keys are tokens of this secret.',
                  HINT = 'auth.set_legacy_api_keys_enabled(false) first';
    END IF;
    IF k.left_in_use_at IS NOT NULL AND now() - k.left_in_use_at < lifetime THEN
        IF NOT $2 THEN
            RAISE EXCEPTION 'cannot revoke key % yet: it left in_use less than auth.jwt_max_lifetime (%) ago, wait %',
                k.kid, current_setting('auth.jwt_max_lifetime'),
                auth_private._wait_text(lifetime - (now() - k.left_in_use_at))
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Tokens it signed may still be valid; revoking signs those users out.',
                      HINT = 'pass force => true to revoke anyway';
        END IF;
        forced := true;
    END IF;
    UPDATE auth_private._keys SET state = 'revoked', state_changed_at = now() WHERE auth_private._keys.kid = k.kid;
    PERFORM auth_private._audit(CASE WHEN forced THEN 'forced_transition' ELSE 'transition' END, k.kid,
        jsonb_build_object('from', 'previously_used', 'to', 'revoked', 'forced', forced));
END $$;

CREATE OR REPLACE FUNCTION auth.move_key(kid text, to_state auth.key_state) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth_private._keys;
BEGIN
    PERFORM auth_private._required($1, 'kid');
    PERFORM auth_private._required($2, 'to_state');
    PERFORM auth_private._lock_keys();
    k := auth_private._key_for_update($1);
    IF NOT ((k.state = 'standby' AND $2 = 'previously_used')
            OR (k.state IN ('previously_used', 'revoked') AND $2 = 'standby')) THEN
        RAISE EXCEPTION 'cannot move key % from % to %', k.kid, k.state, $2
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = CASE $2 WHEN 'in_use' THEN 'use auth.rotate_key(kid)'
                                 WHEN 'revoked' THEN 'use auth.revoke_key(kid)'
                                 ELSE 'allowed: standby -> previously_used, previously_used or revoked -> standby' END;
    END IF;
    UPDATE auth_private._keys SET state = $2, state_changed_at = now() WHERE auth_private._keys.kid = k.kid;
    PERFORM auth_private._audit('transition', k.kid, jsonb_build_object('from', k.state, 'to', $2));
END $$;

CREATE OR REPLACE FUNCTION auth.delete_key(kid text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth_private._keys;
BEGIN
    PERFORM auth_private._required($1, 'kid');
    PERFORM auth_private._lock_keys();
    k := auth_private._key_for_update($1);
    IF k.is_legacy THEN
        RAISE EXCEPTION 'the legacy JWT secret can never be deleted'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF k.state <> 'revoked' THEN
        RAISE EXCEPTION 'cannot delete key %: it is %, only a revoked key can be deleted', k.kid, k.state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- Deleting the row destroys the private material; the audit trail keeps the kid.
    DELETE FROM auth_private._keys WHERE auth_private._keys.kid = k.kid;
    PERFORM auth_private._audit('delete', k.kid, jsonb_build_object('alg', k.alg));
END $$;

CREATE OR REPLACE FUNCTION auth_private._jwks() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('keys', coalesce(
        jsonb_agg(auth_private._public_jwk(k.alg, k.verify_key, k.kid) ORDER BY k.created_at, k.kid),
        '[]'::jsonb))
    FROM auth_private._keys k
    WHERE k.state <> 'revoked' AND k.alg NOT LIKE 'HS%'
$$;

CREATE OR REPLACE FUNCTION auth.jwks() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth_private._jwks() $$;

CREATE OR REPLACE FUNCTION auth.sign_jwt(claims jsonb, kid text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k auth_private._keys;
BEGIN
    IF $2 IS NULL THEN
        SELECT * INTO k FROM auth_private._keys WHERE state = 'in_use';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no key is in use'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'create a key with auth.create_key() and make it in_use with auth.rotate_key()';
        END IF;
    ELSE
        SELECT * INTO k FROM auth_private._keys WHERE auth_private._keys.kid = $2;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no signing key with kid "%"', auth_private._shown($2)
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
    RETURN auth_private._sign($1, k.kid, k.alg, k.private_key,
        extract(epoch FROM current_setting('auth.jwt_max_lifetime')::interval)::bigint);
END $$;

-- Re-seals every sealed value (private keys, HMAC secrets, revealable secret API keys) under
-- the current key-encryption key, each opened with whichever available one sealed it
-- (auth.root_key, auth.previous_root_key, the data directory's pg_auth_keys.kek). All or
-- nothing: if any value cannot be opened, nothing changes. Superuser only (not granted by
-- grant_admin): it decides which key-encryption key protects everything.
CREATE FUNCTION auth.rekey() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k record;
    v bytea;
    resealed bigint := 0;
    failed bigint := 0;
BEGIN
    IF NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false) THEN
        RAISE EXCEPTION 'only a superuser may re-seal keys'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM auth_private._lock_keys();
    PERFORM auth_private._lock_api_keys();
    FOR k IN SELECT kid, alg, verify_key, private_key FROM auth_private._keys ORDER BY kid FOR UPDATE LOOP
        IF k.private_key IS NOT NULL THEN
            v := auth_private._reseal_key(k.kid, 'private_key', k.private_key);
            IF v IS NULL THEN
                failed := failed + 1;
            ELSE
                UPDATE auth_private._keys SET private_key = v WHERE auth_private._keys.kid = k.kid;
                resealed := resealed + 1;
            END IF;
        END IF;
        IF k.alg LIKE 'HS%' THEN
            v := auth_private._reseal_key(k.kid, 'hmac_secret', k.verify_key);
            IF v IS NULL THEN
                failed := failed + 1;
            ELSE
                UPDATE auth_private._keys SET verify_key = v WHERE auth_private._keys.kid = k.kid;
                resealed := resealed + 1;
            END IF;
        END IF;
    END LOOP;
    FOR k IN SELECT id, sealed_key FROM auth_private._api_keys WHERE sealed_key IS NOT NULL ORDER BY id FOR UPDATE LOOP
        v := auth_private._reseal_api_key(k.id, k.sealed_key);
        IF v IS NULL THEN
            failed := failed + 1;
        ELSE
            UPDATE auth_private._api_keys SET sealed_key = v WHERE auth_private._api_keys.id = k.id;
            resealed := resealed + 1;
        END IF;
    END LOOP;
    IF failed > 0 THEN
        RAISE EXCEPTION '% sealed values cannot be opened with any available key-encryption key; nothing was re-sealed', failed
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'set auth.previous_root_key to the root key that sealed them (or restore the data directory''s pg_auth_keys.kek), reload, and run auth.rekey() again';
    END IF;
    PERFORM auth_private._audit('rekey', NULL,
        jsonb_build_object('resealed', resealed, 'kek', auth_private._kek_id()));
    RETURN resealed;
END $$;

CREATE OR REPLACE FUNCTION auth_private._signing_keys_written() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM auth_private._keys_changed(); RETURN NULL; END $$;

CREATE OR REPLACE FUNCTION auth_private._api_keys_written() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM auth_private._api_keys_changed(); RETURN NULL; END $$;

CREATE OR REPLACE FUNCTION auth.grant_admin(role name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f regprocedure;
BEGIN
    PERFORM auth_private._required($1, 'role');
    FOR f IN SELECT a.fn FROM auth_private._admin_functions a LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, $1);
    END LOOP;
    EXECUTE format('GRANT SELECT ON %s, %s, %s, %s, %s TO %I', 'auth.keys'::regclass,
                   'auth.api_keys'::regclass, 'auth.key_events'::regclass,
                   'auth.token_revocations'::regclass, 'auth.issuers'::regclass, $1);
END $$;

-- 4. Publication ------------------------------------------------------------------------------

-- Every committed write to the key tables reaches every session at its next statement, on this
-- server and on hot standbys, whoever makes it: the lifecycle functions, an owner's direct
-- INSERT/UPDATE/DELETE/TRUNCATE/COPY, pg_restore. The statement triggers below queue a relcache
-- invalidation of auth_private._keys, which PostgreSQL sends only if the transaction commits
-- (including a rolled-back savepoint's writes: they send nothing), writes into the commit's WAL
-- record for standbys, and delivers to every backend of this database before its next
-- statement (src/keyset.rs, docs/design.md). ENABLE ALWAYS: they fire under
-- session_replication_role = replica too.


CREATE TRIGGER publish AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_private._keys
    FOR EACH STATEMENT EXECUTE FUNCTION auth_private._signing_keys_written();
CREATE TRIGGER publish AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_private._api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION auth_private._api_keys_written();
CREATE TRIGGER publish AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_private._switches
    FOR EACH STATEMENT EXECUTE FUNCTION auth_private._api_keys_written();
ALTER TABLE auth_private._keys ENABLE ALWAYS TRIGGER publish;
ALTER TABLE auth_private._api_keys ENABLE ALWAYS TRIGGER publish;
ALTER TABLE auth_private._switches ENABLE ALWAYS TRIGGER publish;

-- 5. Privileges -------------------------------------------------------------------------------

-- The administrative functions, listed once: revoked from PUBLIC here, granted by
-- auth.grant_admin. Stored as regprocedure, i.e. by OID, resolved now (to this extension's
-- own functions), never again by name.
CREATE TABLE auth_private._admin_functions (fn regprocedure PRIMARY KEY);
INSERT INTO auth_private._admin_functions VALUES
    ('auth.create_key(text, text)'), ('auth.import_key(jsonb, text)'),
    ('auth.import_pem(text, text, text)'), ('auth.import_jwks(jsonb)'),
    ('auth.migrate_legacy_secret(text)'), ('auth.rotate_key(text, boolean)'),
    ('auth.revoke_key(text, boolean)'), ('auth.move_key(text, auth.key_state)'),
    ('auth.delete_key(text)'), ('auth.sign_jwt(jsonb, text)'),
    ('auth.create_api_key(text, text, name)'), ('auth.revoke_api_key(uuid, text, boolean)'),
    ('auth.delete_api_key(uuid, text, boolean)'), ('auth.reveal_api_key(uuid)'),
    ('auth.import_legacy_api_key(text)'), ('auth.set_legacy_api_keys_enabled(boolean)');
REVOKE ALL ON auth_private._admin_functions FROM PUBLIC;

-- Functions are executable by PUBLIC by default: take that away from everything internal and
-- everything administrative. What remains for PUBLIC: verification, claims, jwks, version,
-- stats, pre_request / postgrest_pre_config, and two internal functions the public API calls
-- with the caller's privileges: auth_private._public_jwk (a pure function of public bytes, called
-- by the auth.keys view) and auth_private._verify_api_key (called by auth.verify_api_key).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA auth_private FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_private._public_jwk(text, bytea, text),
    auth_private._verify_api_key(text) TO PUBLIC;
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT a.fn FROM auth_private._admin_functions a LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;
REVOKE ALL ON auth.keys, auth.api_keys FROM PUBLIC;

-- Gives `role` everything an administrator of keys needs; superuser only (it is not granted).
REVOKE EXECUTE ON FUNCTION auth.grant_admin(name) FROM PUBLIC;

-- Sealed key material at rest (issue #14) ----------------------------------------------------

-- Superuser only, and not among the administrative functions grant_admin grants.
REVOKE EXECUTE ON FUNCTION auth.rekey() FROM PUBLIC;

-- A sealed HMAC secret is 37 bytes longer than the secret (at most 1024 bytes).
ALTER TABLE auth_private._keys DROP CONSTRAINT _keys_verify_key_check,
    ADD CONSTRAINT _keys_verify_key_check CHECK (octet_length(verify_key) <= 1077);

-- Every private key and HMAC secret that 0.2.0 stored in the clear is sealed now, bound to its
-- kid, under auth.root_key when it is set, else under the data directory's key file
-- (pg_auth_keys.kek, made now if there is none). The sealing function exists only for the length
-- of this script. Secret API keys sealed by 0.2.0 (under auth.root_key) keep opening with it;
-- auth.rekey() rewrites them in the current format.
CREATE FUNCTION auth_private._seal_plaintext(kid text, purpose text, plaintext bytea) RETURNS bytea
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_seal_plaintext_wrapper';
SELECT auth_private._init_kek();
UPDATE auth_private._keys
SET private_key = auth_private._seal_plaintext(kid, 'private_key', private_key)
WHERE private_key IS NOT NULL;
UPDATE auth_private._keys
SET verify_key = auth_private._seal_plaintext(kid, 'hmac_secret', verify_key)
WHERE alg LIKE 'HS%';
DROP FUNCTION auth_private._seal_plaintext(text, text, bytea);

-- 0.2.0 let a superuser store auth.root_key with ALTER DATABASE / ALTER ROLE, where every role
-- can read it (pg_db_role_setting). It is read from the server's configuration only now, and
-- PostgreSQL no longer applies it from there: say so, without showing it.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) c
               WHERE c LIKE 'auth.root\_key=%' OR c LIKE 'auth.previous\_root\_key=%') THEN
        RAISE WARNING 'auth.root_key is stored with ALTER DATABASE or ALTER ROLE, where every role can read it'
            USING DETAIL = 'pg_auth_keys now reads auth.root_key from the server configuration only (postgresql.conf or ALTER SYSTEM); the stored value is no longer applied.',
                  HINT = 'Treat that root key as disclosed: set a new auth.root_key in postgresql.conf with the old one as auth.previous_root_key, reload, run SELECT auth.rekey(), then remove the stored value (ALTER DATABASE ... RESET ALL or ALTER ROLE ... RESET ALL).';
    END IF;
END $$;
-- New in 0.3.0: an API key that is a request's only credential grants its role. auth.pre_request
-- runs as the caller (PostgreSQL refuses SET ROLE inside SECURITY DEFINER functions) and asks
-- auth_private._pre_request, which returns a refusal or the role, never a secret.
CREATE FUNCTION auth_private."_pre_request"() RETURNS jsonb /* Option < pgrx :: JsonB > */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_pre_request_wrapper';
REVOKE EXECUTE ON FUNCTION auth_private._pre_request() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_private._pre_request() TO PUBLIC;

CREATE OR REPLACE FUNCTION auth.pre_request() RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    decision jsonb := auth_private._pre_request();
    refusal jsonb := decision -> 'refusal';
BEGIN
    IF refusal ->> 'hint' IS NOT NULL THEN
        RAISE SQLSTATE 'PT401' USING MESSAGE = refusal ->> 'message',
            DETAIL = refusal ->> 'detail', HINT = refusal ->> 'hint';
    ELSIF refusal IS NOT NULL THEN
        RAISE SQLSTATE 'PT401' USING MESSAGE = refusal ->> 'message', DETAIL = refusal ->> 'detail';
    ELSIF decision ->> 'role' IS NOT NULL THEN
        PERFORM set_config('role', decision ->> 'role', true);
    END IF;
END $$;

-- New in 0.3.0: tokens minted from an API key.
-- A short-lived JWT for a client that does not go through PostgREST's hook (Realtime-like
-- services, other gateways): signed by the in_use key, with the key's role and api_key_id.
-- Executable by PUBLIC: the key itself is the credential (28000 for a bad one, as
-- verify_api_key). A ttl longer than auth.api_key_token_max_ttl or auth.jwt_max_lifetime (how
-- long a key that left in_use stays unrevokable) is refused with 22023, not silently shortened.
-- Token verification refuses the token once the key is revoked or deleted.
CREATE FUNCTION auth.api_key_token(key text, ttl interval DEFAULT '5 minutes') RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v record;
    k auth_private._keys;
    max_ttl interval := least(current_setting('auth.api_key_token_max_ttl')::interval,
                              current_setting('auth.jwt_max_lifetime')::interval);
BEGIN
    SELECT * INTO v FROM auth_private._verify_api_key($1);
    IF $2 IS NULL OR $2 < interval '1 second' OR $2 > max_ttl THEN
        RAISE EXCEPTION 'ttl must be between 1 second and %', max_ttl
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'auth.api_key_token_max_ttl and auth.jwt_max_lifetime bound it';
    END IF;
    IF NOT auth_private._role_allowed(v.role) THEN
        RAISE EXCEPTION 'the api key''s role is not one of auth.allowed_roles'
            USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    SELECT * INTO k FROM auth_private._keys WHERE state = 'in_use';
    IF NOT FOUND OR k.private_key IS NULL THEN
        RAISE EXCEPTION 'no key is in use'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'create a key with auth.create_key() and make it in_use with auth.rotate_key()';
    END IF;
    RETURN auth_private._sign(
        jsonb_strip_nulls(jsonb_build_object(
            'role', v.role, 'api_key_id', v.id,
            'aud', nullif(current_setting('auth.audience', true), ''),
            'iss', nullif(current_setting('auth.issuer', true), ''))),
        k.kid, k.alg, k.private_key, extract(epoch FROM $2)::bigint);
END $$;
-- 6. Token revocations (README "Revoking tokens"; as in sql/token_revocations.sql) ----------------

CREATE FUNCTION auth_private."_caller_subject"() RETURNS TEXT
STRICT STABLE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', '_caller_subject_wrapper';

CREATE FUNCTION auth_private."_token_revocations_changed"() RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', '_token_revocations_changed_wrapper';

CREATE FUNCTION auth_private."_token_revocation_target"(
	"token" TEXT
) RETURNS TABLE (
	"kind" TEXT,
	"value" TEXT,
	"exp" double precision
)
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', '_token_revocation_target_wrapper';

CREATE TABLE auth_private._token_revocations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('subject', 'session', 'jti', 'token')),
    value         text NOT NULL CHECK (octet_length(value) BETWEEN 1 AND 1024),
    -- For kind subject: tokens whose iat is before this are refused.
    issued_before timestamptz CHECK ((kind = 'subject') = (issued_before IS NOT NULL)),
    expires_at    timestamptz NOT NULL,
    reason        text CHECK (octet_length(reason) <= 1024),
    actor         name NOT NULL DEFAULT session_user,
    at            timestamptz NOT NULL DEFAULT now(),
    -- The writing transaction, for the incremental reads of src/revocations.rs; always set by
    -- the trigger `stamp` (a restored or updated row counts as written now).
    xact          xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX _token_revocations_expires_at ON auth_private._token_revocations (expires_at);
CREATE INDEX _token_revocations_xact ON auth_private._token_revocations (xact);
REVOKE ALL ON auth_private._token_revocations FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('auth_private._token_revocations', '');

CREATE FUNCTION auth_private._stamp_token_revocation() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN NEW.xact := pg_catalog.pg_current_xact_id(); RETURN NEW; END $$;

CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON auth_private._token_revocations
    FOR EACH ROW EXECUTE FUNCTION auth_private._stamp_token_revocation();
ALTER TABLE auth_private._token_revocations ENABLE ALWAYS TRIGGER stamp;

-- Publication, as for the key tables (finalize.sql, section 4).
CREATE FUNCTION auth_private._token_revocations_written() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM auth_private._token_revocations_changed(); RETURN NULL; END $$;

CREATE TRIGGER publish AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_private._token_revocations
    FOR EACH STATEMENT EXECUTE FUNCTION auth_private._token_revocations_written();
ALTER TABLE auth_private._token_revocations ENABLE ALWAYS TRIGGER publish;

-- When an entry whose cut-off is `cut` may be purged: every token it matches was issued before
-- `cut`, so (auth.max_token_lifetime) expired before cut + max_token_lifetime, and is refused
-- once auth.leeway has passed too; a token without iat is accepted only while its exp is within
-- max_token_lifetime + leeway of now, hence the second leeway. Verification reads the clock in
-- whole seconds (a token stays valid until the second after its exp): one second more.
CREATE FUNCTION auth_private._revocation_expiry(cut timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT $1 + current_setting('auth.max_token_lifetime')::interval
              + 2 * current_setting('auth.leeway')::interval + interval '1 second'
$$;

-- Purge, check the bound, insert, audit.
CREATE FUNCTION auth_private._revoke(kind text, value text, issued_before timestamptz,
                                     expires_at timestamptz, reason text, action text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bound bigint := current_setting('auth.max_token_revocations')::bigint;
    lo bigint;
    hi bigint;
    new_id bigint;
    label text := CASE $1 WHEN 'subject' THEN 'subject' WHEN 'session' THEN 'session_id'
                          WHEN 'jti' THEN 'jti' ELSE 'token_hash' END;
BEGIN
    IF $2 = '' OR octet_length($2) > 1024 THEN
        RAISE EXCEPTION '% must be 1 to 1024 bytes long', label
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length($5) > 1024 THEN
        RAISE EXCEPTION 'reason must be at most 1024 bytes long'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The purge: entries that only match tokens which can no longer be valid.
    DELETE FROM auth_private._token_revocations r WHERE r.expires_at < now();
    -- Live entries are at most max(id) - min(id) + 1: count them only when that is near the bound.
    SELECT min(r.id), max(r.id) INTO lo, hi FROM auth_private._token_revocations r;
    IF hi - lo + 1 >= bound
       AND (SELECT count(*) FROM auth_private._token_revocations) >= bound THEN
        RAISE EXCEPTION 'cannot revoke: there are already % live token revocations, as many as auth.max_token_revocations allows', bound
            USING ERRCODE = 'configuration_limit_exceeded',
                  DETAIL = 'Every session keeps every live entry in memory; nothing was revoked.',
                  HINT = 'entries are purged once they expire (auth.max_token_lifetime after their cut-off); a superuser may raise auth.max_token_revocations';
    END IF;
    INSERT INTO auth_private._token_revocations (kind, value, issued_before, expires_at, reason)
    VALUES ($1, $2, $3, $4, $5)
    RETURNING id INTO new_id;
    PERFORM auth_private._audit($6, NULL,
        jsonb_build_object('kind', $1, label, $2, 'issued_before', $3, 'expires_at', $4,
                           'reason', $5, 'revocation_id', new_id));
END $$;

CREATE FUNCTION auth.revoke_tokens(sub text, issued_before timestamptz DEFAULT now(),
                                   reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth_private._required($1, 'sub');
    PERFORM auth_private._required($2, 'issued_before');
    IF NOT isfinite($2) THEN
        RAISE EXCEPTION 'issued_before must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM auth_private._revoke('subject', $1, $2, auth_private._revocation_expiry($2), $3,
                                 'revoke_tokens');
END $$;

CREATE FUNCTION auth.revoke_session(session_id text, reason text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth_private._required($1, 'session_id');
    PERFORM auth_private._revoke('session', $1, NULL, auth_private._revocation_expiry(now()), $2,
                                 'revoke_session');
END $$;

-- By the token's jti, else by its SHA-256; kept until the token's own exp (+ leeway and the
-- second of the clock's resolution), after which it cannot verify.
CREATE FUNCTION auth.revoke_token(token text, reason text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
BEGIN
    PERFORM auth_private._required($1, 'token');
    SELECT * INTO t FROM auth_private._token_revocation_target($1);
    PERFORM auth_private._revoke(t.kind, t.value, NULL,
        CASE WHEN t.exp IS NULL THEN auth_private._revocation_expiry(now())
             WHEN t.exp > 9e12 THEN 'infinity'::timestamptz
             ELSE greatest(to_timestamp(t.exp), now()) + current_setting('auth.leeway')::interval
                  + interval '1 second'
        END,
        $2, 'revoke_token');
END $$;

-- The caller's own tokens: every token of the verified sub issued before now.
CREATE FUNCTION auth.sign_out() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sub text := auth_private._caller_subject();
BEGIN
    PERFORM auth_private._revoke('subject', sub, now(), auth_private._revocation_expiry(now()),
                                 'sign_out', 'sign_out');
END $$;

-- What is revoked; never a whole token. Not readable by PUBLIC (auth.grant_admin grants it).
CREATE VIEW auth.token_revocations AS
SELECT r.kind,
       CASE WHEN r.kind = 'subject' THEN r.value END AS subject,
       CASE WHEN r.kind = 'session' THEN r.value END AS session_id,
       CASE WHEN r.kind = 'jti' THEN r.value END AS jti,
       CASE WHEN r.kind = 'token' THEN r.value END AS token_hash,
       r.issued_before, r.expires_at, r.reason, r.actor, r.at, r.id
FROM auth_private._token_revocations r;
REVOKE ALL ON auth.token_revocations FROM PUBLIC;

INSERT INTO auth_private._admin_functions VALUES
    ('auth.revoke_tokens(text, timestamptz, text)'), ('auth.revoke_session(text, text)'),
    ('auth.revoke_token(text, text)');
REVOKE EXECUTE ON FUNCTION auth.revoke_tokens(text, timestamptz, text),
    auth.revoke_session(text, text), auth.revoke_token(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION auth_private._caller_subject(), auth_private._token_revocations_changed(),
    auth_private._token_revocation_target(text), auth_private._stamp_token_revocation(),
    auth_private._token_revocations_written(), auth_private._revocation_expiry(timestamptz),
    auth_private._revoke(text, text, timestamptz, timestamptz, text, text) FROM PUBLIC;

-- 7. Third-party issuers (README "Third-party issuers"; as in sql/issuers.sql) --------------------

CREATE FUNCTION auth_private."_fetch_issuer"(
	"issuer" TEXT,
	"jwks_uri" TEXT,
	"stored" jsonb
) RETURNS jsonb
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', '_fetch_issuer_wrapper';

CREATE FUNCTION auth_private."_check_issuer_urls"(
	"issuer" TEXT,
	"jwks_uri" TEXT
) RETURNS void
IMMUTABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', '_check_issuer_urls_wrapper';

CREATE FUNCTION auth_private."_issuers_changed"() RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', '_issuers_changed_wrapper';

CREATE FUNCTION auth_private."_issuer_added"() RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', '_issuer_added_wrapper';

CREATE TABLE auth_private._issuers (
    issuer          text PRIMARY KEY CHECK (octet_length(issuer) BETWEEN 1 AND 2048),
    discover        boolean NOT NULL,
    jwks_uri        text NOT NULL CHECK (octet_length(jwks_uri) <= 2048),
    audience        text CHECK (octet_length(audience) BETWEEN 1 AND 1024),
    default_role    text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_fetch_at   timestamptz,
    last_success_at timestamptz,
    last_error      text,
    next_refresh_at timestamptz
);
-- The issuers' public keys (never private material): the part of the JWKS that verifies.
CREATE TABLE auth_private._issuer_keys (
    issuer     text NOT NULL,
    kid        text NOT NULL,
    alg        text NOT NULL,
    verify_key bytea NOT NULL,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, kid)
);
REVOKE ALL ON auth_private._issuers, auth_private._issuer_keys FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('auth_private._issuers', '');
SELECT pg_catalog.pg_extension_config_dump('auth_private._issuer_keys', '');

-- Publication, as for the key tables (finalize.sql, section 4). A failed fetch writes only
-- last_fetch_at, last_error and next_refresh_at, which verification does not read: it publishes
-- nothing.
CREATE FUNCTION auth_private._issuers_written() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM auth_private._issuers_changed(); RETURN NULL; END $$;

CREATE TRIGGER publish
    AFTER INSERT OR UPDATE OF issuer, audience, default_role, last_success_at OR DELETE OR TRUNCATE
    ON auth_private._issuers
    FOR EACH STATEMENT EXECUTE FUNCTION auth_private._issuers_written();
CREATE TRIGGER publish AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_private._issuer_keys
    FOR EACH STATEMENT EXECUTE FUNCTION auth_private._issuers_written();
ALTER TABLE auth_private._issuers ENABLE ALWAYS TRIGGER publish;
ALTER TABLE auth_private._issuer_keys ENABLE ALWAYS TRIGGER publish;

CREATE FUNCTION auth_private._lock_issuers() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ LOCK TABLE auth_private._issuers IN SHARE ROW EXCLUSIVE MODE $$;

-- Fetch the issuer's keys now (src/issuers.rs does the fetch and compares with the stored keys)
-- and store them: keys are rewritten only when they changed. Raises, changing nothing, when the
-- fetch fails. Returns the number of usable keys.
CREATE FUNCTION auth_private._refresh_issuer(issuer text, origin text) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    i auth_private._issuers;
    f jsonb;
BEGIN
    SELECT * INTO i FROM auth_private._issuers WHERE auth_private._issuers.issuer = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no issuer "%"', auth_private._shown($1)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    f := auth_private._fetch_issuer(i.issuer, CASE WHEN i.discover THEN NULL ELSE i.jwks_uri END,
        (SELECT coalesce(jsonb_agg(jsonb_build_object('kid', k.kid, 'alg', k.alg,
                                                      'verify_key', encode(k.verify_key, 'hex'))),
                         '[]')
           FROM auth_private._issuer_keys k WHERE k.issuer = i.issuer));
    IF jsonb_array_length(f -> 'added') + jsonb_array_length(f -> 'removed')
       + jsonb_array_length(f -> 'replaced') > 0 THEN
        DELETE FROM auth_private._issuer_keys k WHERE k.issuer = i.issuer;
        INSERT INTO auth_private._issuer_keys (issuer, kid, alg, verify_key)
        SELECT i.issuer, e ->> 'kid', e ->> 'alg', decode(e ->> 'verify_key', 'hex')
        FROM jsonb_array_elements(f -> 'keys') e;
        PERFORM auth_private._audit('issuer_keys_changed', NULL,
            jsonb_build_object('issuer', i.issuer, 'added', f -> 'added',
                               'removed', f -> 'removed', 'replaced', f -> 'replaced'));
    END IF;
    UPDATE auth_private._issuers s
       SET jwks_uri = f ->> 'jwks_uri', last_fetch_at = now(), last_success_at = now(),
           last_error = NULL,
           next_refresh_at = now() + make_interval(secs => (f ->> 'refresh_after')::double precision)
     WHERE s.issuer = i.issuer;
    PERFORM auth_private._audit('issuer_fetch', NULL,
        jsonb_build_object('issuer', i.issuer, 'origin', $2, 'jwks_uri', f ->> 'jwks_uri',
                           'keys', jsonb_array_length(f -> 'keys'), 'skipped', f -> 'skipped'));
    RETURN jsonb_array_length(f -> 'keys');
END $$;

-- The background worker's refresh (src/worker.rs): a failure is recorded (last_error, an audit
-- row) and retried after auth.issuer_min_refresh; the keys stay as they were. NULL on failure.
CREATE FUNCTION auth_private._refresh_issuer_in_background(issuer text, origin text)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN auth_private._refresh_issuer($1, $2);
EXCEPTION WHEN OTHERS THEN
    UPDATE auth_private._issuers s
       SET last_fetch_at = now(), last_error = SQLERRM,
           next_refresh_at = now() + current_setting('auth.issuer_min_refresh')::interval
     WHERE s.issuer = $1;
    PERFORM auth_private._audit('issuer_fetch_failed', NULL,
        jsonb_build_object('issuer', $1, 'origin', $2, 'error', SQLERRM));
    RETURN NULL;
END $$;

CREATE FUNCTION auth.add_issuer(issuer text, jwks_uri text DEFAULT NULL, audience text DEFAULT NULL,
                                default_role text DEFAULT 'authenticated')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth_private._required($1, 'issuer');
    PERFORM auth_private._required($4, 'default_role');
    IF NOT auth_private._role_allowed($4) THEN
        RAISE EXCEPTION 'default_role is not one of auth.allowed_roles (%)',
            current_setting('auth.allowed_roles') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF $3 = '' THEN
        RAISE EXCEPTION 'audience must be NULL or not empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM auth_private._check_issuer_urls($1, $2);
    PERFORM auth_private._lock_issuers();
    IF EXISTS (SELECT 1 FROM auth_private._issuers i WHERE i.issuer = $1) THEN
        RAISE EXCEPTION 'issuer "%" is already registered', auth_private._shown($1)
            USING ERRCODE = 'duplicate_object', HINT = 'remove it first with auth.remove_issuer';
    END IF;
    INSERT INTO auth_private._issuers (issuer, discover, jwks_uri, audience, default_role)
    VALUES ($1, $2 IS NULL, coalesce($2, ''), $3, $4);
    PERFORM auth_private._audit('add_issuer', NULL,
        jsonb_build_object('issuer', $1, 'jwks_uri', $2, 'audience', $3, 'default_role', $4));
    PERFORM auth_private._refresh_issuer($1, 'add_issuer');
    PERFORM auth_private._issuer_added();
END $$;

CREATE FUNCTION auth.remove_issuer(issuer text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth_private._required($1, 'issuer');
    PERFORM auth_private._lock_issuers();
    DELETE FROM auth_private._issuers i WHERE i.issuer = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no issuer "%"', auth_private._shown($1)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM auth_private._issuer_keys k WHERE k.issuer = $1;
    PERFORM auth_private._audit('remove_issuer', NULL, jsonb_build_object('issuer', $1));
END $$;

CREATE FUNCTION auth.refresh_issuer(issuer text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM auth_private._required($1, 'issuer');
    RETURN auth_private._refresh_issuer($1, 'refresh_issuer');
END $$;

CREATE VIEW auth.issuers AS
SELECT i.issuer, i.jwks_uri, i.audience, i.default_role,
       (SELECT count(*) FROM auth_private._issuer_keys k WHERE k.issuer = i.issuer)::integer AS key_count,
       i.last_fetch_at, i.last_success_at, i.last_error, i.next_refresh_at
FROM auth_private._issuers i;
REVOKE ALL ON auth.issuers FROM PUBLIC;

-- auth.keys gains the issuers' keys and the column `issuer` (as in sql/finalize.sql).
CREATE OR REPLACE VIEW auth.keys WITH (security_barrier) AS
SELECT k.kid, k.alg, k.state, k.is_legacy, k.private_key IS NOT NULL AS can_sign, k.description,
       k.created_at, k.state_changed_at, auth_private._public_jwk(k.alg, k.verify_key, k.kid) AS public_jwk,
       NULL::text AS issuer
FROM auth_private._keys k
UNION ALL
SELECT ik.kid, ik.alg, NULL, false, false, NULL, ik.fetched_at, NULL,
       auth_private._public_jwk(ik.alg, ik.verify_key, ik.kid), ik.issuer
FROM auth_private._issuer_keys ik;

INSERT INTO auth_private._admin_functions VALUES
    ('auth.add_issuer(text, text, text, text)'), ('auth.remove_issuer(text)'),
    ('auth.refresh_issuer(text)');
REVOKE EXECUTE ON FUNCTION auth.add_issuer(text, text, text, text), auth.remove_issuer(text),
    auth.refresh_issuer(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION auth_private._fetch_issuer(text, text, jsonb),
    auth_private._check_issuer_urls(text, text), auth_private._issuers_changed(),
    auth_private._issuer_added(), auth_private._issuers_written(), auth_private._lock_issuers(),
    auth_private._refresh_issuer(text, text),
    auth_private._refresh_issuer_in_background(text, text) FROM PUBLIC;
