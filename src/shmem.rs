//! The shared-memory key store: every database's key set in fixed-size slots, a generation
//! counter, and the `auth.stats()` counters.
//!
//! Why shared memory: the revocation guarantee says the next statement of *every* session refuses
//! a revoked key, even a session inside a REPEATABLE READ transaction whose snapshot predates the
//! revocation. Reading the key table cannot give that (it answers with the transaction's
//! snapshot); a shared, committed view of the key set can. Backends read one atomic generation per
//! call and copy the slots only when it moved (see `keyset.rs`).
//!
//! The region is sized by `auth.max_keys` at postmaster start, so it is requested by hand through
//! pgrx's `PgSharedMemoryInitialization` hooks rather than a fixed-size `PgLwLock<T>`.
//! A database's set is either *loaded* (its slots are the committed truth) or not; every change
//! only marks it not loaded and bumps the generation, and the next reader reloads it from the
//! table with the latest snapshot. Evicting a set is therefore always safe.

use std::mem::size_of;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use pgrx::pg_sys;
use pgrx::{PGRXSharedMemory, PgSharedMemoryInitialization};

use pg_auth_keys_jose::TokenError;

use crate::errors::AuthError;
use crate::settings;

pub const MAX_KID_BYTES: usize = 256;
/// Room for an RSA-8192 modulus with its exponent, or a 1 KiB HMAC secret.
pub const MAX_KEY_BYTES: usize = 1040;
/// Databases whose key sets can be loaded at once; a further one evicts the oldest.
const MAX_DATABASES: usize = 64;

const LOCK_TRANCHE: &std::ffi::CStr = c"pg_auth_keys";
const SHMEM_NAME: &std::ffi::CStr = c"pg_auth_keys key store";

/// Counters kept since server start (`auth.stats()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Stat {
    VerifyOk,
    VerifyFailed,
    TokenCacheHit,
    TokenCacheMiss,
    KeySetLoads,
    #[allow(dead_code)] // counted by API-key verification (issue #7)
    ApiKeyOk,
    #[allow(dead_code)]
    ApiKeyFailed,
}
pub const STAT_NAMES: [&str; 7] = [
    "verify_ok",
    "verify_failed",
    "token_cache_hits",
    "token_cache_misses",
    "key_set_loads",
    "api_key_ok",
    "api_key_failed",
];
/// Named counter values, as `auth.stats()` reports them.
pub type Counters = Vec<(&'static str, u64)>;

/// Failures by reason, in the JOSE core's stable order of reason codes.
const REASONS: [&str; TokenError::REASON_CODES.len()] = TokenError::REASON_CODES;

#[repr(C)]
#[derive(Clone, Copy)]
struct DbEntry {
    dboid: u32,
    loaded: bool,
    /// Generation at which this entry was last touched, for eviction.
    touched: u64,
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
    kid_len: u16,
    key_len: u16,
    kid: [u8; MAX_KID_BYTES],
    key: [u8; MAX_KEY_BYTES],
}

impl Slot {
    pub fn kid(&self) -> &str {
        std::str::from_utf8(&self.kid[..self.kid_len as usize]).unwrap_or("")
    }
    pub fn key(&self) -> &[u8] {
        &self.key[..self.key_len as usize]
    }
    /// A private slot built from a row, for a view that is not shared (parallel workers).
    pub fn from_row(row: &KeyRow) -> Option<Slot> {
        // SAFETY: Slot is plain old data; all-zero is a valid, unused slot.
        let mut slot: Slot = unsafe { std::mem::zeroed() };
        fill_slot(&mut slot, 0, row).ok()?;
        Some(slot)
    }
}

/// A key row as the loader read it, ready to be installed.
pub struct KeyRow {
    pub kid: String,
    pub alg: u8,
    pub state: u8,
    pub is_legacy: bool,
    pub key: Vec<u8>,
}

#[repr(C)]
struct Header {
    generation: AtomicU64,
    lock: *mut pg_sys::LWLock,
    nslots: usize,
    dbs: [DbEntry; MAX_DATABASES],
    stats: [AtomicU64; STAT_NAMES.len()],
    reasons: [AtomicU64; REASONS.len()],
}

pub struct KeyStore {
    header: AtomicPtr<Header>,
}

/// Nothing is copied in at startup; the store is zeroed and filled lazily per database.
#[derive(Clone, Copy, Default)]
pub struct Empty;
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

/// Bytes of shared memory taken for `n` key slots (reported by `auth.stats()` and the README).
pub fn bytes_for(nslots: usize) -> usize {
    region_size(nslots)
}

impl PgSharedMemoryInitialization for KeyStore {
    type Value = Empty;

    unsafe fn on_shmem_request(&'static self) {
        unsafe {
            pg_sys::RequestAddinShmemSpace(region_size(configured_slots()));
            pg_sys::RequestNamedLWLockTranche(LOCK_TRANCHE.as_ptr(), 1);
        }
    }

    unsafe fn on_shmem_startup(&'static self, _value: Empty) {
        unsafe {
            let nslots = configured_slots();
            let size = region_size(nslots);
            let init_lock = &raw mut (*pg_sys::MainLWLockArray.add(21)).lock; // AddinShmemInitLock
            pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
            let mut found = false;
            let header =
                pg_sys::ShmemInitStruct(SHMEM_NAME.as_ptr(), size, &mut found).cast::<Header>();
            if !found {
                std::ptr::write_bytes(header.cast::<u8>(), 0, size);
                (*header).lock =
                    &raw mut (*pg_sys::GetNamedLWLockTranche(LOCK_TRANCHE.as_ptr())).lock;
                (*header).nslots = nslots;
                (*header).generation.store(1, Ordering::Release);
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

struct Guard(*mut pg_sys::LWLock);
impl Drop for Guard {
    fn drop(&mut self) {
        unsafe { pg_sys::LWLockRelease(self.0) };
    }
}

impl Store {
    fn header(&self) -> &Header {
        // SAFETY: set once at startup; the fields read without the lock are atomics or fixed.
        unsafe { &*self.0 }
    }

    fn lock(&self, mode: pg_sys::LWLockMode::Type) -> Guard {
        let lock = self.header().lock;
        unsafe { pg_sys::LWLockAcquire(lock, mode) };
        Guard(lock)
    }

    #[allow(clippy::mut_from_ref)] // only called with the exclusive lock held
    unsafe fn header_mut(&self) -> &mut Header {
        unsafe { &mut *self.0 }
    }

    fn slots(&self) -> &[Slot] {
        unsafe { std::slice::from_raw_parts(self.0.add(1).cast::<Slot>(), self.nslots()) }
    }

    #[allow(clippy::mut_from_ref)] // only called with the exclusive lock held
    unsafe fn slots_mut(&self) -> &mut [Slot] {
        unsafe { std::slice::from_raw_parts_mut(self.0.add(1).cast::<Slot>(), self.nslots()) }
    }

    pub fn nslots(&self) -> usize {
        self.header().nslots
    }

    /// One atomic read: has anything changed since `seen`?
    pub fn generation(&self) -> u64 {
        self.header().generation.load(Ordering::Acquire)
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
        let read = |names: &[&'static str], values: &[AtomicU64]| {
            names
                .iter()
                .zip(values)
                .map(|(n, v)| (*n, v.load(Ordering::Relaxed)))
                .collect()
        };
        (read(&STAT_NAMES, &h.stats), read(&REASONS, &h.reasons))
    }

    /// The loaded key set of `dboid` and the generation it was read at, or None when it must be
    /// (re)loaded from the table.
    pub fn read_db(&self, dboid: u32) -> Option<(u64, Vec<Slot>)> {
        let _g = self.lock(pg_sys::LWLockMode::LW_SHARED);
        let loaded = self
            .header()
            .dbs
            .iter()
            .any(|d| d.dboid == dboid && d.loaded);
        if !loaded {
            return None;
        }
        let slots = self
            .slots()
            .iter()
            .filter(|s| s.used && s.dboid == dboid)
            .copied()
            .collect();
        Some((self.generation(), slots))
    }

    /// Forget `dboid`'s set (a key changed): the next reader reloads it. Never raises, so it is
    /// safe in a commit callback.
    pub fn mark_stale(&self, dboid: u32) {
        let _g = self.lock(pg_sys::LWLockMode::LW_EXCLUSIVE);
        let h = unsafe { self.header_mut() };
        for d in h.dbs.iter_mut().filter(|d| d.dboid == dboid) {
            d.loaded = false;
        }
        h.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Install `rows` as `dboid`'s set, unless the generation moved since `seen` (a change
    /// committed while the rows were read: the caller reads again). Evicts other databases' sets
    /// when slots run short.
    pub fn install_db(&self, dboid: u32, seen: u64, rows: &[KeyRow]) -> Result<bool, AuthError> {
        if rows.len() > self.nslots() {
            return Err(AuthError::Limit {
                message: format!(
                    "this database has {} signing keys but auth.max_keys is {}",
                    rows.len(),
                    self.nslots()
                ),
                hint:
                    "delete revoked keys with auth.delete_key, or raise auth.max_keys and restart"
                        .into(),
            });
        }
        let _g = self.lock(pg_sys::LWLockMode::LW_EXCLUSIVE);
        if self.generation() != seen {
            return Ok(false);
        }
        let h = unsafe { self.header_mut() };
        let now = h.generation.load(Ordering::Acquire);
        // Find or make this database's entry, evicting the least recently loaded one if full.
        let idx = match h.dbs.iter().position(|d| d.dboid == dboid) {
            Some(i) => i,
            None => match h.dbs.iter().position(|d| d.dboid == 0) {
                Some(i) => i,
                None => {
                    let i = (0..MAX_DATABASES)
                        .min_by_key(|&i| h.dbs[i].touched)
                        .unwrap_or(0);
                    let evicted = h.dbs[i].dboid;
                    free_slots(unsafe { self.slots_mut() }, evicted);
                    i
                }
            },
        };
        h.dbs[idx] = DbEntry {
            dboid,
            loaded: false,
            touched: now,
        };
        let slots = unsafe { self.slots_mut() };
        free_slots(slots, dboid);
        // Make room by evicting other databases, least recently loaded first.
        while slots.iter().filter(|s| !s.used).count() < rows.len() {
            let victim = h
                .dbs
                .iter()
                .enumerate()
                .filter(|(_, d)| d.dboid != 0 && d.dboid != dboid)
                .min_by_key(|(_, d)| d.touched)
                .map(|(i, _)| i);
            let Some(v) = victim else { break };
            free_slots(slots, h.dbs[v].dboid);
            h.dbs[v] = DbEntry {
                dboid: 0,
                loaded: false,
                touched: 0,
            };
        }
        let mut free = slots.iter_mut().filter(|s| !s.used);
        for row in rows {
            let Some(slot) = free.next() else {
                return Err(AuthError::Internal(
                    "no free key slot after eviction".into(),
                ));
            };
            fill_slot(slot, dboid, row)?;
        }
        h.dbs[idx].loaded = true;
        h.generation.fetch_add(1, Ordering::AcqRel);
        Ok(true)
    }
}

fn free_slots(slots: &mut [Slot], dboid: u32) {
    for s in slots.iter_mut().filter(|s| s.used && s.dboid == dboid) {
        s.used = false;
    }
}

fn fill_slot(slot: &mut Slot, dboid: u32, row: &KeyRow) -> Result<(), AuthError> {
    if row.kid.len() > MAX_KID_BYTES || row.key.len() > MAX_KEY_BYTES {
        return Err(AuthError::Internal(format!(
            "key {} does not fit a shared-memory slot",
            row.kid
        )));
    }
    slot.dboid = dboid;
    slot.state = row.state;
    slot.alg = row.alg;
    slot.is_legacy = row.is_legacy;
    slot.kid_len = row.kid.len() as u16;
    slot.kid[..row.kid.len()].copy_from_slice(row.kid.as_bytes());
    slot.key_len = row.key.len() as u16;
    slot.key[..row.key.len()].copy_from_slice(&row.key);
    slot.used = true;
    Ok(())
}
