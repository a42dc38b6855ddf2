//! Which transactions committed a change to a part of the extension's tables (the token
//! revocations, the third-party issuers), per database and part, in shared memory: what lets a
//! parallel worker of a REPEATABLE READ (or SERIALIZABLE) transaction prove that the part it can
//! read is the newest.
//!
//! A worker cannot take a snapshot newer than its leader's, and under REPEATABLE READ the
//! leader's is the transaction's, which may predate a revocation or an issuer key's removal.
//! Reading the tables with it is sound exactly when every committed change to them is visible in
//! it. So, for each part in [`TRACKED`]:
//!
//! - a transaction that changed the part (its statement triggers call [`note_change`]) records
//!   its transaction id here in its COMMIT callback, which PostgreSQL runs after the commit is
//!   visible and before COMMIT returns (and before the commit's invalidations are sent).
//!   Two-phase commit of such a transaction is refused (keyset.rs), so every committed change
//!   passes through that callback;
//! - per database and part the last [`RECENT`] such ids are kept, and a `floor`: every change
//!   committed since the server started by a transaction whose id is not kept is below it
//!   (evicted ids raise it; an entry starts with the next transaction id as its floor, since what
//!   committed before it was made is unknown);
//! - a worker reads the part with its snapshot if [`snapshot_is_newest`] proves it: the floor is
//!   at most the snapshot's xmin (every older transaction had ended when it was taken) and every
//!   kept id is visible in it. Otherwise it refuses with 55000 (never fails open).
//!
//! A hot standby replays commits without running any callback, so this record is only trusted
//! outside recovery, and entries are made only there. One proof holds anywhere: when the snapshot
//! was running no transaction and no transaction id was assigned since it was taken, nothing can
//! have committed after it.
//!
//! A change committed after the worker's check is concurrent with the statement, which the
//! guarantee (the next statement after COMMIT returns) does not cover.
#![deny(unsafe_op_in_unsafe_fn)]

use std::cell::Cell;
use std::ffi::c_void;
use std::mem::size_of;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgSharedMemoryInitialization;

use crate::catalog::Part;
use crate::shmem::{Empty, ADDIN_SHMEM_INIT_LOCK};

/// The parts whose commits are recorded.
pub const TRACKED: [Part; 2] = [Part::Revocations, Part::Issuers];
/// (database, part) entries at once, 64 databases' worth; a further one evicts the least
/// recently changed.
const MAX_ENTRIES: usize = 64 * TRACKED.len();
/// Transaction ids kept per database; older ones raise its floor.
pub const RECENT: usize = 16;

const LOCK_TRANCHE: &std::ffi::CStr = c"pg_auth_keys commits";
const SHMEM_NAME: &std::ffi::CStr = c"pg_auth_keys commits";

#[repr(C)]
#[derive(Clone, Copy)]
struct DbCommits {
    /// 0: a free entry.
    dboid: u32,
    /// The part's index in [`TRACKED`].
    part: u32,
    /// Every change of the part committed while this entry existed by a transaction not in
    /// `recent` has an id below `floor`; changes committed before it was made, too.
    floor: u64,
    /// The region's clock at the last change, for eviction.
    used_at: u64,
    len: usize,
    recent: [u64; RECENT],
}

#[repr(C)]
struct Region {
    lock: *mut pg_sys::LWLock,
    /// Under the lock.
    clock: u64,
    /// Under the lock.
    dbs: [DbCommits; MAX_ENTRIES],
}

pub struct Commits {
    region: AtomicPtr<Region>,
}

pub static COMMITS: Commits = Commits {
    region: AtomicPtr::new(null_mut()),
};

impl PgSharedMemoryInitialization for Commits {
    type Value = Empty;

    unsafe fn on_shmem_request(&'static self) {
        // SAFETY: called by pgrx from the shmem_request hook, where requests are allowed.
        unsafe {
            pg_sys::RequestAddinShmemSpace(size_of::<Region>());
            pg_sys::RequestNamedLWLockTranche(LOCK_TRANCHE.as_ptr(), 1);
        }
    }

    unsafe fn on_shmem_startup(&'static self, _value: Empty) {
        // SAFETY: called by pgrx from the shmem_startup hook with shared memory attached;
        // AddinShmemInitLock serializes the initialization, the region is zeroed (every entry
        // free) before anything else sees it, and the tranche was requested above.
        unsafe {
            let init_lock = &raw mut (*pg_sys::MainLWLockArray.add(ADDIN_SHMEM_INIT_LOCK)).lock;
            pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
            let mut found = false;
            let region =
                pg_sys::ShmemInitStruct(SHMEM_NAME.as_ptr(), size_of::<Region>(), &mut found)
                    .cast::<Region>();
            if !found {
                std::ptr::write_bytes(region.cast::<u8>(), 0, size_of::<Region>());
                (*region).lock =
                    &raw mut (*pg_sys::GetNamedLWLockTranche(LOCK_TRANCHE.as_ptr())).lock;
            }
            self.region.store(region, Ordering::Release);
            pg_sys::LWLockRelease(init_lock);
        }
    }
}

/// The region's entries with its lock held; released when dropped (PostgreSQL also releases
/// every LWLock at abort).
struct Locked {
    region: *mut Region,
}

impl Locked {
    /// None when the library was not preloaded (then nothing is proved).
    fn acquire(mode: pg_sys::LWLockMode::Type) -> Option<Locked> {
        let region = COMMITS.region.load(Ordering::Acquire);
        if region.is_null() {
            return None;
        }
        // SAFETY: the region and its lock live as long as the server; `lock` is fixed at
        // startup.
        unsafe { pg_sys::LWLockAcquire((*region).lock, mode) };
        Some(Locked { region })
    }

    fn entry(&self, dboid: u32, part: u32) -> Option<DbCommits> {
        // SAFETY: `dbs` is read under the lock this guard holds.
        let dbs = unsafe { &(*self.region).dbs };
        dbs.iter()
            .find(|d| d.dboid == dboid && d.part == part)
            .copied()
    }

    /// The entry of `dboid` and `part`, made (evicting the least recently changed) when missing.
    /// Only with the lock held exclusively.
    fn entry_mut(&mut self, dboid: u32, part: u32) -> &mut DbCommits {
        // SAFETY: the exclusive lock is held (the callers acquire it so) for the guard's life.
        let region = unsafe { &mut *self.region };
        region.clock += 1;
        let clock = region.clock;
        let i = match region
            .dbs
            .iter()
            .position(|d| d.dboid == dboid && d.part == part)
        {
            Some(i) => i,
            None => {
                let i = region
                    .dbs
                    .iter()
                    .position(|d| d.dboid == 0)
                    .unwrap_or_else(|| {
                        (0..MAX_ENTRIES)
                            .min_by_key(|&i| region.dbs[i].used_at)
                            .unwrap_or(0)
                    });
                region.dbs[i] = DbCommits {
                    dboid,
                    part,
                    floor: next_xid(),
                    used_at: clock,
                    len: 0,
                    recent: [0; RECENT],
                };
                i
            }
        };
        region.dbs[i].used_at = clock;
        &mut region.dbs[i]
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: acquired in Locked::acquire, released exactly once here.
        unsafe { pg_sys::LWLockRelease((*self.region).lock) };
    }
}

fn database() -> u32 {
    // SAFETY: a process global, set at connection start.
    unsafe { pg_sys::MyDatabaseId }.to_u32()
}

fn next_xid() -> u64 {
    // SAFETY: reads the next transaction id under XidGenLock; allowed in any backend.
    unsafe { pg_sys::ReadNextFullTransactionId() }.value
}

fn in_recovery() -> bool {
    // SAFETY: a shared-memory flag read; allowed in any backend.
    unsafe { pg_sys::RecoveryInProgress() }
}

/// The full (epoch-qualified) id of `xid`, a transaction id of a live snapshot, which is at most
/// 2^31 transactions older than `next` (wraparound protection guarantees it).
fn widen(xid: u32, next: u64) -> u64 {
    let full = (next & !0xffff_ffff) | u64::from(xid);
    if full > next {
        full.saturating_sub(1 << 32)
    } else {
        full
    }
}

/// The index of `part` in [`TRACKED`]; None for a part whose commits are not recorded.
fn index(part: Part) -> Option<u32> {
    TRACKED.iter().position(|p| *p == part).map(|i| i as u32)
}

/// Make sure this database has an entry for `part`, so that snapshots taken from now on can be
/// proved newest. Called by a backend (not a worker) that reads the part, outside recovery.
pub fn track(part: Part) {
    let Some(part) = index(part) else { return };
    if in_recovery() {
        return;
    }
    let dboid = database();
    if Locked::acquire(pg_sys::LWLockMode::LW_SHARED)
        .is_some_and(|l| l.entry(dboid, part).is_some())
    {
        return;
    }
    if let Some(mut locked) = Locked::acquire(pg_sys::LWLockMode::LW_EXCLUSIVE) {
        locked.entry_mut(dboid, part);
    }
}

/// Record that transaction `xid` committed a change to this database's `part` (an index).
fn record_commit(part: u32, xid: u64) {
    let Some(mut locked) = Locked::acquire(pg_sys::LWLockMode::LW_EXCLUSIVE) else {
        return;
    };
    let entry = locked.entry_mut(database(), part);
    if xid < entry.floor || entry.recent[..entry.len].contains(&xid) {
        return;
    }
    if entry.len == RECENT {
        // Evict the oldest id: it is covered by the floor from now on.
        let (i, oldest) = entry
            .recent
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|(_, x)| *x)
            .unwrap_or((0, 0));
        entry.floor = entry.floor.max(oldest + 1);
        entry.recent[i] = xid;
    } else {
        entry.recent[entry.len] = xid;
        entry.len += 1;
    }
}

/// Does `snapshot` see every change to this database's `part` committed so far (so that a read
/// with it is as good as one with the latest snapshot)? False when it cannot be proved.
///
/// # Safety
/// `snapshot` must be a valid MVCC snapshot (the active snapshot of a parallel operation).
pub unsafe fn snapshot_is_newest(part: Part, snapshot: pg_sys::Snapshot) -> bool {
    // SAFETY: the caller passes a valid snapshot; only its scalar fields are read here.
    let s = unsafe { &*snapshot };
    let next = next_xid();
    let xmin = widen(s.xmin.into_inner(), next);
    // Nothing was running when it was taken and no id was assigned since: nothing can have
    // committed after it (on a primary or a standby alike).
    if s.xcnt == 0 && s.subxcnt == 0 && !s.suboverflowed && widen(s.xmax.into_inner(), next) >= next
    {
        return true;
    }
    let Some(part) = index(part) else {
        return false;
    };
    if in_recovery() {
        return false;
    }
    let Some(entry) =
        Locked::acquire(pg_sys::LWLockMode::LW_SHARED).and_then(|l| l.entry(database(), part))
    else {
        return false;
    };
    entry.floor <= xmin
        && entry.recent[..entry.len].iter().all(|&x| {
            // Committed, so visible exactly when the snapshot does not count it as running.
            // SAFETY: a valid snapshot; `x` is within 2^31 of its xmin (x >= xmin, x < next).
            x < xmin
                || !unsafe {
                    pg_sys::XidInMVCCSnapshot(pg_sys::TransactionId::from(x as u32), snapshot)
                }
        })
}

thread_local! {
    /// This transaction changed these parts (bits of their indexes in [`TRACKED`]): its top-level
    /// id, recorded for each at commit.
    static CHANGED: Cell<Option<(u64, u32)>> = const { Cell::new(None) };
}

/// Called by a tracked part's statement triggers inside the writing transaction.
pub fn note_change(part: Part) {
    let Some(part) = index(part) else { return };
    // SAFETY: the trigger runs after a write, so the transaction has an id (this assigns one
    // otherwise, which a writing transaction may).
    let xid = unsafe { pg_sys::GetTopFullTransactionId() }.value;
    CHANGED.with(|c| {
        let parts = c.get().map_or(0, |(_, parts)| parts);
        c.set(Some((xid, parts | 1 << part)));
    });
}

#[pg_guard]
unsafe extern "C-unwind" fn xact_callback(event: pg_sys::XactEvent::Type, _arg: *mut c_void) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_COMMIT => {
            if let Some((xid, parts)) = CHANGED.with(|c| c.take()) {
                for part in 0..TRACKED.len() as u32 {
                    if parts & (1 << part) != 0 {
                        record_commit(part, xid);
                    }
                }
            }
        }
        pg_sys::XactEvent::XACT_EVENT_ABORT
        | pg_sys::XactEvent::XACT_EVENT_PREPARE
        | pg_sys::XactEvent::XACT_EVENT_PARALLEL_COMMIT
        | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT => {
            CHANGED.with(|c| c.set(None));
        }
        _ => {}
    }
}

/// Called once from `_PG_init`.
pub fn register_callbacks() {
    // SAFETY: a plain function that lives for the whole process and touches only this module's
    // thread-local and (under its lock) shared memory.
    unsafe { pg_sys::RegisterXactCallback(Some(xact_callback), std::ptr::null_mut()) };
}
