//! `RevocationSet::bytes` (what `auth.stats()` reports as `token_revocation_bytes`) against the
//! heap the set really holds, counted by a global allocator that records the allocations of the
//! test's own thread (the harness's threads allocate meanwhile), each as `malloc_footprint`
//! says glibc takes it. (That glibc does: docs/design.md, "Memory", measured in a backend.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use pg_auth_keys_core::{
    malloc_footprint, token_hash_value, RevocationEntry, RevocationKind, RevocationSet,
};

struct Counting;

thread_local! {
    /// Bytes this thread holds (allocated minus freed); no destructor, so usable in the allocator.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    LIVE.with(|l| l.set(l.get() + delta));
}

fn live() -> isize {
    LIVE.with(Cell::get)
}

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(malloc_footprint(layout.size()) as isize);
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(malloc_footprint(layout.size()) as isize));
        // SAFETY: a block this allocator (System) returned, with its layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(malloc_footprint(new_size) as isize);
        count(-(malloc_footprint(layout.size()) as isize));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn entry(i: usize) -> RevocationEntry {
    let id = i as i64 + 1;
    let (kind, value, issued_before) = match i % 10 {
        // Mostly subjects (sign_out, revoke_tokens): UUIDs, as hosted auth servers issue.
        0..=6 => (
            RevocationKind::Subject,
            format!("{:08x}-0000-4000-8000-{:012x}", i / 1000, i),
            Some(1.7e9 + i as f64),
        ),
        7 => (RevocationKind::Session, format!("session-{i:032}"), None),
        8 => (RevocationKind::Jti, format!("jti-{i}"), None),
        _ => {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&(i as u64).to_le_bytes());
            (RevocationKind::Token, token_hash_value(&hash), None)
        }
    };
    RevocationEntry {
        id,
        kind,
        value,
        issued_before,
    }
}

#[test]
fn bytes_is_the_heap_the_set_holds() {
    for n in [0, 1, 7, 100, 1000, 100_000] {
        let before = live();
        let mut set = RevocationSet::default();
        for i in 0..n {
            set.insert(entry(i));
            // Read twice (an incremental read overlaps the last one).
            if i % 3 == 0 {
                set.insert(entry(i));
            }
        }
        let held = (live() - before) as usize;
        assert_eq!(set.len(), n);
        assert_eq!(set.bytes(), held, "{n} entries");
        drop(set);
        assert_eq!(live(), before, "the set freed everything");
        if n == 100_000 {
            // The figure docs/design.md gives per entry (with this mix of kinds).
            let per_entry = held as f64 / n as f64;
            println!("{n} entries: {held} bytes, {per_entry:.1} per entry");
            assert!((60.0..200.0).contains(&per_entry), "{per_entry}");
        }
    }
}
