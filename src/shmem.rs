//! Shared memory: the `auth.stats()` counters, and the newest key set each database's backends
//! loaded, for parallel workers.
//!
//! Revocation does not rest on shared memory: each backend keeps its own view of the key set and
//! reloads it from the table when PostgreSQL delivers an invalidation of the extension's tables
//! (`keyset.rs`, docs/design.md). What shared memory adds:
//! - the counters, since server start;
//! - the newest key set loaded in each database, which a parallel worker copies: a worker cannot
//!   take a snapshot newer than its leader's, so reading the table itself could show it a set
//!   older than the one its leader verified with (and under REPEATABLE READ it cannot read at all).
//!   Every backend that loads a set installs it here unless a newer one is there already; sets
//!   are ordered by a tick taken *before* the snapshot that read them.
//!
//! The region is sized by `auth.max_keys` at postmaster start, so it is requested by hand through
//! pgrx's `PgSharedMemoryInitialization` hooks rather than a fixed-size `PgLwLock<T>`. Fields that
//! are read without the lock are atomics; everything else is read or written only through a
//! [`Locked`] guard, which is the proof that the lock is held.
#![deny(unsafe_op_in_unsafe_fn)]

use std::mem::size_of;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use pgrx::pg_sys;
use pgrx::{PGRXSharedMemory, PgSharedMemoryInitialization};

use pg_auth_keys_core::{TokenError, MAX_KID_BYTES, MAX_VERIFY_KEY_BYTES};

use crate::errors::AuthError;
use crate::settings;

/// Room for the largest verify key the core accepts (an RSA-8192 public key, or a 1 KiB HMAC
/// secret): one constant, owned by the core crate, so the table's CHECK, the import check and
/// the slot size agree.
pub const MAX_KEY_BYTES: usize = MAX_VERIFY_KEY_BYTES;
/// Databases whose newest key set is kept at once; a further one evicts the least recent.
const MAX_DATABASES: usize = 64;
/// `AddinShmemInitLock`'s index in `MainLWLockArray` (src/backend/storage/lmgr/lwlocknames.txt;
/// the same from PostgreSQL 9.6 to 18). pgrx does not export the macro.
pub(crate) const ADDIN_SHMEM_INIT_LOCK: usize = 21;

const LOCK_TRANCHE: &std::ffi::CStr = c"pg_auth_keys";
const SHMEM_NAME: &std::ffi::CStr = c"pg_auth_keys key store";

/// Counters kept since server start (`auth.stats()`), named by [`Stat::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Stat {
    VerifyOk,
    VerifyFailed,
    TokenCacheHit,
    TokenCacheMiss,
    KeySetLoads,
    ApiKeyOk,
    ApiKeyFailed,
}

impl Stat {
    pub const ALL: [Stat; 7] = [
        Stat::VerifyOk,
        Stat::VerifyFailed,
        Stat::TokenCacheHit,
        Stat::TokenCacheMiss,
        Stat::KeySetLoads,
        Stat::ApiKeyOk,
        Stat::ApiKeyFailed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stat::VerifyOk => "verify_ok",
            Stat::VerifyFailed => "verify_failed",
            Stat::TokenCacheHit => "token_cache_hits",
            Stat::TokenCacheMiss => "token_cache_misses",
            Stat::KeySetLoads => "key_set_loads",
            Stat::ApiKeyOk => "api_key_ok",
            Stat::ApiKeyFailed => "api_key_failed",
        }
    }
}

/// Named counter values, as `auth.stats()` reports them.
pub type Counters = Vec<(&'static str, u64)>;

/// Failures by reason, in the core's stable order of reason codes.
const REASONS: [&str; TokenError::REASON_CODES.len()] = TokenError::REASON_CODES;

#[repr(C)]
#[derive(Clone, Copy)]
struct DbEntry {
    dboid: u32,
    /// The tick taken before the snapshot that read this set; 0 for a free entry.
    tick: u64,
}

/// One key of one database. Plain old data so it can live in shared memory.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Slot {
    dboid: u32,
    used: bool,
    pub state: u8,
    pub alg: u8,
    pub is_legacy: bool,
    /// An HMAC key whose sealed secret could not be opened: it verifies nothing.
    pub unavailable: bool,
    kid_len: u16,
    key_len: u16,
    kid: [u8; MAX_KID_BYTES],
    key: [u8; MAX_KEY_BYTES],
}

/// A key row as the loader read it: `key` is the public key or the opened HMAC secret (never on
/// disk: shared memory only), empty and `unavailable` when the secret could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    pub kid: String,
    pub alg: u8,
    pub state: u8,
    pub is_legacy: bool,
    pub unavailable: bool,
    pub key: Vec<u8>,
}

impl Slot {
    fn row(&self) -> KeyRow {
        KeyRow {
            kid: String::from_utf8_lossy(&self.kid[..self.kid_len as usize]).into_owned(),
            alg: self.alg,
            state: self.state,
            is_legacy: self.is_legacy,
            unavailable: self.unavailable,
            key: self.key[..self.key_len as usize].to_vec(),
        }
    }

    /// `row` must fit (checked by `Store::install` before any slot is taken).
    fn fill(&mut self, dboid: u32, row: &KeyRow) {
        self.dboid = dboid;
        self.state = row.state;
        self.alg = row.alg;
        self.is_legacy = row.is_legacy;
        self.unavailable = row.unavailable;
        self.kid_len = row.kid.len() as u16;
        self.kid[..row.kid.len()].copy_from_slice(row.kid.as_bytes());
        self.key_len = row.key.len() as u16;
        self.key[..row.key.len()].copy_from_slice(&row.key);
        self.used = true;
    }
}

#[repr(C)]
struct Header {
    /// Orders the loads of key sets (see the module doc).
    tick: AtomicU64,
    lock: *mut pg_sys::LWLock,
    nslots: usize,
    stats: [AtomicU64; Stat::ALL.len()],
    reasons: [AtomicU64; REASONS.len()],
    /// Under the lock.
    dbs: [DbEntry; MAX_DATABASES],
}

pub struct KeyStore {
    header: AtomicPtr<Header>,
}

/// Nothing is copied in at startup; the store is zeroed and filled lazily per database.
#[derive(Clone, Copy, Default)]
pub struct Empty;
// SAFETY: a unit struct, trivially plain old data.
unsafe impl PGRXSharedMemory for Empty {}

pub static KEY_STORE: KeyStore = KeyStore {
    header: AtomicPtr::new(null_mut()),
};

fn region_size(nslots: usize) -> usize {
    size_of::<Header>() + nslots * size_of::<Slot>()
}

fn configured_slots() -> usize {
    settings::MAX_KEYS.get().max(1) as usize
}

/// Bytes of shared memory taken for `n` key slots (reported by `auth.stats()`).
pub fn bytes_for(nslots: usize) -> usize {
    region_size(nslots)
}

impl PgSharedMemoryInitialization for KeyStore {
    type Value = Empty;

    unsafe fn on_shmem_request(&'static self) {
        // SAFETY: called by pgrx from the shmem_request hook (PostgreSQL 15+), where requests
        // are allowed.
        unsafe {
            pg_sys::RequestAddinShmemSpace(region_size(configured_slots()));
            pg_sys::RequestNamedLWLockTranche(LOCK_TRANCHE.as_ptr(), 1);
        }
    }

    unsafe fn on_shmem_startup(&'static self, _value: Empty) {
        // SAFETY: called by pgrx from the shmem_startup hook, in the postmaster (or a backend
        // under EXEC_BACKEND) with shared memory attached. AddinShmemInitLock serializes the
        // initialization; the region is zeroed before anything else sees it, and the named
        // tranche was requested above.
        unsafe {
            let nslots = configured_slots();
            let size = region_size(nslots);
            let init_lock = &raw mut (*pg_sys::MainLWLockArray.add(ADDIN_SHMEM_INIT_LOCK)).lock;
            pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
            let mut found = false;
            let header =
                pg_sys::ShmemInitStruct(SHMEM_NAME.as_ptr(), size, &mut found).cast::<Header>();
            if !found {
                std::ptr::write_bytes(header.cast::<u8>(), 0, size);
                (*header).lock =
                    &raw mut (*pg_sys::GetNamedLWLockTranche(LOCK_TRANCHE.as_ptr())).lock;
                (*header).nslots = nslots;
                (*header).tick.store(1, Ordering::Release);
            }
            self.header.store(header, Ordering::Release);
            pg_sys::LWLockRelease(init_lock);
        }
    }
}

/// The store, or the 55000 error that says how to preload the library.
pub fn store() -> Result<Store, AuthError> {
    let header = KEY_STORE.header.load(Ordering::Acquire);
    if header.is_null() {
        return Err(AuthError::NotReady {
            message: "pg_auth_keys is not loaded through shared_preload_libraries".into(),
            hint: "add shared_preload_libraries = 'pg_auth_keys' to postgresql.conf and restart the server".into(),
        });
    }
    Ok(Store(header))
}

/// A handle on the shared region, which lives as long as the server.
#[derive(Clone, Copy)]
pub struct Store(*mut Header);

/// Proof that the store's lock is held; releases it when dropped (also on an ERROR's unwind, and
/// PostgreSQL releases every LWLock at abort in any case).
struct Locked<'a> {
    store: &'a Store,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: acquired in Store::lock, released exactly once here.
        unsafe { pg_sys::LWLockRelease(self.store.header().lock) };
    }
}

impl Locked<'_> {
    fn dbs(&self) -> &[DbEntry] {
        // SAFETY: `dbs` is only read or written under the lock, which this guard holds.
        unsafe { &(*self.store.0).dbs }
    }

    fn slots(&self) -> &[Slot] {
        // SAFETY: the slots follow the header in the region sized for `nslots` of them, and are
        // only accessed under the lock.
        unsafe {
            std::slice::from_raw_parts(self.store.0.add(1).cast::<Slot>(), self.store.nslots())
        }
    }
}

/// The exclusive variant: the only way to get mutable access.
struct LockedExclusive<'a>(Locked<'a>);

impl LockedExclusive<'_> {
    #[allow(clippy::mut_from_ref)]
    fn parts(&mut self) -> (&mut [DbEntry; MAX_DATABASES], &mut [Slot]) {
        let store = self.0.store;
        // SAFETY: the exclusive lock is held for the guard's lifetime, and the two borrows are
        // of disjoint parts of the region (the header's `dbs`, the slots after the header).
        unsafe {
            (
                &mut (*store.0).dbs,
                std::slice::from_raw_parts_mut(store.0.add(1).cast::<Slot>(), store.nslots()),
            )
        }
    }
}

impl Store {
    fn header(&self) -> &Header {
        // SAFETY: set once at startup and never freed; the fields read through this reference
        // without the lock are atomics or fixed at startup (`lock`, `nslots`).
        unsafe { &*self.0 }
    }

    fn lock(&self, mode: pg_sys::LWLockMode::Type) -> Locked<'_> {
        // SAFETY: the tranche's lock, initialized at startup.
        unsafe { pg_sys::LWLockAcquire(self.header().lock, mode) };
        Locked { store: self }
    }

    fn lock_exclusive(&self) -> LockedExclusive<'_> {
        LockedExclusive(self.lock(pg_sys::LWLockMode::LW_EXCLUSIVE))
    }

    pub fn nslots(&self) -> usize {
        self.header().nslots
    }

    /// A new tick, later than every tick taken before.
    pub fn next_tick(&self) -> u64 {
        self.header().tick.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The latest tick (reported by `auth.stats()` as the key-set generation).
    pub fn tick(&self) -> u64 {
        self.header().tick.load(Ordering::Acquire)
    }

    pub fn count(&self, stat: Stat) {
        self.header().stats[stat as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_reason(&self, error: &TokenError) {
        let code = error.reason_code();
        let i = REASONS.iter().position(|r| *r == code).unwrap_or(0);
        self.header().reasons[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters, and the verification failures by reason code.
    pub fn stats(&self) -> (Counters, Counters) {
        let h = self.header();
        let counters = Stat::ALL
            .iter()
            .map(|s| (s.name(), h.stats[*s as usize].load(Ordering::Relaxed)))
            .collect();
        let reasons = REASONS
            .iter()
            .zip(&h.reasons)
            .map(|(n, v)| (*n, v.load(Ordering::Relaxed)))
            .collect();
        (counters, reasons)
    }

    /// The newest key set installed for `dboid`, if any.
    pub fn newest(&self, dboid: u32) -> Option<Vec<KeyRow>> {
        let locked = self.lock(pg_sys::LWLockMode::LW_SHARED);
        if !locked.dbs().iter().any(|d| d.dboid == dboid && d.tick != 0) {
            return None;
        }
        Some(
            locked
                .slots()
                .iter()
                .filter(|s| s.used && s.dboid == dboid)
                .map(Slot::row)
                .collect(),
        )
    }

    /// Forget `dboid`'s set: its parallel workers read the key table themselves until a backend
    /// installs a new one.
    pub fn drop_set(&self, dboid: u32) {
        let mut locked = self.lock_exclusive();
        let (dbs, slots) = locked.parts();
        if let Some(i) = dbs.iter().position(|d| d.dboid == dboid) {
            evict(dbs, i, slots);
        }
    }

    /// Keep `rows`, read after `tick`, as `dboid`'s newest set unless a newer one is there.
    /// Evicts other databases' sets, least recent first, when slots run short; a set larger
    /// than the whole store is simply not kept (parallel workers then read the table).
    pub fn install(&self, dboid: u32, tick: u64, rows: &[KeyRow]) -> Result<(), AuthError> {
        if rows.len() > self.nslots() {
            // An older, smaller set of this database must not stay behind as its newest.
            self.drop_set(dboid);
            return Ok(());
        }
        if let Some(row) = rows
            .iter()
            .find(|r| r.kid.len() > MAX_KID_BYTES || r.key.len() > MAX_KEY_BYTES)
        {
            return Err(AuthError::Internal(format!(
                "key {} does not fit a shared-memory slot",
                row.kid
            )));
        }
        let mut locked = self.lock_exclusive();
        let (dbs, slots) = locked.parts();
        if dbs.iter().any(|d| d.dboid == dboid && d.tick >= tick) {
            return Ok(());
        }
        if let Some(i) = dbs.iter().position(|d| d.dboid == dboid) {
            evict(dbs, i, slots);
        }
        while slots.iter().filter(|s| !s.used).count() < rows.len()
            || !dbs.iter().any(|d| d.tick == 0)
        {
            let Some(victim) = (0..MAX_DATABASES)
                .filter(|&i| dbs[i].tick != 0)
                .min_by_key(|&i| dbs[i].tick)
            else {
                break;
            };
            evict(dbs, victim, slots);
        }
        let Some(entry) = dbs.iter().position(|d| d.tick == 0) else {
            return Ok(());
        };
        let mut free = slots.iter_mut().filter(|s| !s.used);
        for row in rows {
            let Some(slot) = free.next() else {
                return Err(AuthError::Internal(
                    "no free key slot after eviction".into(),
                ));
            };
            slot.fill(dboid, row);
        }
        dbs[entry] = DbEntry { dboid, tick };
        Ok(())
    }
}

/// Free database entry `i` and the slots of its set.
fn evict(dbs: &mut [DbEntry; MAX_DATABASES], i: usize, slots: &mut [Slot]) {
    for s in slots
        .iter_mut()
        .filter(|s| s.used && s.dboid == dbs[i].dboid)
    {
        s.used = false;
    }
    dbs[i] = DbEntry { dboid: 0, tick: 0 };
}
