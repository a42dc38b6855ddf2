-- pg_auth_keys: schemas, tables and types (runs before the Rust functions are created).
--
-- The public API lives in schema `auth`, which may already exist and belong to another role (as
-- in Supabase or PostgREST set-ups). Everything internal - tables, helper functions, the audit
-- table - lives in schema `auth_private`, which this script creates: it is a member of the
-- extension, owned by the installing superuser, and nobody else may create objects in it, so no
-- role can plant an overload or a look-alike table that the extension's own code would call or
-- read. The extension's code names internal objects fully qualified, with exact argument types,
-- and never resolves a name in `auth`; the Rust side checks that `auth_private` is the
-- extension's own schema before it reads anything (src/catalog.rs).
--
-- auth_private._keys holds private keys and shared secrets: no role but the extension's owner
-- may read it. Everything users see goes through the auth.keys view, auth.jwks() and the
-- functions.

-- A schema `auth` in which every role may create objects would let any role plant functions
-- and types next to the public API: refuse to install into it.
DO $$
BEGIN
    IF pg_catalog.has_schema_privilege('public', '@extschema@', 'CREATE') THEN
        RAISE EXCEPTION 'pg_auth_keys cannot be installed into schema "@extschema@": PUBLIC may create objects in it'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'REVOKE CREATE ON SCHEMA @extschema@ FROM PUBLIC, then CREATE EXTENSION again';
    END IF;
END $$;

CREATE SCHEMA auth_private;
REVOKE ALL ON SCHEMA auth_private FROM PUBLIC;
-- Lookup only: the functions and tables in it keep their own privileges.
GRANT USAGE ON SCHEMA auth_private TO PUBLIC;

CREATE TYPE auth.key_state AS ENUM ('standby', 'in_use', 'previously_used', 'revoked');

CREATE TABLE auth_private._keys (
    kid              text PRIMARY KEY CHECK (octet_length(kid) BETWEEN 1 AND 256),
    alg              text NOT NULL CHECK (alg IN ('ES256', 'RS256', 'EdDSA', 'HS256', 'RS384', 'RS512',
                                                  'PS256', 'PS384', 'PS512', 'ES384', 'HS384', 'HS512')),
    state            auth.key_state NOT NULL DEFAULT 'standby',
    is_legacy        boolean NOT NULL DEFAULT false,
    -- What verifies: the public key in the JOSE core's canonical form, or the HMAC secret sealed
    -- (src/kek.rs; 37 bytes longer than the secret, which is at most 1024 bytes).
    verify_key       bytea NOT NULL CHECK (octet_length(verify_key) <= 1077),
    -- What signs, always sealed: PKCS#8 / PKCS#1 DER or the HMAC secret; NULL for a verify-only
    -- key. No role but the extension's owner reads it, and what it reads is useless without the
    -- key-encryption key, which is not in the database.
    private_key      bytea,
    description      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    -- When the key last stopped being in_use: revoke_key's guard counts from here.
    left_in_use_at   timestamptz,
    CONSTRAINT verify_only_keys_never_sign CHECK (state <> 'in_use' OR private_key IS NOT NULL)
);
-- At most one key in use, enforced by the database itself.
CREATE UNIQUE INDEX _keys_one_in_use ON auth_private._keys ((true)) WHERE state = 'in_use';
CREATE UNIQUE INDEX _keys_one_legacy ON auth_private._keys ((true)) WHERE is_legacy;
REVOKE ALL ON auth_private._keys FROM PUBLIC;

CREATE TABLE auth_private.key_events (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  name NOT NULL DEFAULT session_user,
    action text NOT NULL,
    kid    text,
    detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX key_events_kid ON auth_private.key_events (kid, id);
REVOKE ALL ON auth_private.key_events FROM PUBLIC;
-- The audit trail as users read it (grant_admin grants SELECT on it).
CREATE VIEW auth.key_events AS
SELECT e.at, e.actor, e.action, e.kid, e.detail, e.id FROM auth_private.key_events e;
REVOKE ALL ON auth.key_events FROM PUBLIC;

-- pg_dump keeps the rows of both tables.
SELECT pg_catalog.pg_extension_config_dump('auth_private._keys', '');
SELECT pg_catalog.pg_extension_config_dump('auth_private.key_events', '');

-- API keys (README "API keys"). Only the SHA-256 of each key is kept: a key has about 190 random
-- bits, so a fast hash cannot be reversed. A secret key is also kept sealed (AES-256-GCM under
-- auth.root_key) when a root key was configured at creation, so auth.reveal_api_key can show it.
CREATE TABLE auth_private._api_keys (
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
REVOKE ALL ON auth_private._api_keys FROM PUBLIC;

-- Switches that are not settings because they must be transactional and the same in every
-- session; a missing row means the default. Today only 'legacy_api_keys' (default enabled).
CREATE TABLE auth_private._switches (
    name    text PRIMARY KEY CHECK (name IN ('legacy_api_keys')),
    enabled boolean NOT NULL
);
REVOKE ALL ON auth_private._switches FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('auth_private._api_keys', '');
SELECT pg_catalog.pg_extension_config_dump('auth_private._switches', '');
