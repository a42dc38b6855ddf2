//! This backend's view of the database's key set, and how a committed change reaches it.
//!
//! One mechanism carries every change, whoever makes it: PostgreSQL's relcache invalidation of
//! the extension's tables. The statement triggers of sql/finalize.sql queue an invalidation of
//! `auth_private._keys` for every write to a key table (lifecycle functions, an owner's direct
//! DML, TRUNCATE, COPY, pg_restore), and DDL on them (DROP EXTENSION, ALTER TABLE) sends its own.
//! PostgreSQL sends a transaction's invalidations only when it commits (a rolled-back savepoint's
//! are discarded), after the commit is visible and before COMMIT returns; it writes them into the
//! commit record, so a hot standby's startup process sends them again at replay; and it delivers
//! them to every backend of the database at its next `AcceptInvalidationMessages`, or tells a
//! backend that fell behind to reset everything. So:
//!
//! - a backend reads the key table (with the *latest* snapshot, `latest.rs`: a REPEATABLE READ
//!   snapshot may predate a revocation) at its first use of the key set, and again at its first
//!   use after any invalidation of the extension's tables or a reset;
//! - in between, its view is exact: every commit after the read sends an invalidation it will
//!   receive before its next statement's first verification.
//!
//! Nothing depends on recovery state or on who committed: a promoted standby, a `COMMIT
//! PREPARED`, a `DROP EXTENSION` in another session are all the same case. A transaction that
//! changed keys is refused at `PREPARE TRANSACTION` (SQLSTATE 0A000), because a signing-key change
//! queues `NOTIFY pgrst`, which PostgreSQL cannot prepare, and one rule for all key tables is
//! simpler to state.
//!
//! The view is fixed for a statement (`statement.rs`): within one, `current` returns the same set
//! without looking at anything. A parallel worker copies the newest set its database's backends
//! loaded (`shmem.rs`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_void;
use std::rc::Rc;

use pg_auth_keys_core::{Alg, PreparedKey, TokenError, VerifyKey};
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::catalog::{self, Part};
use crate::errors::AuthError;
use crate::errors::OrRaise;
use crate::shmem::{self, KeyRow};
use crate::statement::{self, StatementId};
use crate::{clock, keys, latest, root_key};

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
    /// Tokens are trusted when signed by a standby, in_use or previously_used key (README "Signing
    /// keys").
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
    /// An HMAC key whose sealed secret could not be opened (its key-encryption key is missing).
    pub unavailable: bool,
}

impl KeyEntry {
    /// What verifies this key's tokens, or why nothing does.
    pub fn verifier(&self) -> Result<&PreparedKey, TokenError> {
        if self.unavailable {
            return Err(TokenError::KeyUnavailable);
        }
        self.key.as_ref().ok_or(TokenError::UnknownKid)
    }
}

/// How long a key set holding a key that could not be opened is used before this backend reads
/// it again, so that a restored key-encryption key takes effect without a key change.
const UNAVAILABLE_RETRY_SECS: i64 = 5;

#[derive(Default)]
pub struct KeySet {
    keys: HashMap<String, Rc<KeyEntry>>,
    legacy: Option<Rc<KeyEntry>>,
    /// Some key could not be opened.
    unavailable: bool,
    /// When it was made (Unix seconds), and `root_key::epoch()` then.
    made_at: i64,
    kek_epoch: u64,
}

impl KeySet {
    /// Read this set again? Only when some key could not be opened, and either the root-key
    /// settings changed since or it was read a while ago.
    fn retry_due(&self) -> bool {
        self.unavailable
            && (self.kek_epoch != root_key::epoch()
                || clock::now_secs() - self.made_at >= UNAVAILABLE_RETRY_SECS)
    }

    pub fn get(&self, kid: &str) -> Option<&Rc<KeyEntry>> {
        self.keys.get(kid)
    }
    /// The legacy HS256 secret, which verifies tokens that carry no `kid`.
    pub fn legacy(&self) -> Option<&Rc<KeyEntry>> {
        self.legacy.as_ref()
    }

    fn from_rows(rows: &[KeyRow]) -> KeySet {
        let mut set = KeySet {
            made_at: clock::now_secs(),
            kek_epoch: root_key::epoch(),
            ..KeySet::default()
        };
        for r in rows {
            let Some(alg) = Alg::from_u8(r.alg) else {
                continue;
            };
            let key = VerifyKey::from_parts(alg, &r.key).ok().map(|k| k.prepare());
            let entry = Rc::new(KeyEntry {
                kid: r.kid.clone(),
                state: KeyState::from_u8(r.state),
                is_legacy: r.is_legacy,
                alg,
                key,
                unavailable: r.unavailable,
            });
            set.unavailable |= entry.unavailable;
            if entry.is_legacy {
                set.legacy = Some(entry.clone());
            }
            set.keys.insert(entry.kid.clone(), entry);
        }
        set
    }
}

struct Local {
    /// Read inside a transaction that changed keys: includes its own uncommitted changes, so it
    /// is never shared and is dropped when the transaction (or a savepoint) ends.
    private: bool,
    /// The statement this view is fixed for (see `statement.rs`).
    statement: Option<StatementId>,
    set: Rc<KeySet>,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
    /// Per part (catalog::Part): an invalidation of one of its tables (or a reset) arrived since
    /// the part was read.
    static STALE: Cell<[bool; Part::ALL.len()]> = const { Cell::new([false; Part::ALL.len()]) };
    /// A key table was written in this transaction.
    static CHANGED_IN_XACT: Cell<bool> = const { Cell::new(false) };
    /// The backend fell behind the invalidation queue (or a read failed): a part that reads
    /// incrementally (revocations.rs) must read everything again.
    static RESET: Cell<bool> = const { Cell::new(false) };
}

#[pg_guard]
unsafe extern "C-unwind" fn relcache_callback(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    // InvalidOid: the backend fell behind the invalidation queue and must assume anything
    // changed. No catalog access is allowed here: just remember it.
    if relid == pg_sys::InvalidOid {
        mark_stale(&Part::ALL);
        RESET.with(|r| r.set(true));
        catalog::forget();
    } else if let Some(part) = catalog::part_of(relid) {
        mark_stale(&[part]);
        catalog::forget();
    }
}

fn mark_stale(parts: &[Part]) {
    STALE.with(|s| {
        let mut stale = s.get();
        for p in parts {
            stale[*p as usize] = true;
        }
        s.set(stale);
    });
}

/// Has `part` changed since it was last read (and is now being read again)? Call after
/// [`current`], which processes the invalidations that arrived before the statement.
pub fn take_stale(part: Part) -> bool {
    STALE.with(|s| {
        let mut stale = s.get();
        let was = stale[part as usize];
        stale[part as usize] = false;
        s.set(stale);
        was
    })
}

/// Did a reset happen since the last call (then nothing read before it may be kept)?
pub fn take_reset() -> bool {
    RESET.with(|r| r.replace(false))
}

#[pg_guard]
unsafe extern "C-unwind" fn xact_callback(event: pg_sys::XactEvent::Type, _arg: *mut c_void) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_PRE_PREPARE if CHANGED_IN_XACT.with(Cell::get) => {
            AuthError::Unsupported {
                message: "cannot PREPARE a transaction that changed pg_auth_keys keys".into(),
                hint: "commit key changes directly; they are published when they commit".into(),
            }
            .raise()
        }
        pg_sys::XactEvent::XACT_EVENT_COMMIT
        | pg_sys::XactEvent::XACT_EVENT_PARALLEL_COMMIT
        | pg_sys::XactEvent::XACT_EVENT_ABORT
        | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT
        | pg_sys::XactEvent::XACT_EVENT_PREPARE
            if CHANGED_IN_XACT.with(|c| c.replace(false)) =>
        {
            // The private view dies with the transaction; a committed change comes back as an
            // invalidation, processed at commit by this backend too.
            forget();
        }
        _ => {}
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn subxact_callback(
    event: pg_sys::SubXactEvent::Type,
    _my_subid: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut c_void,
) {
    // A rolled-back savepoint may have undone some of this transaction's changes: read its
    // private view again.
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB && CHANGED_IN_XACT.with(Cell::get) {
        forget();
    }
}

/// Called once from `_PG_init`: the callbacks live as long as the backend.
pub fn register_callbacks() {
    // SAFETY: registering C callbacks with PostgreSQL; they are plain functions that live for the
    // whole process and touch only this module's thread-locals.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(relcache_callback), pg_sys::Datum::from(0));
        pg_sys::RegisterXactCallback(Some(xact_callback), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(subxact_callback), std::ptr::null_mut());
    }
}

fn database() -> u32 {
    // SAFETY: a process global, set at connection start.
    unsafe { pg_sys::MyDatabaseId }.to_u32()
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
    // SAFETY: processes pending invalidations (our callback only sets flags); a flag check when
    // the queue is empty.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    if CHANGED_IN_XACT.with(Cell::get) {
        return private_set();
    }
    if !take_stale(Part::SigningKeys) {
        if let Some(set) = LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            // A key could not be opened: perhaps its key-encryption key is back; read again.
            let l = l.as_mut().filter(|l| !l.private && !l.set.retry_due())?;
            l.statement = Some(statement);
            Some(l.set.clone())
        }) {
            return Ok(set);
        }
    }
    // First use, or a committed change since the view was read. Until a read succeeds, the old
    // view must not be used again: a failed read forgets it.
    let rows = load(&store).inspect_err(|_| forget())?;
    store.count(shmem::Stat::KeySetLoads);
    let set = Rc::new(KeySet::from_rows(&rows));
    remember(Some(statement), &set);
    Ok(set)
}

/// Before this backend starts a plan that may run in parallel workers: bring its view up to date
/// now, as the workers' source. A worker cannot take a newer snapshot, so it copies the newest
/// set its database's backends installed in shared memory (`load`); if that set were read
/// before a revocation and no backend had read the table since, the workers would still trust
/// the revoked key (the cluster test
/// `parallel_workers_never_verify_with_a_key_revoked_before_their_statement` found it). Loading
/// here processes every invalidation that arrived before the statement and installs the set
/// read, so the newest installed set is at least as new as this statement. When it cannot be
/// read, the database's shared set is dropped: the workers then read the table themselves
/// (with the statement's snapshot in READ COMMITTED, else 55000), never an older set.
#[pg_guard]
pub extern "C-unwind" fn before_parallel_plan() {
    thread_local! {
        static RUNNING: Cell<bool> = const { Cell::new(false) };
    }
    /// Clears RUNNING however the load ends (an ERROR unwinds through here as a panic).
    struct Running;
    impl Drop for Running {
        fn drop(&mut self) {
            RUNNING.with(|r| r.set(false));
        }
    }
    // The reads below plan no parallel query today (SPI_prepare without CURSOR_OPT_PARALLEL_OK);
    // should one ever do, it must not load the set again from inside the load.
    if RUNNING.with(|r| r.replace(true)) {
        return;
    }
    let _running = Running;
    // A database without the extension has no set to load.
    if catalog::relations().is_ok() && current().is_err() {
        if let Ok(store) = shmem::store() {
            store.drop_set(database());
        }
    }
}

fn load(store: &shmem::Store) -> Result<Vec<KeyRow>, AuthError> {
    // SAFETY: a process global (IsParallelWorker() in C).
    if unsafe { pg_sys::ParallelWorkerNumber } >= 0 {
        // A worker cannot take a snapshot newer than its leader's: it copies the newest set its
        // database's backends loaded, which is at least as new as the leader's (see shmem.rs).
        return match store.newest(database()) {
            Some(rows) => Ok(rows),
            None => read_table(),
        };
    }
    let tick = store.next_tick();
    let rows = read_table()?;
    store.install(database(), tick, &rows)?;
    Ok(rows)
}

/// Keep `set`: fixed for `statement`, or private to this transaction (None).
fn remember(statement: Option<StatementId>, set: &Rc<KeySet>) {
    LOCAL.with(|l| {
        *l.borrow_mut() = Some(Local {
            private: statement.is_none(),
            statement,
            set: set.clone(),
        })
    });
}

fn forget() {
    LOCAL.with(|l| *l.borrow_mut() = None);
    // Every part is read from its table again, not trusted from before.
    mark_stale(&Part::ALL);
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
    let set = Rc::new(KeySet::from_rows(&read_table()?));
    remember(None, &set);
    Ok(set)
}

/// Read `auth_private._keys` with the latest snapshot (see `latest::read`), so that a
/// REPEATABLE READ transaction cannot resurrect a revoked key. HMAC secrets are stored sealed and
/// opened here; one that cannot be opened makes an unavailable key, which refuses its tokens with
/// that reason (never fails open), and the server log says why.
fn read_table() -> Result<Vec<KeyRow>, AuthError> {
    latest::read(
        "SELECT kid, alg, state::pg_catalog.text, is_legacy, verify_key FROM {schema}._keys",
        |row| {
            let kid = row.get::<String>(1)?;
            let alg = Alg::parse(&row.get::<String>(2)?)?;
            let state = KeyState::parse(&row.get::<String>(3)?).unwrap_or(KeyState::Revoked);
            let stored = row.get::<Vec<u8>>(5).unwrap_or_default();
            let (key, unavailable) = if alg.is_hmac() {
                match keys::open_hmac_secret(&kid, &stored) {
                    Ok(secret) => (secret, false),
                    Err(e) => {
                        pgrx::log!(
                            "pg_auth_keys: HMAC key \"{kid}\" verifies nothing: its secret cannot be opened: {e}"
                        );
                        (Vec::new(), true)
                    }
                }
            } else {
                (stored, false)
            };
            Some(KeyRow {
                kid,
                alg: alg.to_u8(),
                state: state as u8,
                is_legacy: row.get::<bool>(4).unwrap_or(false),
                unavailable,
                key,
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
    Revocations,
    Issuers,
}

/// Called by the statement triggers on the key tables (sql/finalize.sql), inside the writing
/// transaction: queues the invalidation that publishes the write if (and when) it commits (see
/// the module doc), and a signing-key change also queues `NOTIFY pgrst, 'reload config'`, which
/// PostgreSQL delivers only if the transaction commits.
pub fn note_change(change: Change) -> Result<(), AuthError> {
    shmem::store()?;
    let relations = catalog::relations()?;
    let relid = match change {
        Change::SigningKeys => relations.keys,
        Change::ApiKeys => relations.api_keys.unwrap_or(relations.keys),
        Change::Revocations => relations.revocations.unwrap_or(relations.keys),
        Change::Issuers => relations.issuers.unwrap_or(relations.keys),
    };
    // SAFETY: queues a transactional invalidation message for a relation that exists.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) };
    if change == Change::SigningKeys {
        // SAFETY: pg_notify with two non-NULL text arguments.
        unsafe {
            pgrx::direct_function_call_as_datum(
                pg_sys::pg_notify,
                &["pgrst".into_datum(), "reload config".into_datum()],
            )
        };
    }
    // This transaction now sees its own changes through a private set.
    CHANGED_IN_XACT.with(|c| c.set(true));
    LOCAL.with(|l| *l.borrow_mut() = None);
    Ok(())
}

pub(crate) mod auth {
    use super::*;

    /// Internal: marks the signing keys changed for this transaction (see `note_change`).
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _keys_changed() {
        note_change(Change::SigningKeys).or_raise();
    }
}
