-- pg_auth_keys: token revocations (README "Revoking tokens"): sign a user out everywhere, end one
-- session, take back one token.
--
-- Like the key functions (finalize.sql), the functions that revoke are SECURITY DEFINER with
-- search_path pinned, not executable by PUBLIC (granted by auth.grant_admin), and write one
-- auth.key_events row per change; auth.sign_out is for every role that has verified claims.
-- Verification reads the table (src/revocations.rs); the triggers below publish every committed
-- write to it, as for the key tables.

-- One row per revocation. `value` is the subject, the session id, the jti, or `sha256:` and the
-- hex SHA-256 of a token without jti: never a whole token. An entry matches only tokens that
-- cannot be valid after `expires_at`, when it is purged (see auth_private._revocation_expiry).
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
