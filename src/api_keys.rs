//! API keys (README "API keys"): verification of a presented key against this backend's view of the
//! stored keys (api_key_set.rs), and the helpers the SQL lifecycle functions in
//! `sql/api_keys.sql` call.
//!
//! A presented key is checked offline first (prefix, length, alphabet, checksum: a typo or a
//! random string never reaches a lookup), then looked up by its SHA-256
//! (`pg_auth_keys_core::ApiKeyIndex`; why that is safe is in the README, "Security model").
//! Legacy keys are the anon / service_role JWTs of the legacy secret, found by the SHA-256 of
//! the whole token; their signature must still verify (tokens.rs).

use pg_auth_keys_core::{self as auth_core, ApiKeyKind, PresentedKey, Purpose, TokenError};
use pgrx::prelude::*;

use crate::api_key_set::{self, Entry, Kind};
use crate::errors::{ApiKeyRefusal, AuthError, OrRaise};
use crate::keyset::{self, Change};
use crate::shmem::{self, Stat};
use crate::{kek, settings, tokens};

/// Check a presented key; the entry it matches. Not counted in `auth.stats()` (`verify` is).
pub fn check(key: &str) -> Result<Entry, AuthError> {
    let presented =
        auth_core::presented_key(key, settings::max_token_bytes()).map_err(|e| match e {
            auth_core::ApiKeyError::Malformed => ApiKeyRefusal::Malformed,
            auth_core::ApiKeyError::BadChecksum => ApiKeyRefusal::BadChecksum,
        })?;
    let set = api_key_set::current()?;
    let entry = set
        .by_hash(presented.hash())
        .ok_or(ApiKeyRefusal::Unknown)?;
    let legacy = matches!(presented, PresentedKey::LegacyJwt { .. });
    if legacy && entry.kind != Kind::Legacy {
        return Err(ApiKeyRefusal::Unknown.into());
    }
    if entry.revoked {
        return Err(ApiKeyRefusal::Revoked.into());
    }
    if legacy {
        if !set.legacy_enabled {
            return Err(ApiKeyRefusal::LegacyDisabled.into());
        }
        // The signature must still verify: a revoked legacy secret takes its keys with it.
        tokens::verify_legacy_api_key(key).map_err(|e| match e {
            AuthError::Token(t) => ApiKeyRefusal::LegacyToken(t).into(),
            other => other,
        })?;
    }
    Ok(entry.clone())
}

/// Verify a presented API key, counting the outcome in `auth.stats()`.
pub fn verify(key: &str) -> Result<Entry, AuthError> {
    let store = shmem::store()?;
    let result = check(key);
    store.count(match result {
        Ok(_) => Stat::ApiKeyOk,
        Err(_) => Stat::ApiKeyFailed,
    });
    result
}

/// The role of the registered legacy API key that `token` is, if it is one. (Whether it may be
/// used is the token verification's question; this one is who it is, for the browser rule.)
pub fn legacy_key_role(token: &str) -> Result<Option<String>, AuthError> {
    let set = api_key_set::current()?;
    Ok(set
        .by_hash(&auth_core::api_key_hash(token))
        .filter(|e| e.kind == Kind::Legacy)
        .map(|e| e.role.to_string()))
}

pub(crate) mod auth {
    use super::*;

    /// Internal: is `role` in auth.allowed_roles? `auth.create_api_key` asks here, so that it
    /// and token verification read the setting with one parser (`RoleList`).
    #[pg_extern(stable, parallel_safe, schema = "auth_private")]
    fn _role_allowed(role: &str) -> bool {
        settings::allowed_roles().contains(role)
    }

    /// Internal: is `role` in auth.elevated_roles? (`auth.create_api_key`: no publishable key
    /// may map to one.)
    #[pg_extern(stable, parallel_safe, schema = "auth_private")]
    fn _role_elevated(role: &str) -> bool {
        settings::elevated_roles().contains(role)
    }

    /// Internal: a new key of `kind` from the CSPRNG, its display prefix and its hash.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _new_api_key(
        kind: &str,
    ) -> TableIterator<
        'static,
        (
            name!(key, String),
            name!(prefix, String),
            name!(key_hash, Vec<u8>),
        ),
    > {
        let kind = ApiKeyKind::parse(kind)
            .ok_or_else(|| AuthError::BadArgument(format!("unknown api key kind \"{kind}\"")))
            .or_raise();
        let key = auth_core::try_generate_api_key(kind)
            .map_err(|_| AuthError::Internal("the system random number generator failed".into()))
            .or_raise();
        TableIterator::once((key.full.clone(), key.prefix.clone(), key.hash.to_vec()))
    }

    /// Internal: `key` sealed under auth.root_key for the key `id`; NULL when no root key is set
    /// (a revealable copy is an explicit opt-in, never made under the data directory's key file).
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _seal_api_key(id: pgrx::Uuid, key: &str) -> Option<Vec<u8>> {
        let root = kek::root().or_raise()?;
        Some(
            root.seal(Purpose::ApiKey, id.as_bytes(), key.as_bytes())
                .map_err(AuthError::from)
                .or_raise(),
        )
    }

    /// Internal: the key sealed by `_seal_api_key`, opened with whichever key-encryption key
    /// sealed it.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _open_api_key(id: pgrx::Uuid, sealed: &[u8]) -> String {
        let plain = kek::open(Purpose::ApiKey, id.as_bytes(), sealed).or_raise();
        String::from_utf8(plain)
            .map_err(|_| AuthError::Sealed(auth_core::SealError::Corrupt))
            .or_raise()
    }

    /// Internal: the hash, role and display prefix of a legacy anon / service_role JWT, which
    /// must verify with the legacy secret.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _legacy_api_key(
        jwt: &str,
    ) -> TableIterator<
        'static,
        (
            name!(key_hash, Vec<u8>),
            name!(role, String),
            name!(prefix, String),
        ),
    > {
        let not_legacy = || {
            AuthError::BadArgument(
                "a legacy api key is a JWT whose role claim is \"anon\" or \"service_role\"".into(),
            )
        };
        let claims = match tokens::verify_legacy_api_key(jwt) {
            Err(AuthError::Token(TokenError::RoleNotAllowed)) => not_legacy().raise(),
            other => other.or_raise(),
        };
        let role = match claims.get("role").and_then(serde_json::Value::as_str) {
            Some(r @ ("anon" | "service_role")) => r.to_string(),
            _ => not_legacy().raise(),
        };
        // All legacy JWTs start alike; the end of the signature tells them apart.
        let tail = jwt.get(jwt.len().saturating_sub(6)..).unwrap_or("");
        TableIterator::once((
            auth_core::api_key_hash(jwt).to_vec(),
            role.clone(),
            format!("legacy_{role}_…{tail}"),
        ))
    }

    /// The key's id, kind and role, or SQLSTATE 28000 when it is malformed, unknown or revoked.
    /// `auth.verify_api_key` (sql/api_keys.sql) returns the role as type `name`, which pgrx
    /// cannot return. Parallel restricted, as `verify_api_key` says why.
    #[pg_extern(stable, parallel_restricted, schema = "auth_private")]
    fn _verify_api_key(
        key: &str,
    ) -> TableIterator<
        'static,
        (
            name!(id, pgrx::Uuid),
            name!(kind, String),
            name!(role, String),
        ),
    > {
        let entry = verify(key).or_raise();
        TableIterator::once((
            entry.id,
            entry.kind.as_str().to_string(),
            entry.role.to_string(),
        ))
    }

    /// Internal: marks the API keys changed for this transaction (see keyset::note_change).
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _api_keys_changed() {
        keyset::note_change(Change::ApiKeys).or_raise();
    }
}
