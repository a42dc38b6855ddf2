//! Reading the extension's tables as the revocation guarantee needs them: with the *latest*
//! snapshot, as the tables' owner, without writing anything.
//!
//! - Latest snapshot: a REPEATABLE READ transaction's snapshot may predate a revocation; reading
//!   with it would bring a revoked key back. The shared generation counter says *when* to read;
//!   this says *what* is read is at least as new as that generation (the counter is read first,
//!   and a commit is visible before its callback bumps the counter).
//! - As the owner: verification runs as whoever calls it (RLS policies), who holds no privilege
//!   on `auth._keys` or `auth._api_keys`. The user id is switched with
//!   `SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION` and `search_path` is pinned
//!   to `pg_catalog, pg_temp` for the duration of the query only, as for a SECURITY DEFINER
//!   function; the queries also name every type and operator with its schema.
//! - Read-only: on a hot standby nothing may assign a transaction id, so the query is planned
//!   and run with the raw SPI calls rather than pgrx's helpers.

use std::ffi::CStr;

use pgrx::prelude::*;
use pgrx::{pg_sys, FromDatum};

use crate::errors::AuthError;
use crate::keyset;

/// One row of a result, read inside the SPI connection.
pub struct Row {
    tuple: pg_sys::HeapTuple,
    desc: pg_sys::TupleDesc,
}

impl Row {
    /// Column `col` (1-based); None when NULL or of another type.
    pub fn get<T: FromDatum>(&self, col: i32) -> Option<T> {
        unsafe {
            let mut isnull = false;
            let datum = pg_sys::SPI_getbinval(self.tuple, self.desc, col, &mut isnull);
            T::from_datum(datum, isnull)
        }
    }
}

/// Run `query` (no parameters) with the latest snapshot as the owner of `auth._keys`, mapping
/// each row with `map` (rows it maps to None are skipped).
pub fn read<T>(query: &CStr, mut map: impl FnMut(&Row) -> Option<T>) -> Result<Vec<T>, AuthError> {
    let relid = keyset::keys_relid()?;
    unsafe {
        let parallel = pg_sys::IsInParallelMode();
        if parallel && pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 {
            return Err(AuthError::NotReady {
                message: "the key set changed and cannot be reloaded by a parallel worker in a REPEATABLE READ transaction".into(),
                hint: "retry the statement, or set max_parallel_workers_per_gather = 0".into(),
            });
        }
        let owner = rel_owner(relid)?;
        let mut saved_user = pg_sys::InvalidOid;
        let mut saved_ctx = 0;
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_ctx);
        // As SECURITY DEFINER functions do: the caller's search_path must not choose what the
        // query means (a pg_temp domain named `text` would run the caller's code as the owner).
        // The GUC nest level is undone below, or by transaction abort on an ERROR.
        let guc_level = pg_sys::NewGUCNestLevel();
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
        pg_sys::SetUserIdAndSecContext(
            owner,
            saved_ctx
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
        // An ERROR inside restores the user id through transaction abort; on success we restore it.
        let rows = Spi::connect(|_client| -> Result<Vec<T>, AuthError> {
            let plan = pg_sys::SPI_prepare(query.as_ptr(), 0, std::ptr::null_mut());
            if plan.is_null() {
                return Err(AuthError::Internal(
                    "could not plan a query of the extension's tables".into(),
                ));
            }
            // A parallel worker cannot take a new snapshot; it uses the statement's, which in
            // READ COMMITTED already includes every change committed before the statement began.
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
        });
        pg_sys::SetUserIdAndSecContext(saved_user, saved_ctx);
        pg_sys::AtEOXact_GUC(true, guc_level);
        rows
    }
}

/// The owner of a relation, from the syscache (no SPI: on a hot standby nothing may write, and
/// pgrx's SPI helpers assign a transaction id).
fn rel_owner(relid: pg_sys::Oid) -> Result<pg_sys::Oid, AuthError> {
    unsafe {
        let tuple = pg_sys::SearchSysCache1(
            pg_sys::SysCacheIdentifier::RELOID as i32,
            pg_sys::Datum::from(relid),
        );
        if tuple.is_null() {
            return Err(AuthError::Internal(
                "auth._keys is missing from pg_class".into(),
            ));
        }
        let owner = (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(tuple)).relowner;
        pg_sys::ReleaseSysCache(tuple);
        Ok(owner)
    }
}
