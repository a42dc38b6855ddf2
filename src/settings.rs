//! The `auth.*` settings (README "Settings").
//!
//! Every setting that decides whether a token is trusted is `SUSET`: a role that can run SQL must
//! not be able to widen what its own session accepts (for example `SET auth.claims_source =
//! 'postgrest'` followed by a forged `request.jwt.claims`). Superusers set them in
//! `postgresql.conf`, with `ALTER DATABASE/ROLE … SET`, or delegate with `GRANT SET ON PARAMETER`.
//! The root keys are stricter still (`root_key.rs`): configuration file only.

use std::ffi::{c_char, c_void, CStr, CString};

use pg_auth_keys_core::{RoleClaim, RoleList, DEFAULT_ALLOWED_ROLES, DEFAULT_ELEVATED_ROLES};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use pgrx::{pg_guard, pg_sys};

use crate::errors::{AuthError, OrRaise};

// The core crate's role-list defaults as C strings (`register` checks that they agree).
const DEFAULT_ALLOWED_ROLES_C: &CStr = c"anon,authenticated,service_role";
const DEFAULT_ELEVATED_ROLES_C: &CStr = c"service_role";

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
    GucSetting::<Option<CString>>::new(Some(DEFAULT_ALLOWED_ROLES_C));
pub static ELEVATED_ROLES: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(DEFAULT_ELEVATED_ROLES_C));
pub static CLAIMS_SOURCE: GucSetting<ClaimsSource> =
    GucSetting::<ClaimsSource>::new(ClaimsSource::Verified);
pub static JWT_MAX_LIFETIME_SECS: GucSetting<i32> = GucSetting::<i32>::new(3600);
/// Longest lifetime of a token minted by `auth.api_key_token`.
pub static API_KEY_TOKEN_MAX_TTL_SECS: GucSetting<i32> = GucSetting::<i32>::new(3600);
pub static JWKS_CACHE_TTL_SECS: GucSetting<i32> = GucSetting::<i32>::new(1200);
pub static MAX_TOKEN_BYTES: GucSetting<i32> = GucSetting::<i32>::new(16384);
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

pub static ISSUER_CA_FILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static ISSUER_ALLOW_PRIVATE: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static ISSUER_MIN_REFRESH_SECS: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static ISSUER_MAX_REFRESH_SECS: GucSetting<i32> = GucSetting::<i32>::new(86_400);
pub static ISSUER_REFETCH_COOLDOWN_SECS: GucSetting<i32> = GucSetting::<i32>::new(30);
pub static ISSUER_MAX_STALE_SECS: GucSetting<i32> = GucSetting::<i32>::new(86_400);
pub static ISSUER_FETCH_TIMEOUT_SECS: GucSetting<i32> = GucSetting::<i32>::new(10);

pub fn register() {
    register_issuer_settings();
    debug_assert_eq!(DEFAULT_ALLOWED_ROLES_C.to_str(), Ok(DEFAULT_ALLOWED_ROLES));
    debug_assert_eq!(
        DEFAULT_ELEVATED_ROLES_C.to_str(),
        Ok(DEFAULT_ELEVATED_ROLES)
    );
    // A postmaster setting can only be defined while the postmaster loads the library; without
    // preloading there is no shared memory to size (shmem::store refuses with 55000).
    // SAFETY: reads a process global set by the postmaster.
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
    // SAFETY: `check_role_claim` is a #[pg_guard] function (a panic becomes an ERROR) with the
    // signature PostgreSQL calls string check hooks with; the setting is a static.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"auth.role_claim",
            c"Where a token's role is: a claim name, or a path such as .app_metadata.role.",
            c"PostgREST's jwt-role-claim-key syntax; auth.role() reads it and auth.allowed_roles checks it.",
            &ROLE_CLAIM,
            GucContext::Suset,
            GucFlags::default(),
            Some(check_role_claim),
            None,
            None,
        );
    }
    GucRegistry::define_string_guc(
        c"auth.allowed_roles",
        c"Comma-separated roles a token's role claim may name.",
        c"A token whose role claim is present but not one of these is refused.",
        &ALLOWED_ROLES,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"auth.elevated_roles",
        c"Comma-separated roles no request from a browser may reach (auth.pre_request).",
        c"Secret API keys are refused from browsers whatever their role.",
        &ELEVATED_ROLES,
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
        c"auth.api_key_token_max_ttl",
        c"Longest lifetime auth.api_key_token grants a token minted from an API key.",
        c"A longer ttl is refused (22023); auth.jwt_max_lifetime bounds it too.",
        &API_KEY_TOKEN_MAX_TTL_SECS,
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
    // auth.root_key and auth.previous_root_key: configuration file only, shown to superusers only.
    crate::root_key::register();
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

/// Third-party issuers (issuers.rs, fetch.rs, worker.rs). SUSET like the rest: what a fetch may
/// reach and trust is the administrator's choice, not a session's.
fn register_issuer_settings() {
    GucRegistry::define_string_guc(
        c"auth.issuer_ca_file",
        c"PEM file of CA certificates trusted for fetching issuers' keys, besides the system's.",
        c"",
        &ISSUER_CA_FILE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"auth.issuer_allow_private",
        c"Allow fetching issuers' keys from loopback and private addresses.",
        c"",
        &ISSUER_ALLOW_PRIVATE,
        GucContext::Suset,
        GucFlags::default(),
    );
    let seconds = [
        (
            c"auth.issuer_min_refresh",
            c"Shortest time between scheduled refreshes of an issuer's keys (Cache-Control max-age is clamped to it).",
            &ISSUER_MIN_REFRESH_SECS,
        ),
        (
            c"auth.issuer_max_refresh",
            c"Longest time between refreshes of an issuer's keys (Cache-Control max-age is clamped to it).",
            &ISSUER_MAX_REFRESH_SECS,
        ),
        (
            c"auth.issuer_refetch_cooldown",
            c"At most one fetch per issuer in this time for tokens with an unknown kid, across all sessions.",
            &ISSUER_REFETCH_COOLDOWN_SECS,
        ),
        (
            c"auth.issuer_max_stale",
            c"How long an issuer's keys are trusted after its last successful fetch.",
            &ISSUER_MAX_STALE_SECS,
        ),
        (
            c"auth.issuer_fetch_timeout",
            c"Total time one fetch of an issuer's discovery document or keys may take.",
            &ISSUER_FETCH_TIMEOUT_SECS,
        ),
    ];
    for (name, short, setting) in seconds {
        GucRegistry::define_int_guc(
            name,
            short,
            c"",
            setting,
            1,
            i32::MAX,
            GucContext::Suset,
            GucFlags::UNIT_S,
        );
    }
}

/// A string setting as Rust text; empty counts as unset.
pub fn text(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting
        .get()
        .and_then(|c| c.into_string().ok())
        .filter(|s| !s.is_empty())
}

/// `auth.role_claim`, parsed. The check hook refused every value that does not parse, so a
/// failure here is a bug; it raises rather than fall back to another claim.
pub fn role_claim() -> RoleClaim {
    match text(&ROLE_CLAIM) {
        None => RoleClaim::default(),
        Some(t) => RoleClaim::parse(&t)
            .map_err(|e| AuthError::Internal(format!("auth.role_claim: {e}")))
            .or_raise(),
    }
}

/// `auth.allowed_roles`, parsed (the one parser: `RoleList::parse`).
pub fn allowed_roles() -> RoleList {
    RoleList::parse(&text(&ALLOWED_ROLES).unwrap_or_default())
}

/// `auth.elevated_roles`, parsed.
pub fn elevated_roles() -> RoleList {
    RoleList::parse(&text(&ELEVATED_ROLES).unwrap_or_default())
}

/// Check hook of `auth.role_claim`: a value that does not parse is refused when it is set
/// (SET, ALTER SYSTEM/DATABASE/ROLE, postgresql.conf), with SQLSTATE 22023 and the reason, so
/// that a path this extension cannot read never leaves `auth.allowed_roles` unenforced.
#[pg_guard]
unsafe extern "C-unwind" fn check_role_claim(
    newval: *mut *mut c_char,
    _extra: *mut *mut c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: PostgreSQL passes a valid pointer to the proposed value, which is NULL or a
    // NUL-terminated string that lives for this call.
    let value = unsafe {
        let p = *newval;
        (!p.is_null()).then(|| CStr::from_ptr(p))
    };
    let Some(value) = value else {
        return true; // NULL: unset, read as the default
    };
    let why = match value.to_str() {
        Ok("") => return true, // empty: read as the default, as before paths
        Ok(text) => match RoleClaim::parse(text) {
            Ok(_) => return true,
            Err(e) => e.to_string(),
        },
        Err(_) => "not valid UTF-8".to_owned(),
    };
    let detail = CString::new(why).unwrap_or_default();
    // SAFETY: PostgreSQL reports (and then resets) GUC_check_errdetail_string/_errhint_string
    // right after a check hook returns false; pstrdup copies into the current memory context,
    // which lives at least that long, as format_elog_string's copy would.
    unsafe {
        pg_sys::GUC_check_errdetail_string = pg_sys::pstrdup(detail.as_ptr());
        pg_sys::GUC_check_errhint_string = pg_sys::pstrdup(
            c"use a claim name, or a path as in PostgREST's jwt-role-claim-key: .role, .app_metadata.role, .\"https://example.com/role\", .roles[0]"
                .as_ptr(),
        );
    }
    false
}

/// auth.max_token_bytes: longer tokens (and presented API keys) are refused before parsing.
pub fn max_token_bytes() -> usize {
    MAX_TOKEN_BYTES.get().max(0) as usize
}
