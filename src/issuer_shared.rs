//! Shared memory of third-party issuers: counters for `auth.stats()`, the per-issuer refetch
//! cooldown (one fetch per issuer per `auth.issuer_refetch_cooldown` across all sessions), the
//! pending refresh requests the background worker serves, and which databases have issuers.
//!
//! Fixed size and plain old data (STYLE.md, "Shared memory"); everything under one LWLock, taken
//! only on rare events (a fetch, an unknown kid, the worker's loop), never on a verification
//! with a known kid.

use pgrx::lwlock::PgLwLock;
use pgrx::shmem::PGRXSharedMemory;

/// Issuers whose refetch state is kept at once (across databases); the least recently requested
/// slot is reused, which at worst allows one more fetch for an issuer that had been evicted.
const SLOTS: usize = 128;
/// Databases the worker launcher tracks.
pub const MAX_DATABASES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    FetchOk,
    FetchFailed,
    KeysChanged,
    RefetchRequested,
    RefetchSuppressed,
}

impl Counter {
    pub const ALL: [Counter; 5] = [
        Counter::FetchOk,
        Counter::FetchFailed,
        Counter::KeysChanged,
        Counter::RefetchRequested,
        Counter::RefetchSuppressed,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Counter::FetchOk => "issuer_fetches",
            Counter::FetchFailed => "issuer_fetch_failures",
            Counter::KeysChanged => "issuer_key_changes",
            Counter::RefetchRequested => "issuer_refetches_requested",
            Counter::RefetchSuppressed => "issuer_refetches_suppressed",
        }
    }
}

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Slot {
    dboid: u32,
    /// Hash of the issuer text (0: free).
    hash: u64,
    /// When a refetch was last granted (Unix seconds).
    granted_at: i64,
    /// A refetch is waiting for the worker.
    pending: bool,
}

#[derive(Clone, Copy, Default)]
#[repr(C)]
pub struct DbSlot {
    pub dboid: u32,
    /// The database's worker, 0 when none runs.
    pub worker_pid: i32,
    /// Checked and found without issuers (the launcher starts no worker until add_issuer).
    pub idle: bool,
}

#[derive(Clone, Copy)]
#[repr(C)]
pub struct Shared {
    counters: [u64; Counter::ALL.len()],
    slots: [Slot; SLOTS],
    pub dbs: [DbSlot; MAX_DATABASES],
}

impl Default for Shared {
    fn default() -> Shared {
        Shared {
            counters: [0; Counter::ALL.len()],
            slots: [Slot::default(); SLOTS],
            dbs: [DbSlot::default(); MAX_DATABASES],
        }
    }
}

// SAFETY: plain old data (integers and booleans, no pointers), the same in every process.
unsafe impl PGRXSharedMemory for Shared {}

// SAFETY: the name is unique to this extension; initialised by pg_shmem_init! in _PG_init.
pub static ISSUERS: PgLwLock<Shared> = unsafe { PgLwLock::new(c"pg_auth_keys_issuers") };

/// Shared memory is there only when the library was preloaded (`shmem::store` checks that and
/// every caller has called it first).
fn ready() -> bool {
    crate::shmem::store().is_ok()
}

pub fn count(counter: Counter) {
    if ready() {
        ISSUERS.exclusive().counters[counter as usize] += 1;
    }
}

pub fn counters() -> Vec<(&'static str, u64)> {
    if !ready() {
        return Vec::new();
    }
    let s = ISSUERS.share();
    Counter::ALL
        .iter()
        .map(|c| (c.name(), s.counters[*c as usize]))
        .collect()
}

fn hash(issuer: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    issuer.hash(&mut h);
    h.finish() | 1
}

fn database() -> u32 {
    // SAFETY: a process global, set at connection start.
    unsafe { pgrx::pg_sys::MyDatabaseId }.to_u32()
}

/// A token named an unknown kid of `issuer`: grant a refetch unless one was granted within
/// `cooldown` seconds (for any session). Granted: the request is left for the worker.
pub fn request_refetch(issuer: &str, now: i64, cooldown: i64) -> bool {
    if !ready() {
        return false;
    }
    let (db, h) = (database(), hash(issuer));
    let mut s = ISSUERS.exclusive();
    let i = match s.slots.iter().position(|x| x.dboid == db && x.hash == h) {
        Some(i) => i,
        None => {
            let i = (0..SLOTS)
                .min_by_key(|i| (s.slots[*i].hash != 0, s.slots[*i].granted_at))
                .unwrap_or(0);
            s.slots[i] = Slot {
                dboid: db,
                hash: h,
                granted_at: i64::MIN,
                pending: false,
            };
            i
        }
    };
    let slot = &mut s.slots[i];
    if slot.granted_at != i64::MIN && now - slot.granted_at < cooldown {
        s.counters[Counter::RefetchSuppressed as usize] += 1;
        return false;
    }
    slot.granted_at = now;
    slot.pending = true;
    s.counters[Counter::RefetchRequested as usize] += 1;
    true
}

/// Is a refetch of `issuer` (in this database) waiting? Taken (cleared) by the worker.
pub fn take_request(issuer: &str) -> bool {
    if !ready() {
        return false;
    }
    let (db, h) = (database(), hash(issuer));
    let mut s = ISSUERS.exclusive();
    match s
        .slots
        .iter_mut()
        .find(|x| x.dboid == db && x.hash == h && x.pending)
    {
        Some(slot) => {
            slot.pending = false;
            true
        }
        None => false,
    }
}

/// Is the refetch of `issuer` (in this database) still waiting for the worker?
pub fn request_pending(issuer: &str) -> bool {
    let (db, h) = (database(), hash(issuer));
    ready()
        && ISSUERS
            .share()
            .slots
            .iter()
            .any(|x| x.dboid == db && x.hash == h && x.pending)
}

/// Any refetch waiting in this database?
pub fn any_request() -> bool {
    let db = database();
    ready()
        && ISSUERS
            .share()
            .slots
            .iter()
            .any(|x| x.dboid == db && x.pending)
}

/// This database has issuers (add_issuer): its worker should run.
pub fn mark_database_wanted() {
    if !ready() {
        return;
    }
    let db = database();
    let mut s = ISSUERS.exclusive();
    match s.dbs.iter_mut().find(|d| d.dboid == db) {
        Some(d) => d.idle = false,
        None => {
            if let Some(d) = s.dbs.iter_mut().find(|d| d.dboid == 0) {
                *d = DbSlot {
                    dboid: db,
                    worker_pid: 0,
                    idle: false,
                };
            }
        }
    }
}

/// The worker of database `db` started (its pid) or stopped (0).
pub fn set_worker_pid(db: u32, pid: i32) {
    if !ready() {
        return;
    }
    let mut s = ISSUERS.exclusive();
    if let Some(d) = s.dbs.iter_mut().find(|d| d.dboid == db) {
        d.worker_pid = pid;
    } else if let Some(d) = s.dbs.iter_mut().find(|d| d.dboid == 0) {
        *d = DbSlot {
            dboid: db,
            worker_pid: pid,
            idle: false,
        };
    }
}

/// The worker of `db` found no issuers there.
pub fn set_database_idle(db: u32) {
    if ready() {
        if let Some(d) = ISSUERS.exclusive().dbs.iter_mut().find(|d| d.dboid == db) {
            d.idle = true;
        }
    }
}

/// A database created after the launcher's first listing: idle until issuers are written in it
/// (a worker probing it could block `CREATE DATABASE … TEMPLATE` of it).
pub fn note_new_database(db: u32) {
    if !ready() {
        return;
    }
    let mut s = ISSUERS.exclusive();
    if !s.dbs.iter().any(|d| d.dboid == db) {
        if let Some(d) = s.dbs.iter_mut().find(|d| d.dboid == 0) {
            *d = DbSlot {
                dboid: db,
                worker_pid: 0,
                idle: true,
            };
        }
    }
}

/// Has `db` been found without issuers (and had none added since)?
pub fn database_idle(db: u32) -> bool {
    ready() && ISSUERS.share().dbs.iter().any(|d| d.dboid == db && d.idle)
}

/// The pid of this database's worker, if one runs.
pub fn worker_pid() -> i32 {
    let db = database();
    if !ready() {
        return 0;
    }
    ISSUERS
        .share()
        .dbs
        .iter()
        .find(|d| d.dboid == db)
        .map_or(0, |d| d.worker_pid)
}
