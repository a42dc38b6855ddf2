-- pg_auth_keys: API keys (README "API keys") and the PostgREST hooks (README "PostgREST").
--
-- Like the signing-key functions (finalize.sql), every function that changes API keys is
-- SECURITY DEFINER with search_path pinned, not executable by PUBLIC, and writes one
-- auth.key_events row per change (kid NULL, detail.api_key_id set). The triggers of
-- finalize.sql publish every committed write to these tables.

-- The key's id, kind and role; SQLSTATE 28000 when it is malformed, unknown or revoked.
-- PARALLEL RESTRICTED: a parallel worker has no copy of the API keys, and under REPEATABLE READ
-- it cannot read the table with a snapshot newer than the transaction's (src/latest.rs).
CREATE FUNCTION auth.verify_api_key(key text) RETURNS TABLE (id uuid, kind text, role name)
LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED
AS $$ SELECT v.id, v.kind, v.role::pg_catalog.name FROM auth_private._verify_api_key($1) v $$;

CREATE FUNCTION auth_private._lock_api_keys() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ LOCK TABLE auth_private._api_keys IN SHARE ROW EXCLUSIVE MODE $$;

-- The row of `id`, locked; raises when there is none.
CREATE FUNCTION auth_private._api_key_for_update(id uuid) RETURNS auth_private._api_keys
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

CREATE FUNCTION auth_private._audit_api_key(action text, k auth_private._api_keys, detail jsonb DEFAULT '{}')
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO auth_private.key_events (action, kid, detail)
    VALUES ($1, NULL, jsonb_build_object('api_key_id', ($2).id, 'kind', ($2).kind,
                                         'name', ($2).name, 'prefix', ($2).prefix,
                                         'role', ($2).role) || coalesce($3, '{}'))
$$;

-- Are legacy anon / service_role keys enabled? True by default, and only meaningful while some
-- legacy key is registered and unrevoked.
CREATE FUNCTION auth_private._legacy_api_keys_enabled() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT s.enabled FROM auth_private._switches s WHERE s.name = 'legacy_api_keys'), true)
       AND EXISTS (SELECT 1 FROM auth_private._api_keys k WHERE k.kind = 'legacy' AND k.revoked_at IS NULL)
$$;

CREATE FUNCTION auth.create_api_key(kind text, name text, role name DEFAULT NULL) RETURNS text
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

CREATE FUNCTION auth.revoke_api_key(id uuid, reason text DEFAULT NULL,
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

CREATE FUNCTION auth.delete_api_key(id uuid, reason text DEFAULT NULL,
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

CREATE FUNCTION auth.reveal_api_key(id uuid) RETURNS text
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

-- The legacy anon / service_role JWT, signed by the legacy secret (auth.migrate_legacy_secret).
CREATE FUNCTION auth.import_legacy_api_key(jwt text) RETURNS uuid
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

CREATE FUNCTION auth.set_legacy_api_keys_enabled(enabled boolean) RETURNS void
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

CREATE VIEW auth.api_keys WITH (security_barrier) AS
SELECT k.id, k.kind, k.name, k.prefix, k.role, k.created_at, k.revoked_at
FROM auth_private._api_keys k;

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

-- PostgREST --------------------------------------------------------------------------------

-- db-pre-request: refuses the request with SQLSTATE PT401 (PostgREST answers HTTP 401 with the
-- message, detail and hint as JSON) unless the apikey header holds a valid key and the
-- authorization header, when present, holds a valid bearer JWT or that same key. When the key is
-- the request's only credential, its role becomes the transaction's role, so the query PostgREST
-- runs next runs as it. SECURITY INVOKER: PostgreSQL refuses to set the role inside a SECURITY
-- DEFINER function, and SET ROLE checks the session user (the authenticator), which must be a
-- member of the key's role (auth_private._pre_request refuses with the missing GRANT otherwise).
CREATE FUNCTION auth.pre_request() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
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

-- db-pre-config: PostgREST verifies JWTs with the public keys of the trusted signing keys.
CREATE FUNCTION auth.postgrest_pre_config() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('pgrst.jwt_secret', auth_private._jwks()::text, true);
    PERFORM set_config('pgrst.jwt_secret_is_base64', 'false', true);
END $$;

-- Privileges: finalize.sql revokes and grants for every function, from one list.
