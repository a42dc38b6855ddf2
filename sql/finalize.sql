-- pg_auth_keys: the key lifecycle, views and privileges (runs after the Rust functions exist).
--
-- Every function that changes keys:
--   * is SECURITY DEFINER with search_path pinned, and not executable by PUBLIC;
--   * takes auth_private._lock_keys() first, so concurrent changes serialize;
--   * writes exactly one auth.key_events row per change, in the same transaction;
--   * calls only objects of schema auth_private (never a name in `auth`, whose owner may not be
--     us), fully qualified and with exact argument types.
-- Publication does not depend on these functions: the triggers below publish every committed
-- write to the key tables, whoever makes it (see "Publication" at the end of this file).

-- Any role may call the verification and claims functions (RLS policies run as the caller).
GRANT USAGE ON SCHEMA auth TO PUBLIC;

CREATE FUNCTION auth_private._lock_keys() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ LOCK TABLE auth_private._keys IN SHARE ROW EXCLUSIVE MODE $$;

CREATE FUNCTION auth_private._audit(action text, kid text, detail jsonb DEFAULT '{}') RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ INSERT INTO auth_private.key_events (action, kid, detail) VALUES ($1, $2, coalesce($3, '{}')) $$;

-- A caller's text as an error message shows it: at most 64 characters, so that a 10 MB argument
-- does not become a 10 MB message.
CREATE FUNCTION auth_private._shown(value text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN length($1) > 64 THEN left($1, 64) || '…' ELSE coalesce($1, '<NULL>') END $$;

-- Refuse a NULL argument with 22023 rather than letting it reach a NOT NULL column (23502).
CREATE FUNCTION auth_private._required(value anyelement, name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', $2 USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

-- A new key's kid must be new: not in use, and not a deleted key's (deletion is permanent).
CREATE FUNCTION auth_private._check_new_kid(kid text) RETURNS void
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

-- The row of `kid`, locked; raises when there is none.
CREATE FUNCTION auth_private._key_for_update(kid text) RETURNS auth_private._keys
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

CREATE FUNCTION auth_private._wait_text(remaining interval) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT ceil(extract(epoch FROM $1))::bigint || ' more seconds' $$;

CREATE FUNCTION auth_private._insert_key(kid text, alg text, verify_key bytea, private_key bytea,
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

-- 1. Creating and importing keys ------------------------------------------------------------

CREATE FUNCTION auth.create_key(alg text DEFAULT 'ES256', description text DEFAULT NULL)
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

CREATE FUNCTION auth.import_key(jwk jsonb, description text DEFAULT NULL) RETURNS text
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

CREATE FUNCTION auth.import_pem(pem text, alg text, description text DEFAULT NULL) RETURNS text
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

-- A whole key set, all or nothing (one function call is one statement: any refusal rolls back
-- every key it inserted).
CREATE FUNCTION auth.import_jwks(jwks jsonb) RETURNS SETOF text
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

CREATE FUNCTION auth.migrate_legacy_secret(secret text)
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

-- 2. Transitions ------------------------------------------------------------------------------

CREATE FUNCTION auth.rotate_key(kid text DEFAULT NULL, force boolean DEFAULT false) RETURNS text
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

CREATE FUNCTION auth.revoke_key(kid text, force boolean DEFAULT false) RETURNS void
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

CREATE FUNCTION auth.move_key(kid text, to_state auth.key_state) RETURNS void
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

CREATE FUNCTION auth.delete_key(kid text) RETURNS void
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

-- 3. What may be seen ------------------------------------------------------------------------

-- Public JWKs of trusted asymmetric keys: what external verifiers fetch. Public by nature.
CREATE FUNCTION auth_private._jwks() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('keys', coalesce(
        jsonb_agg(auth_private._public_jwk(k.alg, k.verify_key, k.kid) ORDER BY k.created_at, k.kid),
        '[]'::jsonb))
    FROM auth_private._keys k
    WHERE k.state <> 'revoked' AND k.alg NOT LIKE 'HS%'
$$;

CREATE FUNCTION auth.jwks() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT auth_private._jwks() $$;

-- Our keys, then the third-party issuers' (verify-only, no state; sql/issuers.sql).
CREATE VIEW auth.keys WITH (security_barrier) AS
SELECT k.kid, k.alg, k.state, k.is_legacy, k.private_key IS NOT NULL AS can_sign, k.description,
       k.created_at, k.state_changed_at, auth_private._public_jwk(k.alg, k.verify_key, k.kid) AS public_jwk,
       NULL::text AS issuer
FROM auth_private._keys k
UNION ALL
SELECT ik.kid, ik.alg, NULL, false, false, NULL, ik.fetched_at, NULL,
       auth_private._public_jwk(ik.alg, ik.verify_key, ik.kid), ik.issuer
FROM auth_private._issuer_keys ik;

-- Signs with the in_use key, or the named trusted key that has private material.
CREATE FUNCTION auth.sign_jwt(claims jsonb, kid text DEFAULT NULL) RETURNS text
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

-- 3c. Re-sealing -------------------------------------------------------------------------------

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

-- 3b. Claims functions are evaluated once per statement (src/planner.rs) -------------------

ALTER FUNCTION auth.uid() SUPPORT auth_private._claims_support;
ALTER FUNCTION auth.claims() SUPPORT auth_private._claims_support;
ALTER FUNCTION auth.jwt() SUPPORT auth_private._claims_support;
ALTER FUNCTION auth.role() SUPPORT auth_private._claims_support;
ALTER FUNCTION auth.email() SUPPORT auth_private._claims_support;

-- 4. Publication ------------------------------------------------------------------------------

-- Every committed write to the key tables reaches every session at its next statement, on this
-- server and on hot standbys, whoever makes it: the lifecycle functions, an owner's direct
-- INSERT/UPDATE/DELETE/TRUNCATE/COPY, pg_restore. The statement triggers below queue a relcache
-- invalidation of auth_private._keys, which PostgreSQL sends only if the transaction commits
-- (including a rolled-back savepoint's writes: they send nothing), writes into the commit's WAL
-- record for standbys, and delivers to every backend of this database before its next
-- statement (src/keyset.rs, docs/design.md). ENABLE ALWAYS: they fire under
-- session_replication_role = replica too.
CREATE FUNCTION auth_private._signing_keys_written() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM auth_private._keys_changed(); RETURN NULL; END $$;

CREATE FUNCTION auth_private._api_keys_written() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$ BEGIN PERFORM auth_private._api_keys_changed(); RETURN NULL; END $$;

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
    ('auth.import_legacy_api_key(text)'), ('auth.set_legacy_api_keys_enabled(boolean)'),
    ('auth.revoke_tokens(text, timestamptz, text)'), ('auth.revoke_session(text, text)'),
    ('auth.revoke_token(text, text)'),
    ('auth.add_issuer(text, text, text, text)'), ('auth.remove_issuer(text)'),
    ('auth.refresh_issuer(text)');
REVOKE ALL ON auth_private._admin_functions FROM PUBLIC;

-- Functions are executable by PUBLIC by default: take that away from everything internal and
-- everything administrative. What remains for PUBLIC: verification, claims, jwks, version,
-- stats, pre_request / postgrest_pre_config, sign_out (the caller's own tokens), and three
-- internal functions the public API calls with the caller's privileges: auth_private._public_jwk
-- (a pure function of public bytes, called by the auth.keys view), auth_private._verify_api_key
-- (called by auth.verify_api_key) and auth_private._pre_request (called by auth.pre_request; it
-- returns a refusal or a role).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA auth_private FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_private._public_jwk(text, bytea, text),
    auth_private._verify_api_key(text), auth_private._pre_request() TO PUBLIC;
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT a.fn FROM auth_private._admin_functions a LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;
REVOKE ALL ON auth.keys, auth.api_keys FROM PUBLIC;
-- Superuser only, and not among the administrative functions grant_admin grants.
REVOKE EXECUTE ON FUNCTION auth.rekey() FROM PUBLIC;

-- Gives `role` everything an administrator of keys needs; superuser only (it is not granted).
CREATE FUNCTION auth.grant_admin(role name) RETURNS void
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
REVOKE EXECUTE ON FUNCTION auth.grant_admin(name) FROM PUBLIC;

-- 6. The key-encryption key ---------------------------------------------------------------------

-- With no auth.root_key, the data directory's key file (pg_auth_keys.kek) is made now rather
-- than at the first key, so that a standby copied from this server from now on has it.
SELECT auth_private._init_kek();
