//! Token revocations (README "Revoking tokens"): this backend's copy of
//! `auth_private._token_revocations`, and the helpers the SQL functions of
//! sql/token_revocations.sql call.
//!
//! The copy is the third part of the backend's view (catalog::Part::Revocations) and reaches every
//! session the way keys do (keyset.rs): a statement trigger queues a relcache invalidation of the
//! table, the next statement of every session sees the part stale and reads it again with the
//! latest snapshot (latest.rs). What differs is the size: a database may hold 100,000 live entries,
//! and every `sign_out` is a change. So a stale part is read *incrementally*:
//!
//! - every row stores the id of the transaction that wrote it (`xact`, pg_current_xact_id());
//! - every read also returns the xmin of the snapshot it used: every transaction with an older id
//!   had completed when the snapshot was taken, so all of their committed rows were visible to it;
//! - the next read fetches only rows with `xact >= ` that xmin and merges them by id.
//!
//! A row can therefore be missed only if its transaction was older than the xmin and yet not
//! visible, which a snapshot rules out. Everything is read again (full read) on first use, after
//! a reset (the backend fell behind the invalidation queue), when the table was re-created, after
//! a failed read, and when the merged set would exceed `auth.max_token_revocations` (a full read
//! leaves out entries that expired). Deleted rows are not noticed until the next full read: purged
//! rows match only tokens that can no longer be valid, and a row deleted by hand keeps refusing
//! (it fails closed). docs/design.md, "Token revocations", gives the argument in full.

use std::cell::RefCell;
use std::rc::Rc;

use pg_auth_keys_core::{self as auth_core, RevocationEntry, RevocationKind, RevocationSet};
use pgrx::pg_sys;
use pgrx::prelude::*;
use serde_json::{json, Value};

use crate::catalog::{self, Part};
use crate::errors::{AuthError, OrRaise};
use crate::keyset::{self, Change};
use crate::statement::{self, StatementId};
use crate::{commits, latest, settings};

/// A copy of the revocations and its generation: a number this backend never gave another copy,
/// so that a token checked against it need not be checked again while it is current.
#[derive(Clone, Default)]
pub struct Revocations {
    pub set: RevocationSet,
    pub generation: u64,
}

impl Revocations {
    fn new(set: RevocationSet) -> Rc<Revocations> {
        Rc::new(Revocations {
            set,
            generation: next_generation(),
        })
    }
}

fn next_generation() -> u64 {
    GENERATION.with(|g| {
        let next = g.get() + 1;
        g.set(next);
        next
    })
}

struct Cache {
    /// The statement the set is fixed for.
    statement: StatementId,
    /// The table it was read from (a re-created table is read in full).
    table: pg_sys::Oid,
    set: Rc<Revocations>,
    /// The xmin of the snapshot of the last read: rows of older transactions were all read.
    xmin: u64,
}

thread_local! {
    static CACHE: RefCell<Option<Cache>> = const { RefCell::new(None) };
    /// The last generation given out (0 is never one).
    static GENERATION: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Read inside a transaction that changed the extension's tables (it includes its own
    /// uncommitted rows): kept for one statement only, never merged into CACHE.
    static PRIVATE: RefCell<Option<(StatementId, Rc<Revocations>)>> = const { RefCell::new(None) };
}

/// The entries of rows written by transactions at or after `since` (None: every entry), and the
/// xmin of the snapshot the read used.
fn read_rows(since: Option<u64>) -> Result<(Vec<RevocationEntry>, u64), AuthError> {
    let filter = match since {
        Some(x) => format!(" AND r.xact OPERATOR(pg_catalog.>=) '{x}'::pg_catalog.xid8"),
        None => String::new(),
    };
    // The one-row subquery (OFFSET 0 keeps it from being pulled up) computes the snapshot's xmin
    // once: pg_current_snapshot() reports the active snapshot, which SPI_execute_snapshot sets to
    // the one latest.rs passes, the same that scans the table.
    let query = format!(
        "SELECT s.xmin::pg_catalog.text, r.id, r.kind, r.value,
                pg_catalog.date_part('epoch'::pg_catalog.text, r.issued_before)
           FROM (SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) AS xmin OFFSET 0) s
           LEFT JOIN {{schema}}._token_revocations r
             ON r.expires_at OPERATOR(pg_catalog.>=) pg_catalog.now(){filter}"
    );
    // Outside a parallel operation, make sure shared memory tracks this database's revocation
    // commits, so that parallel workers of later REPEATABLE READ transactions can read too.
    // SAFETY: a backend-local global.
    if !unsafe { pg_sys::IsInParallelMode() } {
        commits::track(Part::Revocations);
    }
    let mut xmin = None;
    let entries = latest::read_part(
        &query,
        |row| {
            xmin = row.get::<String>(1).and_then(|x| x.parse::<u64>().ok());
            let id = row.get::<i64>(2)?;
            Some(RevocationEntry {
                id,
                kind: RevocationKind::parse(&row.get::<String>(3)?)?,
                value: row.get::<String>(4)?,
                issued_before: row.get::<f64>(5),
            })
        },
        Part::Revocations,
    )?;
    let xmin = xmin.ok_or_else(|| {
        AuthError::Internal("reading token revocations returned no snapshot".into())
    })?;
    Ok((entries, xmin))
}

fn max_entries() -> usize {
    settings::MAX_TOKEN_REVOCATIONS.get().max(1) as usize
}

/// The revocations as committed, for this statement (or as this transaction changed them).
pub fn current() -> Result<Rc<Revocations>, AuthError> {
    // Processes the invalidations that arrived before this statement (once per statement).
    keyset::current()?;
    after_keyset()
}

/// [`current`] for a caller that has just called `keyset::current()` in this statement.
pub fn after_keyset() -> Result<Rc<Revocations>, AuthError> {
    let statement = statement::current();
    let changed_in_xact = keyset::changed_in_xact();
    // The common case first: the copy fixed for this statement.
    if !changed_in_xact {
        if let Some(set) = CACHE.with(|c| {
            c.borrow()
                .as_ref()
                .filter(|c| c.statement == statement)
                .map(|c| c.set.clone())
        }) {
            return Ok(set);
        }
    }
    let Some(table) = catalog::relations()?.revocations else {
        // A database still at a release before 0.3.0: no revocations table, nothing revoked.
        return Ok(Rc::new(Revocations::default()));
    };
    if changed_in_xact {
        if let Some(set) = PRIVATE.with(|p| {
            p.borrow()
                .as_ref()
                .filter(|(s, _)| *s == statement)
                .map(|(_, set)| set.clone())
        }) {
            return Ok(set);
        }
        let set = Revocations::new(from_rows(read_rows(None)?.0));
        PRIVATE.with(|p| *p.borrow_mut() = Some((statement, set.clone())));
        return Ok(set);
    }
    let cached = CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|c| c.table == table)
            .map(|c| (c.set.clone(), c.xmin))
    });
    let reset = keyset::take_reset();
    let stale = keyset::take_stale(Part::Revocations);
    let (base, since) = match cached {
        Some((set, _)) if !stale && !reset => {
            CACHE.with(|c| {
                if let Some(c) = c.borrow_mut().as_mut() {
                    c.statement = statement;
                }
            });
            return Ok(set);
        }
        Some((set, xmin)) if !reset => (Some(set), Some(xmin)),
        _ => (None, None),
    };
    // Until a read succeeds, the old set must not be used again (and the next read is full).
    CACHE.with(|c| *c.borrow_mut() = None);
    let (rows, xmin) = read_rows(since)?;
    let set = match base {
        Some(mut set) if set.set.len() + rows.len() <= max_entries() => {
            if !rows.is_empty() {
                let merged = Rc::make_mut(&mut set);
                for e in rows {
                    merged.set.insert(e);
                }
                merged.generation = next_generation();
            }
            set
        }
        Some(_) => {
            // Over the bound: read everything again, which leaves out expired entries.
            let (rows, xmin) = read_rows(None)?;
            return Ok(keep(
                statement,
                table,
                Revocations::new(from_rows(rows)),
                xmin,
            ));
        }
        None => Revocations::new(from_rows(rows)),
    };
    Ok(keep(statement, table, set, xmin))
}

fn from_rows(rows: Vec<RevocationEntry>) -> RevocationSet {
    let mut set = RevocationSet::default();
    for e in rows {
        set.insert(e);
    }
    set
}

fn keep(
    statement: StatementId,
    table: pg_sys::Oid,
    set: Rc<Revocations>,
    xmin: u64,
) -> Rc<Revocations> {
    CACHE.with(|c| {
        *c.borrow_mut() = Some(Cache {
            statement,
            table,
            set: set.clone(),
            xmin,
        })
    });
    set
}

/// Entries and heap bytes (as requested from the allocator) of this backend's copy, for
/// auth.stats().
pub fn held() -> (usize, usize) {
    CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .map(|c| (c.set.set.len(), c.set.set.bytes()))
            .unwrap_or((0, 0))
    })
}

/// What `auth.inspect_jwt` shows about entry `id`: kind, reason and when it was made.
pub fn describe(id: i64) -> Result<Value, AuthError> {
    let rows = latest::read(
        &format!(
            "SELECT r.kind, r.reason, r.at::pg_catalog.text FROM {{schema}}._token_revocations r
              WHERE r.id OPERATOR(pg_catalog.=) {id}::pg_catalog.int8"
        ),
        |row| {
            Some(json!({
                "id": id,
                "kind": row.get::<String>(1)?,
                "reason": row.get::<String>(2),
                "at": row.get::<String>(3)?,
            }))
        },
    )?;
    Ok(rows
        .into_iter()
        .next()
        .unwrap_or_else(|| json!({ "id": id })))
}

pub(crate) mod auth {
    use super::*;

    /// Internal: marks the revocations changed for this transaction (see keyset::note_change).
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _token_revocations_changed() {
        keyset::note_change(Change::Revocations).or_raise();
        commits::note_change(Part::Revocations);
    }

    /// Internal: what `auth.revoke_token` stores for `token`, read without verifying it: its
    /// `jti` when it has one (kind `jti`), else the SHA-256 of the whole token (kind `token`),
    /// and its `exp` (NULL when it has none). Never the token itself.
    #[pg_extern(immutable, parallel_safe, schema = "auth_private")]
    fn _token_revocation_target(
        token: &str,
    ) -> TableIterator<
        'static,
        (
            name!(kind, String),
            name!(value, String),
            name!(exp, Option<f64>),
        ),
    > {
        let claims = auth_core::parse_compact(token, settings::max_token_bytes())
            .and_then(|p| p.claims())
            .map_err(|e| AuthError::BadArgument(format!("token is not a usable JWT: {e}")))
            .or_raise();
        let exp = claims.get("exp").and_then(Value::as_f64);
        let (kind, value) = match claims.get("jti") {
            Some(Value::String(jti)) if !jti.is_empty() => ("jti", jti.clone()),
            _ => (
                "token",
                auth_core::token_hash_value(&auth_core::api_key_hash(token)),
            ),
        };
        TableIterator::once((kind.to_string(), value, exp))
    }
}
