//! Which top-level statement is running, so the key set can be fixed for one statement.
//!
//! The verification and claims functions are STABLE: PostgreSQL may evaluate them once or once
//! per row, and a statement must get one answer either way. So each backend takes its view of the
//! key set at the first verification of a statement and keeps it until the statement ends; a
//! revocation that commits meanwhile is seen by the next statement (the guarantee the README
//! states), never half-way through a scan.
//!
//! A statement is a top-level executor start or utility command (`DO`, `CALL`, `FETCH`, …),
//! nesting counted as pg_stat_statements counts it: the depth rises around `ExecutorRun`,
//! `ExecutorFinish` and `ProcessUtility`, so the queries a PL/pgSQL function runs per row belong
//! to the statement that called it. The id also carries the statement start timestamp, which
//! PostgreSQL sets for every client message, so a statement that starts neither (a fast-path
//! function call) is never mistaken for the previous one, and the number of transactions this
//! backend ended: a procedure that COMMITs runs one top-level statement across several
//! transactions, and each transaction must see every change committed before it began.
//!
//! The hooks are plain frames with nothing to drop, calling the next hook or the standard
//! function directly (not through pgrx's guarded bindings, which would turn every ERROR passing
//! through into a Rust panic and report it again, losing fields such as the cursor position and
//! the constraint name). An ERROR therefore jumps over the depth decrement; the transaction and
//! subtransaction callbacks put the depth back to what it was when the (sub)transaction started.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

use pgrx::pg_sys;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static COUNTER: Cell<u64> = const { Cell::new(0) };
    /// Transactions ended in this backend (see the module doc).
    static XACTS: Cell<u64> = const { Cell::new(0) };
    /// (subtransaction id, depth when it started), innermost last.
    static SUBXACT_DEPTHS: RefCell<Vec<(pg_sys::SubTransactionId, u32)>> = const { RefCell::new(Vec::new()) };
}

static mut PREV_EXECUTOR_START: pg_sys::ExecutorStart_hook_type = None;
static mut PREV_EXECUTOR_RUN: pg_sys::ExecutorRun_hook_type = None;
static mut PREV_EXECUTOR_FINISH: pg_sys::ExecutorFinish_hook_type = None;
static mut PREV_PROCESS_UTILITY: pg_sys::ProcessUtility_hook_type = None;

// The standard implementations, unguarded (see the module doc).
unsafe extern "C-unwind" {
    #[link_name = "standard_ExecutorStart"]
    fn standard_executor_start(query_desc: *mut pg_sys::QueryDesc, eflags: c_int);
    #[cfg(not(feature = "pg18"))]
    #[link_name = "standard_ExecutorRun"]
    fn standard_executor_run(
        query_desc: *mut pg_sys::QueryDesc,
        direction: pg_sys::ScanDirection::Type,
        count: u64,
        execute_once: bool,
    );
    // PostgreSQL 18 removed ExecutorRun's `execute_once` argument: commit 3eea7a0c97e9
    // ("Simplify executor's determination of whether to use parallelism").
    #[cfg(feature = "pg18")]
    #[link_name = "standard_ExecutorRun"]
    fn standard_executor_run(
        query_desc: *mut pg_sys::QueryDesc,
        direction: pg_sys::ScanDirection::Type,
        count: u64,
    );
    #[link_name = "standard_ExecutorFinish"]
    fn standard_executor_finish(query_desc: *mut pg_sys::QueryDesc);
    #[link_name = "standard_ProcessUtility"]
    fn standard_process_utility(
        pstmt: *mut pg_sys::PlannedStmt,
        query_string: *const c_char,
        read_only_tree: bool,
        context: pg_sys::ProcessUtilityContext::Type,
        params: pg_sys::ParamListInfo,
        query_env: *mut pg_sys::QueryEnvironment,
        dest: *mut pg_sys::DestReceiver,
        qc: *mut pg_sys::QueryCompletion,
    );
}

/// Identifies the running top-level statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatementId {
    counter: u64,
    xacts: u64,
    started_at: i64,
}

pub fn current() -> StatementId {
    StatementId {
        counter: COUNTER.with(Cell::get),
        xacts: XACTS.with(Cell::get),
        // SAFETY: reads a backend-local timestamp.
        started_at: unsafe { pg_sys::GetCurrentStatementStartTimestamp() },
    }
}

fn begin_if_top_level() {
    if DEPTH.with(Cell::get) == 0 {
        COUNTER.with(|c| c.set(c.get().wrapping_add(1)));
    }
}

fn enter() {
    DEPTH.with(|d| d.set(d.get() + 1));
}

fn leave() {
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
}

unsafe extern "C-unwind" fn executor_start(query_desc: *mut pg_sys::QueryDesc, eflags: c_int) {
    begin_if_top_level();
    // SAFETY: PostgreSQL passes a valid QueryDesc whose plannedstmt is set; a process global.
    let parallel_plan = unsafe {
        (eflags as u32 & pg_sys::EXEC_FLAG_EXPLAIN_ONLY) == 0
            && pg_sys::ParallelWorkerNumber < 0
            && !(*query_desc).plannedstmt.is_null()
            && (*(*query_desc).plannedstmt).parallelModeNeeded
    };
    if parallel_plan {
        if let Some(callback) = PARALLEL_PLAN_CALLBACK.get() {
            callback();
        }
    }
    // SAFETY: PostgreSQL calls this hook with valid arguments, which go unchanged to the hook
    // installed before ours (set once in `install_hooks`, before any statement) or to the
    // standard function it replaces.
    unsafe {
        match PREV_EXECUTOR_START {
            Some(prev) => prev(query_desc, eflags),
            None => standard_executor_start(query_desc, eflags),
        }
    }
}

#[cfg(not(feature = "pg18"))]
unsafe extern "C-unwind" fn executor_run(
    query_desc: *mut pg_sys::QueryDesc,
    direction: pg_sys::ScanDirection::Type,
    count: u64,
    execute_once: bool,
) {
    enter();
    // SAFETY: PostgreSQL calls this hook with valid arguments, which go unchanged to the hook
    // installed before ours (set once in `install_hooks`, before any statement) or to the
    // standard function it replaces.
    unsafe {
        match PREV_EXECUTOR_RUN {
            Some(prev) => prev(query_desc, direction, count, execute_once),
            None => standard_executor_run(query_desc, direction, count, execute_once),
        }
    }
    leave();
}

// The same without `execute_once`, which PostgreSQL 18 removed (commit 3eea7a0c97e9).
#[cfg(feature = "pg18")]
unsafe extern "C-unwind" fn executor_run(
    query_desc: *mut pg_sys::QueryDesc,
    direction: pg_sys::ScanDirection::Type,
    count: u64,
) {
    enter();
    // SAFETY: PostgreSQL calls this hook with valid arguments, which go unchanged to the hook
    // installed before ours (set once in `install_hooks`, before any statement) or to the
    // standard function it replaces.
    unsafe {
        match PREV_EXECUTOR_RUN {
            Some(prev) => prev(query_desc, direction, count),
            None => standard_executor_run(query_desc, direction, count),
        }
    }
    leave();
}

unsafe extern "C-unwind" fn executor_finish(query_desc: *mut pg_sys::QueryDesc) {
    enter();
    // SAFETY: PostgreSQL calls this hook with valid arguments, which go unchanged to the hook
    // installed before ours (set once in `install_hooks`, before any statement) or to the
    // standard function it replaces.
    unsafe {
        match PREV_EXECUTOR_FINISH {
            Some(prev) => prev(query_desc),
            None => standard_executor_finish(query_desc),
        }
    }
    leave();
}

#[allow(clippy::too_many_arguments)] // the hook's signature
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: PostgreSQL passes a valid statement; the callback only reads it.
    let after = UTILITY_CALLBACK
        .get()
        .and_then(|callback| unsafe { callback(pstmt) });
    begin_if_top_level();
    enter();
    // SAFETY: PostgreSQL calls this hook with valid arguments, which go unchanged to the hook
    // installed before ours (set once in `install_hooks`, before any statement) or to the
    // standard function it replaces.
    unsafe {
        match PREV_PROCESS_UTILITY {
            Some(prev) => prev(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            ),
            None => standard_process_utility(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            ),
        }
    }
    leave();
    if let Some(after) = after {
        after();
    }
}

unsafe extern "C-unwind" fn xact_callback(event: pg_sys::XactEvent::Type, _arg: *mut c_void) {
    if event == pg_sys::XactEvent::XACT_EVENT_ABORT {
        // The ERROR that aborted it jumped out of every level (or a procedure rolled back, and
        // what runs next in it is a new statement's work).
        DEPTH.with(|d| d.set(0));
    }
    if matches!(
        event,
        pg_sys::XactEvent::XACT_EVENT_ABORT
            | pg_sys::XactEvent::XACT_EVENT_COMMIT
            | pg_sys::XactEvent::XACT_EVENT_PREPARE
            | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT
            | pg_sys::XactEvent::XACT_EVENT_PARALLEL_COMMIT
    ) {
        SUBXACT_DEPTHS.with(|s| s.borrow_mut().clear());
        XACTS.with(|x| x.set(x.get().wrapping_add(1)));
    }
}

unsafe extern "C-unwind" fn subxact_callback(
    event: pg_sys::SubXactEvent::Type,
    my_subid: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut c_void,
) {
    SUBXACT_DEPTHS.with(|s| {
        let mut s = s.borrow_mut();
        match event {
            pg_sys::SubXactEvent::SUBXACT_EVENT_START_SUB => {
                s.push((my_subid, DEPTH.with(Cell::get)));
            }
            pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB
            | pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB => {
                if let Some(i) = s.iter().rposition(|(id, _)| *id == my_subid) {
                    let (_, depth) = s[i];
                    s.truncate(i);
                    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
                        // A PL/pgSQL EXCEPTION block caught an ERROR that jumped over our frames.
                        DEPTH.with(|d| d.set(depth));
                    }
                }
            }
            _ => {}
        }
    });
}

/// What another module does about utility statements, through this module's one
/// `ProcessUtility` hook: called with each statement before it runs; what it returns runs after
/// the statement completed (an ERROR skips it).
///
/// # Safety
/// Called with the valid `PlannedStmt` PostgreSQL passed to the hook.
pub type UtilityCallback = unsafe fn(*mut pg_sys::PlannedStmt) -> Option<Box<dyn FnOnce()>>;

static UTILITY_CALLBACK: OnceLock<UtilityCallback> = OnceLock::new();

/// What another module does before a leader (never a parallel worker) starts a plan that may
/// run in parallel workers, while it can still read tables with a new snapshot.
pub type ParallelPlanCallback = extern "C-unwind" fn();

static PARALLEL_PLAN_CALLBACK: OnceLock<ParallelPlanCallback> = OnceLock::new();

/// Install the hooks; called once from `_PG_init`, chaining to any hook installed before.
/// `on_utility` is the utility callback (binding.rs: a change of session authorization);
/// `on_parallel_plan` runs before a parallel plan starts (keyset.rs: the workers' key set).
pub fn install_hooks(on_utility: UtilityCallback, on_parallel_plan: ParallelPlanCallback) {
    let _ = UTILITY_CALLBACK.set(on_utility);
    let _ = PARALLEL_PLAN_CALLBACK.set(on_parallel_plan);
    // SAFETY: called once from _PG_init, before any statement runs and in the backend's only
    // thread: the previous hooks are saved before ours replace them, and the callbacks are plain
    // functions that live for the whole process.
    unsafe {
        PREV_EXECUTOR_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
        PREV_EXECUTOR_RUN = pg_sys::ExecutorRun_hook;
        pg_sys::ExecutorRun_hook = Some(executor_run);
        PREV_EXECUTOR_FINISH = pg_sys::ExecutorFinish_hook;
        pg_sys::ExecutorFinish_hook = Some(executor_finish);
        PREV_PROCESS_UTILITY = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
        pg_sys::RegisterXactCallback(Some(xact_callback), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(subxact_callback), std::ptr::null_mut());
    }
}
