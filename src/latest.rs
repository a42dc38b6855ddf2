//! Reading the extension's tables as the revocation guarantee needs them: with the *latest*
//! snapshot, as the tables' owner, without writing anything.
//!
//! - Latest snapshot: a REPEATABLE READ transaction's snapshot may predate a revocation; reading
//!   with it would bring a revoked key back. Invalidations say *when* to read (keyset.rs); this
//!   says *what* is read includes every commit whose invalidation was received (a commit is
//!   visible before its invalidation is sent).
//! - As the owner: verification runs as whoever calls it (RLS policies), who holds no privilege
//!   on `auth_private._keys` or `auth_private._api_keys`. The user id is switched with
//!   `SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION` and `search_path` is pinned
//!   to `pg_catalog, pg_temp` for the duration of the query only, as for a SECURITY DEFINER
//!   function; the queries also name every type and operator with its schema.
//! - Read-only: on a hot standby nothing may assign a transaction id, so the query is planned
//!   and run with the raw SPI calls rather than pgrx's helpers.

use pgrx::prelude::*;
use pgrx::{pg_sys, FromDatum};

use crate::catalog::{self, Part};
use crate::commits;
use crate::errors::AuthError;

/// One row of a result, read inside the SPI connection.
pub struct Row {
    tuple: pg_sys::HeapTuple,
    desc: pg_sys::TupleDesc,
}

impl Row {
    /// Column `col` (1-based); None when NULL or of another type.
    pub fn get<T: FromDatum>(&self, col: i32) -> Option<T> {
        // SAFETY: the tuple and descriptor of a row of the current SPI result table.
        unsafe {
            let mut isnull = false;
            let datum = pg_sys::SPI_getbinval(self.tuple, self.desc, col, &mut isnull);
            T::from_datum(datum, isnull)
        }
    }
}

/// Restores the user id and security context saved when it was made. On an ERROR (a panic
/// unwinding through it) it does nothing: transaction abort restores both, and PostgreSQL must
/// not be called while an error is being propagated.
struct UserIdRestore {
    user: pg_sys::Oid,
    context: i32,
}

impl UserIdRestore {
    /// Become `owner` for a restricted operation, as a SECURITY DEFINER function would.
    fn become_owner(owner: pg_sys::Oid) -> UserIdRestore {
        let mut user = pg_sys::InvalidOid;
        let mut context = 0;
        // SAFETY: reads and sets backend-local globals; both values are valid.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
            pg_sys::SetUserIdAndSecContext(
                owner,
                context
                    | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                    | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
            );
        }
        UserIdRestore { user, context }
    }
}

impl Drop for UserIdRestore {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            // SAFETY: the values saved by become_owner.
            unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) };
        }
    }
}

/// A GUC nest level with `search_path` pinned, popped when dropped (on success; an ERROR pops
/// it through transaction abort).
struct PinnedSearchPath {
    level: i32,
}

impl PinnedSearchPath {
    fn new() -> PinnedSearchPath {
        // SAFETY: a new GUC nest level and a SAVE-action setting that is undone when the level is
        // popped, as for a function with a SET clause.
        unsafe {
            let level = pg_sys::NewGUCNestLevel();
            pg_sys::set_config_option(
                c"search_path".as_ptr(),
                c"pg_catalog, pg_temp".as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
            PinnedSearchPath { level }
        }
    }
}

impl Drop for PinnedSearchPath {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            // SAFETY: pops exactly the level this guard pushed.
            unsafe { pg_sys::AtEOXact_GUC(true, self.level) };
        }
    }
}

/// Run `query` (no parameters; `{schema}` stands for the extension's tables' schema, see
/// `catalog.rs`) with the latest snapshot as the owner of the extension's tables, mapping each
/// row with `map` (rows it maps to None are skipped).
pub fn read<T>(query: &str, map: impl FnMut(&Row) -> Option<T>) -> Result<Vec<T>, AuthError> {
    read_proving(query, map, None)
}

/// [`read`] of the tables of `part`, whose commits shared memory records (commits.rs): a
/// parallel operation of a REPEATABLE READ (or SERIALIZABLE) transaction, which cannot take a
/// newer snapshot, reads with its own when that record proves it the newest.
pub fn read_part<T>(
    query: &str,
    map: impl FnMut(&Row) -> Option<T>,
    part: Part,
) -> Result<Vec<T>, AuthError> {
    read_proving(query, map, Some(part))
}

fn read_proving<T>(
    query: &str,
    mut map: impl FnMut(&Row) -> Option<T>,
    proof: Option<Part>,
) -> Result<Vec<T>, AuthError> {
    let relations = catalog::relations()?;
    let relid = relations.keys;
    let query = relations.query(query);
    // SAFETY: backend-local globals.
    let parallel = unsafe { pg_sys::IsInParallelMode() };
    // SAFETY: as above.
    if parallel && unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32 {
        // SAFETY: in a parallel operation the active snapshot is the statement's (a valid MVCC
        // snapshot the leader passed on), which is what the query below reads with.
        let newest = proof.is_some_and(|p| unsafe {
            commits::snapshot_is_newest(p, pg_sys::GetActiveSnapshot())
        });
        if !newest {
            return Err(AuthError::NotReady {
                message: if let Some(part) = proof {
                    let what = match part {
                        Part::Issuers => "third-party issuers",
                        _ => "token revocations",
                    };
                    format!("a parallel worker of a REPEATABLE READ transaction cannot prove that it sees the newest {what}")
                } else {
                    "the key set changed and cannot be reloaded by a parallel worker in a REPEATABLE READ transaction".into()
                },
                hint: "retry the statement, or set max_parallel_workers_per_gather = 0".into(),
            });
        }
    }
    let owner = rel_owner(relid)?;
    // As SECURITY DEFINER functions do: the caller's search_path must not choose what the query
    // means (a pg_temp domain named `text` would run the caller's code as the owner).
    let _search_path = PinnedSearchPath::new();
    let _user = UserIdRestore::become_owner(owner);
    Spi::connect(|_client| -> Result<Vec<T>, AuthError> {
        // SAFETY: raw SPI inside an open SPI connection (Spi::connect): prepare, execute with an
        // explicit snapshot, read the result table before the connection closes.
        unsafe {
            let plan = pg_sys::SPI_prepare(query.as_ptr(), 0, std::ptr::null_mut());
            if plan.is_null() {
                return Err(AuthError::Internal(
                    "could not plan a query of the extension's tables".into(),
                ));
            }
            // A parallel worker cannot take a new snapshot; it uses the statement's, which in
            // READ COMMITTED already includes every change committed before the statement began
            // (in REPEATABLE READ, only when proved above).
            let snapshot = if parallel {
                pg_sys::GetActiveSnapshot()
            } else {
                pg_sys::GetLatestSnapshot()
            };
            let rc = pg_sys::SPI_execute_snapshot(
                plan,
                std::ptr::null_mut(),
                std::ptr::null(),
                snapshot,
                std::ptr::null_mut(),
                true,
                false,
                0,
            );
            if rc != pg_sys::SPI_OK_SELECT as i32 {
                return Err(AuthError::Internal(format!(
                    "reading the extension's tables failed ({rc})"
                )));
            }
            let table = pg_sys::SPI_tuptable;
            let n = pg_sys::SPI_processed as usize;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let row = Row {
                    tuple: *(*table).vals.add(i),
                    desc: (*table).tupdesc,
                };
                if let Some(v) = map(&row) {
                    out.push(v);
                }
            }
            Ok(out)
        }
    })
}

/// The owner of a relation, from the syscache (no SPI: on a hot standby nothing may write, and
/// pgrx's SPI helpers assign a transaction id).
fn rel_owner(relid: pg_sys::Oid) -> Result<pg_sys::Oid, AuthError> {
    // SAFETY: a syscache lookup, released before returning; the struct is read while pinned.
    unsafe {
        let tuple = pg_sys::SearchSysCache1(
            pg_sys::SysCacheIdentifier::RELOID as i32,
            pg_sys::Datum::from(relid),
        );
        if tuple.is_null() {
            return Err(AuthError::Internal(
                "auth_private._keys is missing from pg_class".into(),
            ));
        }
        let owner = (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(tuple)).relowner;
        pg_sys::ReleaseSysCache(tuple);
        Ok(owner)
    }
}
