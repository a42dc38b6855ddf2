//! The extension's own relations, found by identity rather than by a name someone else can
//! shadow.
//!
//! The public API lives in schema `auth`, which may belong to another role: its owner can rename
//! it and create a look-alike. Everything the Rust side reads lives in schema `auth_private`
//! (sql/bootstrap.sql), and each table is used only once `pg_depend` says it is a member of the
//! extension `pg_auth_keys` (deptype `e`): a look-alike made by someone else never is. The OIDs
//! are kept per backend and forgotten when any of them is invalidated (`keyset.rs` reacts to the
//! same invalidations: `DROP EXTENSION` sends one for each dropped table).
//!
//! A database still at an earlier release (the library is new, `ALTER EXTENSION pg_auth_keys
//! UPDATE` has not run yet) keeps its tables in `auth`: they are found there, by the same
//! membership check, so that it keeps working until it is updated.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString};

use pgrx::pg_sys;

use crate::errors::AuthError;

/// The schema every internal object lives in (sql/bootstrap.sql).
pub const PRIVATE_SCHEMA: &std::ffi::CStr = c"auth_private";

/// The extension's tables in this database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relations {
    /// The schema they live in, for the queries that read them.
    pub schema: String,
    pub keys: pg_sys::Oid,
    /// None before release 0.2.0, which added API keys.
    pub api_keys: Option<pg_sys::Oid>,
    pub switches: Option<pg_sys::Oid>,
    /// None before release 0.3.0, which added token revocations.
    pub revocations: Option<pg_sys::Oid>,
    /// None before release 0.3.0, which added third-party issuers.
    pub issuers: Option<pg_sys::Oid>,
    pub issuer_keys: Option<pg_sys::Oid>,
}

impl Relations {
    /// `query` with `{schema}` replaced by the tables' schema, quoted.
    pub fn query(&self, query: &str) -> CString {
        let quoted = format!("\"{}\"", self.schema.replace('"', "\"\""));
        CString::new(query.replace("{schema}", &quoted)).expect("no NUL in a query")
    }
}

/// What a table holds: each part of a backend's view is read again only when one of its own
/// tables changed (keyset.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    SigningKeys,
    ApiKeys,
    Revocations,
    Issuers,
}

impl Part {
    pub const ALL: [Part; 4] = [
        Part::SigningKeys,
        Part::ApiKeys,
        Part::Revocations,
        Part::Issuers,
    ];
}

thread_local! {
    static CACHED: RefCell<Option<Relations>> = const { RefCell::new(None) };
    /// One of the tables was invalidated: resolve them again at the next use (OIDS is kept until
    /// then, so that the invalidations of the other tables are still recognised).
    static RESOLVE_AGAIN: Cell<bool> = const { Cell::new(false) };
    /// The table OIDs of `CACHED` with their parts, readable from an invalidation callback
    /// without borrowing.
    static OIDS: Cell<[(pg_sys::Oid, Part); 6]> =
        const { Cell::new([(pg_sys::InvalidOid, Part::SigningKeys); 6]) };
}

fn not_installed() -> AuthError {
    AuthError::NotReady {
        message: "extension pg_auth_keys is not installed in this database".into(),
        hint: "run CREATE EXTENSION pg_auth_keys".into(),
    }
}

/// The extension's tables, looked up once per backend and again after an invalidation.
pub fn relations() -> Result<Relations, AuthError> {
    if RESOLVE_AGAIN.with(|f| f.replace(false)) {
        CACHED.with(|c| *c.borrow_mut() = None);
    }
    if let Some(r) = CACHED.with(|c| c.borrow().clone()) {
        return Ok(r);
    }
    let r = look_up()?;
    OIDS.with(|o| {
        o.set([
            (r.keys, Part::SigningKeys),
            (r.api_keys.unwrap_or(pg_sys::InvalidOid), Part::ApiKeys),
            (r.switches.unwrap_or(pg_sys::InvalidOid), Part::ApiKeys),
            (
                r.revocations.unwrap_or(pg_sys::InvalidOid),
                Part::Revocations,
            ),
            (r.issuers.unwrap_or(pg_sys::InvalidOid), Part::Issuers),
            (r.issuer_keys.unwrap_or(pg_sys::InvalidOid), Part::Issuers),
        ])
    });
    CACHED.with(|c| *c.borrow_mut() = Some(r.clone()));
    Ok(r)
}

/// The part `relid` holds, if it is one of the extension's tables as this backend last resolved
/// them.
pub fn part_of(relid: pg_sys::Oid) -> Option<Part> {
    if relid == pg_sys::InvalidOid {
        return None;
    }
    OIDS.with(|o| o.get().iter().find(|(r, _)| *r == relid).map(|(_, p)| *p))
}

/// Resolve the tables again at the next use (they may have been dropped and re-created).
/// Called from an invalidation callback: touches nothing but a flag.
pub fn forget() {
    RESOLVE_AGAIN.with(|f| f.set(true));
}

fn look_up() -> Result<Relations, AuthError> {
    // SAFETY: a catalog lookup by name with missing_ok = true (InvalidOid instead of an ERROR).
    let extension = unsafe { pg_sys::get_extension_oid(c"pg_auth_keys".as_ptr(), true) };
    if extension == pg_sys::InvalidOid {
        return Err(not_installed());
    }
    // The extension's own member named `name` in `schema`, if there is one.
    let member = |schema: pg_sys::Oid, name: &CStr| -> Option<pg_sys::Oid> {
        // SAFETY: a syscache lookup by name, then a pg_depend index scan.
        unsafe {
            let relid = pg_sys::get_relname_relid(name.as_ptr(), schema);
            (relid != pg_sys::InvalidOid
                && pg_sys::getExtensionOfObject(pg_sys::RelationRelationId, relid) == extension)
                .then_some(relid)
        }
    };
    for schema_name in [PRIVATE_SCHEMA, c"auth"] {
        // SAFETY: as above.
        let schema = unsafe { pg_sys::get_namespace_oid(schema_name.as_ptr(), true) };
        if schema == pg_sys::InvalidOid {
            continue;
        }
        if let Some(keys) = member(schema, c"_keys") {
            return Ok(Relations {
                schema: schema_name.to_string_lossy().into_owned(),
                keys,
                api_keys: member(schema, c"_api_keys"),
                switches: member(schema, c"_switches"),
                revocations: member(schema, c"_token_revocations"),
                issuers: member(schema, c"_issuers"),
                issuer_keys: member(schema, c"_issuer_keys"),
            });
        }
    }
    Err(not_installed())
}
