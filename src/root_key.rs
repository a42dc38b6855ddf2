//! `auth.root_key` and `auth.previous_root_key`: settings only the server's configuration can
//! hold and only superusers can see.
//!
//! - `PGC_SIGHUP`: set in `postgresql.conf` (or with `ALTER SYSTEM`), never with `SET`,
//!   `ALTER DATABASE … SET` or `ALTER ROLE … SET` — PostgreSQL refuses a SIGHUP setting in all of
//!   those ("cannot be changed now"), so the key never lands in `pg_db_role_setting`, which every
//!   role can read.
//! - `GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL`: absent from `pg_settings` and `SHOW ALL`;
//!   `current_setting` and `SHOW` need `pg_read_all_settings`.
//! - A show hook: members of `pg_read_all_settings` (and so `pg_monitor`) may still examine a
//!   `GUC_SUPERUSER_ONLY` setting, so `SHOW` and `current_setting` print `(hidden)` to anyone but
//!   a superuser (and an empty string when unset, so a monitor can tell whether one is set).
//!
//! pgrx's `GucRegistry` takes no hooks, so both are defined with
//! `DefineCustomStringVariable` directly.

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};

use pgrx::{pg_guard, pg_sys};

/// The storage PostgreSQL writes a string setting's value into (a `char *` it owns).
struct StringGuc(UnsafeCell<*mut c_char>);

// SAFETY: a backend is single-threaded; PostgreSQL writes the pointer only from its own GUC code
// on that thread, and we only read it there.
unsafe impl Sync for StringGuc {}

impl StringGuc {
    const fn new() -> StringGuc {
        StringGuc(UnsafeCell::new(std::ptr::null_mut()))
    }

    /// The value, when set and not empty.
    fn get(&self) -> Option<&'static CStr> {
        // SAFETY: PostgreSQL keeps the pointer either NULL or pointing at a NUL-terminated string
        // it allocated with guc_malloc, valid until the setting changes (between statements, on
        // this thread; callers copy what they keep).
        let p = unsafe { *self.0.get() };
        if p.is_null() {
            return None;
        }
        // SAFETY: see above.
        let value = unsafe { CStr::from_ptr(p) };
        (!value.is_empty()).then_some(value)
    }
}

static ROOT_KEY: StringGuc = StringGuc::new();
static PREVIOUS_ROOT_KEY: StringGuc = StringGuc::new();

/// Bumped whenever either setting takes a new value in this process, so that a key set holding
/// keys that could not be opened is read again at once (`keyset.rs`).
static EPOCH: AtomicU64 = AtomicU64::new(0);

pub fn root_key() -> Option<&'static CStr> {
    ROOT_KEY.get()
}

pub fn previous_root_key() -> Option<&'static CStr> {
    PREVIOUS_ROOT_KEY.get()
}

pub fn epoch() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}

#[pg_guard]
unsafe extern "C-unwind" fn assign(_newval: *const c_char, _extra: *mut c_void) {
    EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// What `SHOW` and `current_setting` print: the value for a superuser only.
fn shown(value: Option<&'static CStr>) -> *const c_char {
    let Some(value) = value else {
        return c"".as_ptr();
    };
    // SAFETY: both are plain calls into the backend; superuser() reads the syscache, which needs
    // a transaction, so outside one the value is simply not shown.
    let superuser = unsafe { pg_sys::IsTransactionState() && pg_sys::superuser() };
    if superuser {
        value.as_ptr()
    } else {
        c"(hidden)".as_ptr()
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn show_root_key() -> *const c_char {
    shown(ROOT_KEY.get())
}

#[pg_guard]
unsafe extern "C-unwind" fn show_previous_root_key() -> *const c_char {
    shown(PREVIOUS_ROOT_KEY.get())
}

/// Define both settings; called from `_PG_init` (settings::register).
pub fn register() {
    let flags = (pg_sys::GUC_SUPERUSER_ONLY | pg_sys::GUC_NO_SHOW_ALL) as i32;
    // SAFETY: called once per process from _PG_init; the names, descriptions and boot value are
    // 'static C strings; the value addresses are statics that live as long as the process; the
    // hooks are pg_guard'ed functions with the signatures PostgreSQL expects.
    unsafe {
        pg_sys::DefineCustomStringVariable(
            c"auth.root_key".as_ptr(),
            c"Key-encryption key (at least 32 bytes) that seals private keys, HMAC secrets and revealable secret API keys.".as_ptr(),
            c"Only in postgresql.conf or ALTER SYSTEM; shown to superusers only. When unset, the data directory's pg_auth_keys.kek is the key-encryption key.".as_ptr(),
            ROOT_KEY.0.get(),
            std::ptr::null(),
            pg_sys::GucContext::PGC_SIGHUP,
            flags,
            None,
            Some(assign),
            Some(show_root_key),
        );
        pg_sys::DefineCustomStringVariable(
            c"auth.previous_root_key".as_ptr(),
            c"An earlier auth.root_key, used only to open values sealed under it (see auth.rekey()).".as_ptr(),
            c"".as_ptr(),
            PREVIOUS_ROOT_KEY.0.get(),
            std::ptr::null(),
            pg_sys::GucContext::PGC_SIGHUP,
            flags,
            None,
            Some(assign),
            Some(show_previous_root_key),
        );
    }
}

/// The hook that was installed before ours, called after ours.
static NEXT_EMIT_LOG_HOOK: std::sync::OnceLock<pg_sys::emit_log_hook_type> =
    std::sync::OnceLock::new();

/// PostgreSQL logs every setting a reload changes with its new value ("parameter "x" changed to
/// "value"", from the postmaster, at LOG): for the root keys, only that they changed is logged,
/// so the server log (and whatever ships it elsewhere) never holds a root key.
#[pg_guard]
unsafe extern "C-unwind" fn redact_root_keys(edata: *mut pg_sys::ErrorData) {
    // SAFETY: PostgreSQL passes the ErrorData being emitted, valid for this call; its message
    // and message_id are NUL-terminated strings or NULL. A replacement message is allocated in
    // the current memory context, ErrorContext, as the one it replaces was.
    unsafe {
        if let Some(e) = edata.as_mut() {
            if !e.message.is_null() && !e.message_id.is_null() {
                let id = CStr::from_ptr(e.message_id).to_bytes();
                let message = CStr::from_ptr(e.message).to_bytes();
                if id == b"parameter \"%s\" changed to \"%s\"" {
                    for (quoted, redacted) in [
                        (
                            &b"\"auth.root_key\""[..],
                            c"parameter \"auth.root_key\" changed",
                        ),
                        (
                            b"\"auth.previous_root_key\"",
                            c"parameter \"auth.previous_root_key\" changed",
                        ),
                    ] {
                        if message.windows(quoted.len()).any(|w| w == quoted) {
                            e.message = pg_sys::pstrdup(redacted.as_ptr());
                        }
                    }
                }
            }
        }
        if let Some(Some(next)) = NEXT_EMIT_LOG_HOOK.get() {
            next(edata);
        }
    }
}

/// Install the log hook once per process (from `_PG_init`).
pub fn install_log_hook() {
    // SAFETY: hooks are process globals set from _PG_init, before any query runs; the previous
    // hook is kept and called from ours.
    unsafe {
        if NEXT_EMIT_LOG_HOOK.set(pg_sys::emit_log_hook).is_ok() {
            pg_sys::emit_log_hook = Some(redact_root_keys);
        }
    }
}
