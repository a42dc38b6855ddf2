//! This backend's view of the database's key set, kept exact by the shared generation counter.
//!
//! The view is fixed for a statement (`statement.rs`): within one, `current` returns the same set
//! without looking at anything shared. The first call of a statement costs one
//! `AcceptInvalidationMessages` (a flag check when the queue is empty) and one atomic read of the
//! generation. When the generation moved, the slots are copied from shared
//! memory and each key is prepared once; when this database's set is not loaded, it is read from
//! `auth._keys` with the latest snapshot (never the transaction's, which may predate a revocation)
//! and installed for every backend.
//!
//! Who marks a set stale:
//! - on a primary, the transaction that changed a key, in its commit callback, before COMMIT
//!   returns (a rolled-back change marks nothing);
//! - on a hot standby, which replays changes without running callbacks, every backend: the changing
//!   transaction also sends a relcache invalidation of `auth._keys`, which is WAL-logged with its
//!   commit and delivered to standby backends; and a standby backend reloads at its first use,
//!   since it may have started after an invalidation it never received.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use pg_auth_keys_jose::{Alg, PreparedKey, VerifyKey};
use pgrx::prelude::*;
use pgrx::{
    pg_guard, pg_sys, register_subxact_callback, register_xact_callback, PgSubXactCallbackEvent,
    PgXactCallbackEvent,
};

use crate::errors::AuthError;
use crate::latest;
use crate::shmem::{self, KeyRow};
use crate::statement::{self, StatementId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Standby = 0,
    InUse = 1,
    PreviouslyUsed = 2,
    Revoked = 3,
}

impl KeyState {
    pub fn from_u8(v: u8) -> KeyState {
        match v {
            0 => KeyState::Standby,
            1 => KeyState::InUse,
            2 => KeyState::PreviouslyUsed,
            _ => KeyState::Revoked,
        }
    }
    pub fn parse(s: &str) -> Option<KeyState> {
        Some(match s {
            "standby" => KeyState::Standby,
            "in_use" => KeyState::InUse,
            "previously_used" => KeyState::PreviouslyUsed,
            "revoked" => KeyState::Revoked,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Standby => "standby",
            KeyState::InUse => "in_use",
            KeyState::PreviouslyUsed => "previously_used",
            KeyState::Revoked => "revoked",
        }
    }
    /// Tokens are trusted when signed by a standby, in_use or previously_used key (contract §1).
    pub fn trusted(self) -> bool {
        self != KeyState::Revoked
    }
}

pub struct KeyEntry {
    pub kid: String,
    pub state: KeyState,
    pub is_legacy: bool,
    pub alg: Alg,
    /// None when the stored material no longer validates (then nothing verifies with it).
    pub key: Option<PreparedKey>,
}

#[derive(Default)]
pub struct KeySet {
    keys: HashMap<String, Rc<KeyEntry>>,
    legacy: Option<Rc<KeyEntry>>,
}

impl KeySet {
    pub fn get(&self, kid: &str) -> Option<&Rc<KeyEntry>> {
        self.keys.get(kid)
    }
    /// The legacy HS256 secret, which verifies tokens that carry no `kid`.
    pub fn legacy(&self) -> Option<&Rc<KeyEntry>> {
        self.legacy.as_ref()
    }

    fn from_slots(slots: &[shmem::Slot]) -> KeySet {
        let mut set = KeySet::default();
        for s in slots {
            let Some(alg) = Alg::from_u8(s.alg) else {
                continue;
            };
            let key = VerifyKey::from_parts(alg, s.key())
                .ok()
                .map(|k| k.prepare());
            let entry = Rc::new(KeyEntry {
                kid: s.kid().to_string(),
                state: KeyState::from_u8(s.state),
                is_legacy: s.is_legacy,
                alg,
                key,
            });
            if entry.is_legacy {
                set.legacy = Some(entry.clone());
            }
            set.keys.insert(entry.kid.clone(), entry);
        }
        set
    }
}

struct Local {
    generation: u64,
    /// Read inside a transaction that changed keys: includes its own uncommitted changes, so it
    /// is never installed in shared memory and is dropped when the transaction ends.
    private: bool,
    /// The statement this view is fixed for (see `statement.rs`): until it ends, the set is
    /// returned without looking at the generation.
    statement: Option<StatementId>,
    set: Rc<KeySet>,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
    /// OID of auth._keys in this database, looked up once.
    static KEYS_RELID: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
    /// A relcache invalidation of auth._keys (or of everything) arrived.
    static INVALIDATED: Cell<bool> = const { Cell::new(false) };
    /// This backend has not used the key set yet (matters on a standby, see the module doc).
    static FIRST_USE: Cell<bool> = const { Cell::new(true) };
    /// A key changed in this transaction: the commit callback is registered.
    static CHANGED_IN_XACT: Cell<bool> = const { Cell::new(false) };
    /// The subtransaction-abort callback is registered (once per backend).
    static SUBXACT_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

#[pg_guard]
unsafe extern "C-unwind" fn relcache_callback(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    if relid == pg_sys::InvalidOid || relid == KEYS_RELID.with(|r| r.get()) {
        INVALIDATED.with(|f| f.set(true));
    }
}

/// Called once from `_PG_init`.
pub fn register_callbacks() {
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(relcache_callback), pg_sys::Datum::from(0))
    };
}

fn database() -> u32 {
    unsafe { pg_sys::MyDatabaseId }.to_u32()
}

pub(crate) fn keys_relid() -> Result<pg_sys::Oid, AuthError> {
    let cached = KEYS_RELID.with(|r| r.get());
    if cached != pg_sys::InvalidOid {
        return Ok(cached);
    }
    let relid = unsafe {
        let ns = pg_sys::get_namespace_oid(c"auth".as_ptr(), true);
        if ns == pg_sys::InvalidOid {
            pg_sys::InvalidOid
        } else {
            pg_sys::get_relname_relid(c"_keys".as_ptr(), ns)
        }
    };
    if relid == pg_sys::InvalidOid {
        return Err(AuthError::NotReady {
            message: "extension pg_auth_keys is not installed in this database".into(),
            hint: "run CREATE EXTENSION pg_auth_keys".into(),
        });
    }
    KEYS_RELID.with(|r| r.set(relid));
    Ok(relid)
}

/// The key set as committed, for this statement.
pub fn current() -> Result<Rc<KeySet>, AuthError> {
    let store = shmem::store()?;
    let statement = statement::current();
    if let Some(set) = LOCAL.with(|l| {
        l.borrow()
            .as_ref()
            .filter(|l| !l.private && l.statement == Some(statement))
            .map(|l| l.set.clone())
    }) {
        return Ok(set);
    }
    let dboid = database();
    unsafe { pg_sys::AcceptInvalidationMessages() };
    let first = FIRST_USE.with(|f| f.replace(false));
    let invalidated = INVALIDATED.with(|f| f.replace(false));
    if (first || invalidated) && unsafe { pg_sys::RecoveryInProgress() } {
        store.mark_stale(dboid);
    }
    if CHANGED_IN_XACT.with(|c| c.get()) {
        return private_set();
    }
    let generation = store.generation();
    if let Some(set) = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let l = l
            .as_mut()
            .filter(|l| !l.private && l.generation == generation)?;
        l.statement = Some(statement);
        Some(l.set.clone())
    }) {
        return Ok(set);
    }
    // Bounded: each retry means a key change committed while we were reading.
    for _ in 0..16 {
        if let Some((generation, slots)) = store.read_db(dboid) {
            let set = Rc::new(KeySet::from_slots(&slots));
            remember(generation, Some(statement), &set);
            return Ok(set);
        }
        let seen = store.generation();
        let rows = read_table()?;
        store.count(shmem::Stat::KeySetLoads);
        if unsafe { pg_sys::IsInParallelMode() } {
            // A parallel worker cannot take the latest snapshot; it used the statement's and keeps
            // the result to itself (see read_table).
            let set = Rc::new(KeySet::from_slots(&rows_as_slots(&rows)));
            remember(seen, Some(statement), &set);
            return Ok(set);
        }
        store.install_db(dboid, seen, &rows)?;
    }
    Err(AuthError::Internal(
        "the key set kept changing while it was loaded".into(),
    ))
}

/// Keep `set`: shared (fixed for `statement`), or private to this transaction (None).
fn remember(generation: u64, statement: Option<StatementId>, set: &Rc<KeySet>) {
    LOCAL.with(|l| {
        *l.borrow_mut() = Some(Local {
            generation,
            private: statement.is_none(),
            statement,
            set: set.clone(),
        })
    });
}

fn forget() {
    LOCAL.with(|l| *l.borrow_mut() = None);
}

/// The key set as this transaction, which changed keys, sees it.
fn private_set() -> Result<Rc<KeySet>, AuthError> {
    if let Some(set) = LOCAL.with(|l| {
        l.borrow()
            .as_ref()
            .filter(|l| l.private)
            .map(|l| l.set.clone())
    }) {
        return Ok(set);
    }
    let set = Rc::new(KeySet::from_slots(&rows_as_slots(&read_table()?)));
    remember(0, None, &set);
    Ok(set)
}

fn rows_as_slots(rows: &[KeyRow]) -> Vec<shmem::Slot> {
    // Build slots through the same code path as shared memory, so both views agree.
    rows.iter().filter_map(shmem::Slot::from_row).collect()
}

/// Read `auth._keys` with the latest snapshot (see `latest::read`), so that a REPEATABLE READ
/// transaction cannot resurrect a revoked key.
fn read_table() -> Result<Vec<KeyRow>, AuthError> {
    latest::read(
        c"SELECT kid, alg, state::pg_catalog.text, is_legacy, verify_key FROM auth._keys",
        |row| {
            let alg = Alg::parse(&row.get::<String>(2)?)?;
            let state = KeyState::parse(&row.get::<String>(3)?).unwrap_or(KeyState::Revoked);
            Some(KeyRow {
                kid: row.get::<String>(1)?,
                alg: alg.to_u8(),
                state: state as u8,
                is_legacy: row.get::<bool>(4).unwrap_or(false),
                key: row.get::<Vec<u8>>(5).unwrap_or_default(),
            })
        },
    )
}

/// Did this transaction change keys or API keys? Then it sees the extension's tables through
/// private reads that include its own uncommitted changes.
pub fn changed_in_xact() -> bool {
    CHANGED_IN_XACT.with(|c| c.get())
}

/// What a change is about: signing keys also change what PostgREST must verify with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Change {
    SigningKeys,
    ApiKeys,
}

/// Called by every function that changes `auth._keys`, `auth._api_keys` or `auth._switches`,
/// inside its transaction: at commit the database's shared set is marked stale (before COMMIT
/// returns to the client), and the relcache invalidation carries the change to hot standbys
/// through the WAL. A signing-key change also queues `NOTIFY pgrst, 'reload config'`, which
/// PostgreSQL delivers only if the transaction commits.
pub fn note_change(change: Change) -> Result<(), AuthError> {
    shmem::store()?;
    let relid = keys_relid()?;
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) };
    if change == Change::SigningKeys {
        unsafe {
            pgrx::direct_function_call_as_datum(
                pg_sys::pg_notify,
                &["pgrst".into_datum(), "reload config".into_datum()],
            )
        };
    }
    // This transaction now sees its own changes through a private set (see `private_set`),
    // read again after a rolled-back savepoint, which may have undone some of them.
    forget();
    if !SUBXACT_CALLBACK.with(|c| c.replace(true)) {
        register_subxact_callback(PgSubXactCallbackEvent::AbortSub, |_, _| {
            if CHANGED_IN_XACT.with(|c| c.get()) {
                forget();
            }
        });
    }
    if !CHANGED_IN_XACT.with(|c| c.replace(true)) {
        let dboid = database();
        register_xact_callback(PgXactCallbackEvent::Commit, move || {
            CHANGED_IN_XACT.with(|c| c.set(false));
            forget();
            if let Ok(store) = shmem::store() {
                store.mark_stale(dboid);
            }
        });
        register_xact_callback(PgXactCallbackEvent::Abort, || {
            CHANGED_IN_XACT.with(|c| c.set(false));
            forget();
        });
    }
    Ok(())
}
