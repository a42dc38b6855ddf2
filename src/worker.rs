//! The background workers that keep third-party issuers' keys fresh.
//!
//! - **The launcher** (one per cluster, registered at preload, started once recovery is over: a
//!   standby never fetches, it reads what its primary fetched) connects to no database: it
//!   reads the shared catalog `pg_database` every 10 seconds, and keeps one dynamic worker
//!   running for each database that accepts connections and may have issuers. A database whose
//!   worker found no issuers is marked idle in shared memory and gets no worker until
//!   `auth.add_issuer` runs in it (issuer_shared::mark_database_wanted), which the launcher
//!   sees within a second.
//!   Databases created later are not probed (a connection would block `CREATE DATABASE …
//!   TEMPLATE` of them): they get a worker once issuers are written or read there.
//! - **A database's worker** refreshes each issuer when its `next_refresh_at` (Cache-Control
//!   max-age clamped to [auth.issuer_min_refresh, auth.issuer_max_refresh]) has passed, and at
//!   once when a session asked for a refetch (an unknown kid, issuers.rs). It checks its shared
//!   memory every second and reads the table at least every 30 seconds. Each refresh runs in its
//!   own transaction through `auth_private._refresh_issuer_in_background`, which records a
//!   failure (last_error, key_events) instead of raising. It exits when the database has no
//!   issuers (or no extension).

use std::time::{Duration, Instant};

use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BackgroundWorkerStatus, BgWorkerStartTime,
    DynamicBackgroundWorker, SignalWakeFlags,
};
use pgrx::prelude::*;

use crate::issuer_shared;

const LIBRARY: &str = "pg_auth_keys";
/// How often the launcher lists databases, and waits before restarting a stopped worker.
const LAUNCHER_LIST_EVERY: Duration = Duration::from_secs(10);
/// A worker reads its issuers at least this often (new issuers, changed schedules).
const WORKER_READ_EVERY: Duration = Duration::from_secs(30);

/// Called from `_PG_init` while the library is preloaded.
pub fn register() {
    BackgroundWorkerBuilder::new("pg_auth_keys issuer launcher")
        .set_type("pg_auth_keys issuer launcher")
        .set_library(LIBRARY)
        .set_function("pg_auth_keys_issuer_launcher")
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(Duration::from_secs(10)))
        .load();
}

fn reload_config_if_asked() {
    if BackgroundWorker::sighup_received() {
        // SAFETY: re-reads the configuration files in this process, as any backend does on SIGHUP.
        unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
    }
}

struct Running {
    dboid: u32,
    handle: Option<DynamicBackgroundWorker>,
    started_at: Instant,
    /// The last worker stopped with the database not idle (an error).
    failed: bool,
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pg_auth_keys_issuer_launcher(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // No database: the launcher reads only the shared catalog pg_database, so it holds no
    // database open (DROP DATABASE of any of them, `postgres` included, is never blocked by it)
    // and needs none to exist.
    BackgroundWorker::connect_worker_to_spi(None, None);
    let mut running: Vec<Running> = Vec::new();
    let mut databases: Vec<u32> = Vec::new();
    let mut listed_at: Option<Instant> = None;
    let mut first_listing = true;
    while BackgroundWorker::wait_latch(Some(Duration::from_secs(1))) {
        reload_config_if_asked();
        if listed_at.is_none_or(|t| t.elapsed() >= LAUNCHER_LIST_EVERY) {
            databases = connectable_databases();
            listed_at = Some(Instant::now());
            // Databases present at startup are probed once; later ones only once issuers are
            // written in them (issuers.rs marks them wanted).
            if !first_listing {
                for &db in &databases {
                    if !running.iter().any(|r| r.dboid == db) {
                        issuer_shared::note_new_database(db);
                    }
                }
            }
            first_listing = false;
        }
        for &db in &databases {
            let r = match running.iter_mut().position(|r| r.dboid == db) {
                Some(i) => &mut running[i],
                None => {
                    running.push(Running {
                        dboid: db,
                        handle: None,
                        started_at: Instant::now(),
                        failed: false,
                    });
                    running.last_mut().expect("just pushed")
                }
            };
            let alive = r.handle.as_ref().is_some_and(|h| {
                matches!(h.pid(), Ok(_) | Err(BackgroundWorkerStatus::NotYetStarted))
            });
            if alive {
                continue;
            }
            let idle = issuer_shared::database_idle(db);
            if r.handle.take().is_some() {
                issuer_shared::set_worker_pid(db, 0);
                // A worker that stopped without finding its database idle failed: wait before
                // starting another. One that found no issuers is started again at once when
                // auth.add_issuer asks.
                r.failed = !idle;
            }
            if idle || (r.failed && r.started_at.elapsed() < LAUNCHER_LIST_EVERY) {
                continue;
            }
            r.started_at = Instant::now();
            // SAFETY: a process global.
            let me = unsafe { pg_sys::MyProcPid };
            r.handle = BackgroundWorkerBuilder::new("pg_auth_keys issuer worker")
                .set_type("pg_auth_keys issuer worker")
                .set_library(LIBRARY)
                .set_function("pg_auth_keys_issuer_worker")
                .enable_spi_access()
                .set_start_time(BgWorkerStartTime::RecoveryFinished)
                .set_restart_time(None)
                .set_argument(Some(pg_sys::Datum::from(db)))
                .set_notify_pid(me)
                .load_dynamic()
                .ok();
        }
    }
}

/// The databases a worker may connect to, read from the shared catalog `pg_database` (SQL
/// cannot run in a process connected to no database: it would need `pg_class`).
fn connectable_databases() -> Vec<u32> {
    BackgroundWorker::transaction(|| {
        let mut found = Vec::new();
        // SAFETY: inside a transaction (BackgroundWorker::transaction), as autovacuum's launcher
        // does: pg_database is a shared catalog, opened and scanned with the catalog snapshot and
        // closed before the transaction ends; each tuple is read as the FormData_pg_database
        // its fixed-width prefix is, while the scan holds it.
        unsafe {
            let _ = pg_sys::GetTransactionSnapshot();
            let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
            let rel = pg_sys::table_open(pg_sys::DatabaseRelationId, lock);
            let scan = pg_sys::table_beginscan_catalog(rel, 0, std::ptr::null_mut());
            loop {
                let tuple = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
                if tuple.is_null() {
                    break;
                }
                let db = &*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_database>(tuple);
                // datconnlimit -2: a database whose DROP was interrupted; it accepts no connection.
                if db.datallowconn
                    && !db.datistemplate
                    && db.datconnlimit != pg_sys::DATCONNLIMIT_INVALID_DB
                {
                    found.push(db.oid.to_u32());
                }
            }
            pg_sys::table_endscan(scan);
            pg_sys::table_close(rel, lock);
        }
        found
    })
}

/// SQL text literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The issuers of this database: (issuer, due now, seconds until due). None: no extension.
///
/// The worker runs as the bootstrap superuser, so it trusts `auth_private` only when its
/// `_issuers` is a member of the extension `pg_auth_keys` (a look-alike schema made by someone
/// else, in a database without the extension, is never used), as catalog.rs does.
fn list_issuers() -> Option<Vec<(String, bool, f64)>> {
    BackgroundWorker::transaction(|| {
        Spi::connect(|c| {
            let installed = c
                .select(
                    "SELECT EXISTS (
                        SELECT 1 FROM pg_catalog.pg_depend d
                          JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
                         WHERE e.extname OPERATOR(pg_catalog.=) 'pg_auth_keys'
                           AND d.deptype OPERATOR(pg_catalog.=) 'e'
                           AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                           AND d.objid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('auth_private._issuers'))",
                    None,
                    &[],
                )
                .ok()?
                .first()
                .get_one::<bool>()
                .ok()
                .flatten()
                .unwrap_or(false);
            if !installed {
                return None;
            }
            let rows = c
                .select(
                    "SELECT issuer,
                            next_refresh_at IS NULL OR next_refresh_at <= pg_catalog.now(),
                            coalesce(pg_catalog.date_part('epoch', next_refresh_at - pg_catalog.now()), 0)
                       FROM auth_private._issuers",
                    None,
                    &[],
                )
                .ok()?;
            Some(
                rows.filter_map(|r| {
                    Some((
                        r.get::<String>(1).ok()??,
                        r.get::<bool>(2).ok()??,
                        r.get::<f64>(3).ok()??,
                    ))
                })
                .collect(),
            )
        })
    })
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pg_auth_keys_issuer_worker(arg: pg_sys::Datum) {
    let dboid = arg.value() as u32;
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(dboid)), None);
    // Every name the worker's SQL uses is qualified; no schema of the database's users is on
    // the path either.
    BackgroundWorker::transaction(|| {
        if let Err(e) = Spi::run("SET search_path = pg_catalog, pg_temp") {
            pgrx::log!("pg_auth_keys: issuer worker: {e}");
        }
    });
    // SAFETY: a process global.
    issuer_shared::set_worker_pid(dboid, unsafe { pg_sys::MyProcPid });
    let mut read_at = Instant::now();
    let mut first = true;
    while first || BackgroundWorker::wait_latch(Some(Duration::from_secs(1))) {
        first = false;
        reload_config_if_asked();
        if !issuer_shared::any_request() && Instant::now() < read_at {
            continue;
        }
        let issuers = match list_issuers() {
            Some(list) if !list.is_empty() => list,
            _ => {
                issuer_shared::set_database_idle(dboid);
                break;
            }
        };
        let mut wait = WORKER_READ_EVERY;
        for (issuer, due, secs) in issuers {
            let requested = issuer_shared::request_pending(&issuer);
            if due || requested {
                let origin = if requested { "unknown_kid" } else { "schedule" };
                let sql = format!(
                    "SELECT auth_private._refresh_issuer_in_background({}, {})",
                    literal(&issuer),
                    literal(origin)
                );
                BackgroundWorker::transaction(|| {
                    if let Err(e) = Spi::run(&sql) {
                        pgrx::log!("pg_auth_keys: refreshing an issuer failed: {e}");
                    }
                });
                // Cleared after the refresh committed: a session waiting for it then reads it.
                if requested {
                    issuer_shared::take_request(&issuer);
                }
                // Read the table again soon for the new next_refresh_at.
                wait = wait.min(Duration::from_secs(1));
            } else if secs > 0.0 {
                wait = wait.min(Duration::from_secs_f64(secs.min(30.0)));
            }
        }
        read_at = Instant::now() + wait;
    }
    issuer_shared::set_worker_pid(dboid, 0);
}
