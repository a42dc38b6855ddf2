//! The `auth.*` settings (contract §6).
//!
//! Every setting that decides whether a token is trusted is `SUSET`: a role that can run SQL must
//! not be able to widen what its own session accepts (for example `SET auth.claims_source =
//! 'postgrest'` followed by a forged `request.jwt.claims`). Superusers set them in
//! `postgresql.conf`, with `ALTER DATABASE/ROLE … SET`, or delegate with `GRANT SET ON PARAMETER`.

use std::ffi::CString;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClaimsSource {
    #[name = c"verified"]
    Verified,
    #[name = c"postgrest"]
    Postgrest,
}

pub static LEEWAY_SECS: GucSetting<i32> = GucSetting::<i32>::new(30);
pub static AUDIENCE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static ISSUER: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static ROLE_CLAIM: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"role"));
pub static ALLOWED_ROLES: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"anon,authenticated,service_role"));
pub static CLAIMS_SOURCE: GucSetting<ClaimsSource> =
    GucSetting::<ClaimsSource>::new(ClaimsSource::Verified);
pub static JWT_MAX_LIFETIME_SECS: GucSetting<i32> = GucSetting::<i32>::new(3600);
pub static JWKS_CACHE_TTL_SECS: GucSetting<i32> = GucSetting::<i32>::new(1200);
pub static MAX_TOKEN_BYTES: GucSetting<i32> = GucSetting::<i32>::new(16384);
pub static ROOT_KEY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// Shared-memory slots for keys, across all databases (postmaster setting).
pub static MAX_KEYS: GucSetting<i32> = GucSetting::<i32>::new(64);
/// Verified tokens kept per backend.
/// 2048 entries of about 4.5 KiB each (measured: bench item 6) bound the cache near 9 MiB.
pub static TOKEN_CACHE_ENTRIES: GucSetting<i32> = GucSetting::<i32>::new(2048);

/// Longest `exp - iat` a token may have (one week: the longest access-token lifetime hosted auth
/// servers allow). Revocation entries are kept this long after their cut-off, and no longer.
pub static MAX_TOKEN_LIFETIME_SECS: GucSetting<i32> = GucSetting::<i32>::new(7 * 24 * 3600);
/// Live revocation entries a database may hold; each backend keeps all of them in memory.
pub static MAX_TOKEN_REVOCATIONS: GucSetting<i32> = GucSetting::<i32>::new(1_000_000);

pub fn register() {
    // A postmaster setting can only be defined while the postmaster loads the library; without
    // preloading there is no shared memory to size (shmem::store refuses with 55000).
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        GucRegistry::define_int_guc(
            c"auth.max_keys",
            c"Shared-memory slots for signing keys, across all databases.",
            c"",
            &MAX_KEYS,
            4,
            65536,
            GucContext::Postmaster,
            GucFlags::default(),
        );
    }
    GucRegistry::define_int_guc(
        c"auth.leeway",
        c"Clock skew, in seconds, allowed when checking exp, nbf and iat.",
        c"",
        &LEEWAY_SECS,
        0,
        3600,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"auth.audience",
        c"When set, a token's aud claim must contain exactly this value.",
        c"",
        &AUDIENCE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"auth.issuer",
        c"When set, a token's iss claim must equal this value.",
        c"",
        &ISSUER,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"auth.role_claim",
        c"The claim auth.role() reads and auth.allowed_roles checks.",
        c"",
        &ROLE_CLAIM,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"auth.allowed_roles",
        c"Comma-separated roles a token's role claim may name.",
        c"A token whose role claim is present but not one of these is refused.",
        &ALLOWED_ROLES,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"auth.claims_source",
        c"Where auth.claims() takes claims from: verified (default) or postgrest.",
        c"",
        &CLAIMS_SOURCE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"auth.jwt_max_lifetime",
        c"Lifetime of tokens signed by auth.sign_jwt, and how long a key stays unrevokable after leaving in_use.",
        c"",
        &JWT_MAX_LIFETIME_SECS,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"auth.jwks_cache_ttl",
        c"How long external verifiers may cache the JWKS; a standby key younger than this is not rotated in.",
        c"",
        &JWKS_CACHE_TTL_SECS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"auth.max_token_bytes",
        c"Tokens longer than this are refused before any parsing.",
        c"",
        &MAX_TOKEN_BYTES,
        64,
        1 << 20,
        GucContext::Suset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_string_guc(
        c"auth.root_key",
        c"Root key that encrypts secret API keys so auth.reveal_api_key can show them.",
        c"",
        &ROOT_KEY,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY | GucFlags::NO_SHOW_ALL,
    );
    GucRegistry::define_int_guc(
        c"auth.max_token_lifetime",
        c"Tokens whose exp - iat exceeds this are refused; revocation entries are kept this long.",
        c"Legacy anon and service_role API keys (JWTs of the legacy secret) are exempt.",
        &MAX_TOKEN_LIFETIME_SECS,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"auth.max_token_revocations",
        c"Live token revocation entries a database may hold; revoking more is refused.",
        c"",
        &MAX_TOKEN_REVOCATIONS,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"auth.token_cache_entries",
        c"Verified tokens cached per backend (0 disables the cache).",
        c"",
        &TOKEN_CACHE_ENTRIES,
        0,
        1 << 20,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// A string setting as Rust text; empty counts as unset.
pub fn text(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting
        .get()
        .and_then(|c| c.into_string().ok())
        .filter(|s| !s.is_empty())
}
