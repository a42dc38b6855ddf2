//! API keys (contract §4): verification against this backend's copy of `auth_private._api_keys`,
//! read again whenever the signing keys' view is (keyset.rs: the same invalidations), and the helpers the SQL
//! lifecycle functions in `sql/api_keys.sql` call.
//!
//! A presented key is checked offline first (prefix, length, alphabet, checksum: a typo or a
//! random string never reaches a lookup), then its SHA-256 is compared with every stored hash in
//! constant time, without stopping at a match, so the time taken does not depend on the secret
//! part (a database has tens of keys; the scan costs nanoseconds each). Legacy keys are the
//! anon / service_role JWTs of the legacy secret, found by the SHA-256 of the whole token.

use std::cell::RefCell;
use std::rc::Rc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use pg_auth_keys_core::{self as auth_core, ApiKeyKind, Purpose, TokenError};
use pgrx::prelude::*;

use crate::catalog::Part;
use crate::errors::{AuthError, OrRaise};
use crate::keyset::{self, Change};
use crate::shmem::{self, Stat};
use crate::statement::{self, StatementId};
use crate::{catalog, kek, latest, settings, tokens};

/// Why a presented API key was refused (SQLSTATE 28000).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyRefusal {
    #[error("malformed api key")]
    Malformed,
    #[error("api key checksum mismatch")]
    BadChecksum,
    #[error("unknown api key")]
    Unknown,
    #[error("api key revoked")]
    Revoked,
    #[error("legacy api keys are disabled")]
    LegacyDisabled,
    #[error("legacy api key: {0}")]
    LegacyToken(TokenError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Publishable,
    Secret,
    Legacy,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "publishable" => Kind::Publishable,
            "secret" => Kind::Secret,
            "legacy" => Kind::Legacy,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Publishable => "publishable",
            Kind::Secret => "secret",
            Kind::Legacy => "legacy",
        }
    }
}

/// One stored key, as verification needs it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: pgrx::Uuid,
    pub kind: Kind,
    pub role: String,
    pub name: String,
    hash: [u8; 32],
    revoked: bool,
}

#[derive(Default)]
pub struct ApiKeySet {
    entries: Vec<Entry>,
    legacy_enabled: bool,
}

impl ApiKeySet {
    /// The entry whose hash equals `hash`, comparing every entry in constant time.
    fn find(&self, hash: &[u8; 32]) -> Option<&Entry> {
        let mut found = None;
        for e in &self.entries {
            if verify_slices_are_equal(&e.hash, hash).is_ok() {
                found = Some(e);
            }
        }
        found
    }
}

thread_local! {
    /// The API keys as last read, and the statement they are fixed for (as the signing keys are,
    /// keyset.rs); read again when an invalidation of their tables arrived.
    static CACHE: RefCell<Option<(StatementId, Rc<ApiKeySet>)>> = const { RefCell::new(None) };
}

fn read_table() -> Result<ApiKeySet, AuthError> {
    let mut legacy_enabled = true;
    if catalog::relations()?.api_keys.is_none() {
        // A database still at release 0.1.0, which had no API keys.
        return Ok(ApiKeySet::default());
    }
    let entries = latest::read(
        "SELECT k.id, k.kind, k.role::pg_catalog.text, k.key_hash, k.revoked_at IS NOT NULL,
                 coalesce((SELECT s.enabled FROM {schema}._switches s
                           WHERE s.name OPERATOR(pg_catalog.=) 'legacy_api_keys'::pg_catalog.text), true),
                 k.name
          FROM {schema}._api_keys k",
        |row| {
            legacy_enabled = row.get::<bool>(6).unwrap_or(true);
            Some(Entry {
                id: row.get::<pgrx::Uuid>(1)?,
                kind: Kind::parse(&row.get::<String>(2)?)?,
                role: row.get::<String>(3)?,
                hash: row.get::<Vec<u8>>(4)?.try_into().ok()?,
                revoked: row.get::<bool>(5).unwrap_or(true),
                name: row.get::<String>(7)?,
            })
        },
    )?;
    Ok(ApiKeySet {
        entries,
        legacy_enabled,
    })
}

/// The API keys as committed, for this statement (or as this transaction changed them).
pub fn current() -> Result<Rc<ApiKeySet>, AuthError> {
    // Processes the invalidations that arrived before this statement (once per statement).
    keyset::current()?;
    if keyset::changed_in_xact() {
        CACHE.with(|c| *c.borrow_mut() = None);
        return Ok(Rc::new(read_table()?));
    }
    let statement = statement::current();
    let cached = CACHE.with(|c| c.borrow().as_ref().map(|(s, set)| (*s, set.clone())));
    if let Some((fixed_for, set)) = cached {
        if fixed_for == statement {
            return Ok(set);
        }
        if !keyset::take_stale(Part::ApiKeys) {
            CACHE.with(|c| *c.borrow_mut() = Some((statement, set.clone())));
            return Ok(set);
        }
    }
    keyset::take_stale(Part::ApiKeys);
    // Until a read succeeds, the old set must not be used again.
    CACHE.with(|c| *c.borrow_mut() = None);
    let set = Rc::new(read_table()?);
    CACHE.with(|c| *c.borrow_mut() = Some((statement, set.clone())));
    Ok(set)
}

pub(crate) fn looks_like_jwt(key: &str) -> bool {
    key.starts_with("eyJ") && key.bytes().filter(|&b| b == b'.').count() == 2
}

impl Entry {
    /// The claims of a request whose only credential is this key (`auth.claims()`): all of it
    /// from the stored key, nothing from the request.
    pub fn claims(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut claims = serde_json::Map::new();
        claims.insert("role".into(), self.role.clone().into());
        claims.insert("api_key_id".into(), self.id.to_string().into());
        claims.insert("api_key_name".into(), self.name.clone().into());
        claims
    }
}

/// Is the API key `id` (16 bytes) registered, unrevoked and usable? A token minted from a key
/// (`auth.api_key_token`) is valid only while it is.
pub fn is_live(id: &[u8; 16]) -> Result<bool, AuthError> {
    let set = current()?;
    Ok(set.entries.iter().any(|e| {
        e.id.as_bytes() == id && !e.revoked && (e.kind != Kind::Legacy || set.legacy_enabled)
    }))
}

/// Check a presented key; the entry it matches. Not counted in `auth.stats()` (`verify` is).
pub fn check(key: &str) -> Result<Entry, AuthError> {
    // Far longer than any key or legacy JWT: refused before hashing.
    if key.len() > tokens::max_token_bytes() {
        return Err(ApiKeyRefusal::Malformed.into());
    }
    if looks_like_jwt(key) {
        return check_legacy(key);
    }
    let (_, hash) = auth_core::parse_api_key(key).map_err(|e| match e {
        auth_core::ApiKeyError::Malformed => ApiKeyRefusal::Malformed,
        auth_core::ApiKeyError::BadChecksum => ApiKeyRefusal::BadChecksum,
    })?;
    let set = current()?;
    let entry = set.find(&hash).ok_or(ApiKeyRefusal::Unknown)?;
    if entry.revoked {
        return Err(ApiKeyRefusal::Revoked.into());
    }
    Ok(entry.clone())
}

fn check_legacy(jwt: &str) -> Result<Entry, AuthError> {
    let set = current()?;
    let entry = set
        .find(&auth_core::api_key_hash(jwt))
        .filter(|e| e.kind == Kind::Legacy)
        .ok_or(ApiKeyRefusal::Unknown)?;
    if entry.revoked {
        return Err(ApiKeyRefusal::Revoked.into());
    }
    if !set.legacy_enabled {
        return Err(ApiKeyRefusal::LegacyDisabled.into());
    }
    // The signature must still verify: a revoked legacy secret takes its keys with it.
    tokens::verify_legacy_api_key(jwt).map_err(|e| match e {
        AuthError::Token(t) => ApiKeyRefusal::LegacyToken(t).into(),
        other => other,
    })?;
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

/// For token verification: is `token` a registered legacy API key that was revoked, or are
/// legacy keys disabled? Then its valid signature does not make it acceptable (contract §4).
pub fn legacy_token_refused(token: &str) -> Result<bool, AuthError> {
    let set = current()?;
    Ok(set
        .find(&auth_core::api_key_hash(token))
        .is_some_and(|e| e.kind == Kind::Legacy && (e.revoked || !set.legacy_enabled)))
}

/// The role of the registered legacy API key that `token` is, if it is one. (Whether it may be
/// used is `legacy_token_refused`'s question; this one is who it is, for the browser rule.)
pub fn legacy_key_role(token: &str) -> Result<Option<String>, AuthError> {
    let set = current()?;
    Ok(set
        .find(&auth_core::api_key_hash(token))
        .filter(|e| e.kind == Kind::Legacy)
        .map(|e| e.role.clone()))
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
        TableIterator::once((entry.id, entry.kind.as_str().to_string(), entry.role))
    }

    /// Internal: marks the API keys changed for this transaction (see keyset::note_change).
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _api_keys_changed() {
        keyset::note_change(Change::ApiKeys).or_raise();
    }
}
