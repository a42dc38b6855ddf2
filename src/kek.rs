//! The key-encryption keys (KEKs) this server has, and sealing and opening with them.
//!
//! New values are sealed under `auth.root_key` when it is set, and otherwise under the 32 random
//! bytes of `pg_auth_keys.kek` in the data directory, which the first backend that needs it
//! creates (mode 0600, atomically: a temporary file made with `O_EXCL`, then linked into place,
//! so two backends racing agree on one key). A value is opened with whichever of `auth.root_key`,
//! `auth.previous_root_key` and the key file sealed it (the sealed header names its KEK id), so a
//! root-key rotation needs no downtime: set the new key, keep the old one as
//! `auth.previous_root_key`, reload, run `auth.rekey()`.
//!
//! The key file is refused, with SQLSTATE 55000, when it is not a regular file of exactly 32
//! bytes or when its group or others have any access. Derived keys are cached per backend: the
//! root keys by value, the file by its identity and change times (one `stat` per use), so a
//! replaced or removed file takes effect at the next use in every session.

use std::cell::RefCell;
use std::ffi::CStr;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::rc::Rc;

use pg_auth_keys_core::{Kek, Purpose, SealError, MIN_ROOT_KEY_BYTES};
use pgrx::pg_sys;

use crate::errors::AuthError;
use crate::root_key;

/// The key file's name in the data directory.
pub const KEK_FILE: &str = "pg_auth_keys.kek";
const KEK_FILE_BYTES: usize = 32;

/// What identifies a version of the key file: a change of any of these re-reads it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mode: u32,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mode: m.mode(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

thread_local! {
    /// Derived from auth.root_key / auth.previous_root_key, with the value it came from.
    static ROOT: RefCell<Option<(Vec<u8>, Rc<Kek>)>> = const { RefCell::new(None) };
    static PREVIOUS: RefCell<Option<(Vec<u8>, Rc<Kek>)>> = const { RefCell::new(None) };
    static FILE: RefCell<Option<(Stamp, Rc<Kek>)>> = const { RefCell::new(None) };
}

type Cache = std::thread::LocalKey<RefCell<Option<(Vec<u8>, Rc<Kek>)>>>;

fn from_setting(
    cache: &'static Cache,
    name: &str,
    value: Option<&CStr>,
) -> Result<Option<Rc<Kek>>, AuthError> {
    let Some(value) = value.map(CStr::to_bytes) else {
        return Ok(None);
    };
    if let Some(kek) = cache.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(v, _)| v.as_slice() == value)
            .map(|(_, k)| k.clone())
    }) {
        return Ok(Some(kek));
    }
    let kek = Rc::new(Kek::derive(value).map_err(|e| match e {
        SealError::RootKeyTooShort => AuthError::NotReady {
            message: format!("{name} must be at least {MIN_ROOT_KEY_BYTES} bytes"),
            hint: format!("a superuser sets {name} in postgresql.conf and reloads"),
        },
        other => AuthError::Sealed(other),
    })?);
    cache.with(|c| *c.borrow_mut() = Some((value.to_vec(), kek.clone())));
    Ok(Some(kek))
}

/// The KEK derived from `auth.root_key`, when it is set.
pub fn root() -> Result<Option<Rc<Kek>>, AuthError> {
    from_setting(&ROOT, "auth.root_key", root_key::root_key())
}

fn previous() -> Result<Option<Rc<Kek>>, AuthError> {
    from_setting(
        &PREVIOUS,
        "auth.previous_root_key",
        root_key::previous_root_key(),
    )
}

fn kek_path() -> PathBuf {
    // SAFETY: DataDir is set by the postmaster before any backend or library code runs and never
    // changes; it is a NUL-terminated absolute path.
    let dir = unsafe { CStr::from_ptr(pg_sys::DataDir) };
    PathBuf::from(dir.to_string_lossy().into_owned()).join(KEK_FILE)
}

fn file_error(message: String, hint: &str) -> AuthError {
    AuthError::NotReady {
        message,
        hint: hint.into(),
    }
}

const FILE_HINT: &str = "the key file must be a regular file of 32 bytes, mode 0600, owned by the server's OS user; restore it from the backup that holds this database's keys";

/// The KEK of the data directory's key file; None when there is none and `create` is false.
fn file(create: bool) -> Result<Option<Rc<Kek>>, AuthError> {
    let path = kek_path();
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            FILE.with(|c| *c.borrow_mut() = None);
            if !create {
                return Ok(None);
            }
            create_file(&path)?;
            fs::metadata(&path).map_err(|e| {
                file_error(
                    format!("could not read the key-encryption key file {KEK_FILE}: {e}"),
                    FILE_HINT,
                )
            })?
        }
        Err(e) => {
            return Err(file_error(
                format!("could not read the key-encryption key file {KEK_FILE}: {e}"),
                FILE_HINT,
            ))
        }
    };
    let stamp = Stamp::of(&meta);
    if let Some(kek) = FILE.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(s, _)| *s == stamp)
            .map(|(_, k)| k.clone())
    }) {
        return Ok(Some(kek));
    }
    FILE.with(|c| *c.borrow_mut() = None);
    if !meta.is_file() {
        return Err(file_error(
            format!("the key-encryption key file {KEK_FILE} in the data directory is not a regular file"),
            FILE_HINT,
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(file_error(
            format!(
                "the key-encryption key file {KEK_FILE} in the data directory has mode {:04o}: group or others may access it",
                meta.mode() & 0o7777
            ),
            "chmod 0600 it (as the server's OS user), and treat the keys it protects as exposed",
        ));
    }
    let mut material = Vec::with_capacity(KEK_FILE_BYTES + 1);
    fs::File::open(&path)
        .and_then(|f| f.take(KEK_FILE_BYTES as u64 + 1).read_to_end(&mut material))
        .map_err(|e| {
            file_error(
                format!("could not read the key-encryption key file {KEK_FILE}: {e}"),
                FILE_HINT,
            )
        })?;
    let size_ok = meta.size() == KEK_FILE_BYTES as u64 && material.len() == KEK_FILE_BYTES;
    let derived = if size_ok {
        Kek::derive(&material).ok()
    } else {
        None
    };
    material.fill(0);
    std::hint::black_box(&material);
    let Some(kek) = derived else {
        return Err(file_error(
            format!(
                "the key-encryption key file {KEK_FILE} in the data directory is not a pg_auth_keys key file ({} bytes, expected {KEK_FILE_BYTES})",
                meta.size()
            ),
            FILE_HINT,
        ));
    };
    let kek = Rc::new(kek);
    FILE.with(|c| *c.borrow_mut() = Some((stamp, kek.clone())));
    Ok(Some(kek))
}

/// Make the key file: 32 random bytes in a temporary file created exclusively with mode 0600,
/// synced, then hard-linked to its name (which fails if another backend got there first: then
/// its file is the key), and the directory synced.
fn create_file(path: &std::path::Path) -> Result<(), AuthError> {
    // SAFETY: a plain read of the backend's recovery state.
    if unsafe { pg_sys::RecoveryInProgress() } {
        return Err(AuthError::NotReady {
            message: format!("this standby has no key-encryption key file ({KEK_FILE} in the data directory)"),
            hint: "copy pg_auth_keys.kek from the primary's data directory (mode 0600), or configure the same auth.root_key on both".into(),
        });
    }
    let failed = |what: &str, e: std::io::Error| {
        file_error(
            format!("could not create the key-encryption key file {KEK_FILE}: {what}: {e}"),
            "the data directory must be writable by the server's OS user",
        )
    };
    let dir = path
        .parent()
        .expect("the key file is in the data directory");
    // SAFETY: MyProcPid is set at backend start and never changes.
    let tmp = dir.join(format!("{KEK_FILE}.{}.tmp", unsafe { pg_sys::MyProcPid }));
    // A leftover of a backend with the same pid that died halfway.
    let _ = fs::remove_file(&tmp);
    let mut key = [0u8; KEK_FILE_BYTES];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| AuthError::Sealed(SealError::Random))?;
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(&key)?;
            f.sync_all()
        });
    key.fill(0);
    std::hint::black_box(&key);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(failed("writing a temporary file", e));
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| failed("syncing the data directory", e))?;
            pgrx::log!(
                "pg_auth_keys: created the key-encryption key file {KEK_FILE} in the data directory"
            );
            Ok(())
        }
        // Another backend created it first; its key is the key.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(failed("linking it into place", e)),
    }
}

/// The KEK new values are sealed under: `auth.root_key` when set, else the key file (made now
/// if there is none).
pub fn sealing() -> Result<Rc<Kek>, AuthError> {
    match root()? {
        Some(kek) => Ok(kek),
        None => Ok(file(true)?.expect("file(true) creates the key file")),
    }
}

pub fn seal(purpose: Purpose, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, AuthError> {
    Ok(sealing()?.seal(purpose, context, plaintext)?)
}

/// Open `sealed` with whichever KEK sealed it: `auth.root_key`, `auth.previous_root_key`, or
/// the key file (read only when neither setting is the one).
pub fn open(purpose: Purpose, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
    let needed = pg_auth_keys_core::sealed_by(sealed)?;
    for kek in [root()?, previous()?].into_iter().flatten() {
        if kek.sealed(sealed) {
            return Ok(kek.open(purpose, context, sealed)?);
        }
    }
    match file(false)? {
        Some(kek) if kek.sealed(sealed) => Ok(kek.open(purpose, context, sealed)?),
        _ => Err(AuthError::Sealed(SealError::KekUnavailable(needed))),
    }
}

/// Make sure a KEK exists to seal under: with no `auth.root_key`, create the key file now (at
/// CREATE EXTENSION, so that a standby copied from this server afterwards has it).
pub fn ensure() -> Result<(), AuthError> {
    // SAFETY: a plain read of the backend's recovery state.
    if unsafe { pg_sys::RecoveryInProgress() } {
        return Ok(());
    }
    sealing().map(|_| ())
}
