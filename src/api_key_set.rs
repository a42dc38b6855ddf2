//! The API-key part of this backend's view: its copy of `auth_private._api_keys`, read again
//! whenever an invalidation of that table arrived (keyset.rs: the same mechanism as the signing
//! keys), and fixed for a statement. Token verification (tokens.rs) and API-key verification
//! (api_keys.rs) both read it here, never each other.
//!
//! The keys are held in a `pg_auth_keys_core::ApiKeyIndex`, found by the SHA-256 of the
//! presented key (why that is safe: core/src/api_key_index.rs, README "Security model"), so a
//! lookup costs the same whatever the number of keys. Each backend holds one copy: its size is
//! in `auth.stats()` (`api_keys`, `api_key_bytes`).

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use pg_auth_keys_core::ApiKeyIndex;

use crate::catalog::{self, Part};
use crate::errors::AuthError;
use crate::keyset;
use crate::latest;
use crate::statement::{self, StatementId};

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

/// One stored key, as verification needs it. Roles are shared between the entries of a set
/// (a database has a few roles and many keys).
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: pgrx::Uuid,
    pub kind: Kind,
    pub role: Rc<str>,
    pub name: Box<str>,
    pub revoked: bool,
}

impl Entry {
    /// The claims of a request whose only credential is this key (`auth.claims()`): all of it
    /// from the stored key, nothing from the request.
    pub fn claims(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut claims = serde_json::Map::new();
        claims.insert("role".into(), (*self.role).into());
        claims.insert("api_key_id".into(), self.id.to_string().into());
        claims.insert("api_key_name".into(), (*self.name).into());
        claims
    }
}

#[derive(Default)]
pub struct ApiKeySet {
    index: ApiKeyIndex<Entry>,
    /// Distinct roles, for the memory count.
    role_bytes: usize,
    pub legacy_enabled: bool,
}

impl ApiKeySet {
    /// The entry stored under `hash` (the SHA-256 of a presented key).
    pub fn by_hash(&self, hash: &[u8; 32]) -> Option<&Entry> {
        self.index.by_hash(hash)
    }

    /// Is the API key `id` registered, unrevoked and usable?
    pub fn is_live(&self, id: &[u8; 16]) -> bool {
        self.index
            .by_id(id)
            .is_some_and(|e| !e.revoked && (e.kind != Kind::Legacy || self.legacy_enabled))
    }

    /// Is the token whose SHA-256 is `hash` a registered legacy API key that was revoked, or
    /// are legacy keys disabled?
    pub fn legacy_refused(&self, hash: &[u8; 32]) -> bool {
        self.by_hash(hash)
            .is_some_and(|e| e.kind == Kind::Legacy && (e.revoked || !self.legacy_enabled))
    }

    /// Keys held, and the bytes they take in this backend.
    pub fn held(&self) -> (usize, usize) {
        let names: usize = self.index.iter().map(|e| e.name.len()).sum();
        (
            self.index.len(),
            self.index.table_bytes() + names + self.role_bytes,
        )
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
        return Ok(ApiKeySet {
            legacy_enabled,
            ..ApiKeySet::default()
        });
    }
    let mut roles: HashSet<Rc<str>> = HashSet::new();
    let rows = latest::read(
        "SELECT k.id, k.kind, k.role::pg_catalog.text, k.key_hash, k.revoked_at IS NOT NULL,
                 coalesce((SELECT s.enabled FROM {schema}._switches s
                           WHERE s.name OPERATOR(pg_catalog.=) 'legacy_api_keys'::pg_catalog.text), true),
                 k.name
          FROM {schema}._api_keys k",
        |row| {
            legacy_enabled = row.get::<bool>(6).unwrap_or(true);
            let id = row.get::<pgrx::Uuid>(1)?;
            let kind = Kind::parse(&row.get::<String>(2)?)?;
            let role = row.get::<String>(3)?;
            let role = match roles.get(role.as_str()) {
                Some(r) => r.clone(),
                None => {
                    let r: Rc<str> = role.into();
                    roles.insert(r.clone());
                    r
                }
            };
            let hash: [u8; 32] = row.get::<Vec<u8>>(4)?.try_into().ok()?;
            let entry = Entry {
                id,
                kind,
                role,
                revoked: row.get::<bool>(5).unwrap_or(true),
                name: row.get::<String>(7)?.into_boxed_str(),
            };
            Some((hash, *id.as_bytes(), entry))
        },
    )?;
    Ok(ApiKeySet {
        index: ApiKeyIndex::new(rows),
        role_bytes: roles.iter().map(|r| r.len()).sum(),
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

/// Keys and bytes of this backend's copy, for `auth.stats()` (0 before its first use).
pub fn held() -> (usize, usize) {
    CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .map(|(_, set)| set.held())
            .unwrap_or((0, 0))
    })
}
