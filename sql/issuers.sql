-- pg_auth_keys: third-party issuers (README "Third-party issuers"). Trust Auth0, Clerk, Firebase,
-- Cognito or any OIDC issuer by its URL; its public keys are fetched (src/fetch.rs), kept here,
-- and published to every session and standby like the key tables (src/issuers.rs, docs/design.md).
--
-- As elsewhere: the functions that change issuers are SECURITY DEFINER with search_path pinned,
-- not executable by PUBLIC (granted by auth.grant_admin), and write auth.key_events rows.

-- One row per trusted issuer. `discover`: jwks_uri comes from the issuer's discovery document,
-- fetched again at every refresh.
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
