//! A planner support function (`SupportRequestSimplify`) for `auth.uid()`, `auth.claims()`,
//! `auth.jwt()`, `auth.role()` and `auth.email()`: in a query that reads a table, each call is
//! replaced by the scalar sub-select `(SELECT auth.uid())`, which the planner turns into an
//! InitPlan evaluated once per execution.
//!
//! Why: a policy written the natural way, `USING (owner = auth.uid())`, would otherwise call the
//! function once per row; other stacks tell users to write `(select auth.uid())` instead. The
//! functions are STABLE — one answer per statement — so evaluating them once per execution is
//! exactly their declared meaning, and the scan then costs what a scan filtered by a literal
//! costs. The revocation guarantee is per statement, so nothing is lost.
//!
//! When it does *not* rewrite, and why:
//! - outside the planner (`root` is NULL: column defaults evaluated by COPY, CHECK constraints at
//!   execution), where a sub-select cannot run;
//! - when the query reads no table (its range table holds nothing but the `RTE_RESULT` the planner
//!   adds for an empty FROM): a single call costs nothing, PL/pgSQL's "simple expressions" are such
//!   queries and must keep having no InitPlan (PL/pgSQL evaluates them without one), and the
//!   sub-select we create is itself such a query, so the rewrite never recurses.

use pgrx::prelude::*;
use pgrx::{pg_sys, PgBox, PgList};

/// Does the query read anything but the planner's placeholder for an empty FROM?
unsafe fn reads_a_relation(query: *mut pg_sys::Query) -> bool {
    if query.is_null() {
        return false;
    }
    // SAFETY: the caller passes the Query the planner is working on; its range table is a List
    // of RangeTblEntry pointers that live as long as the query.
    let rtable = unsafe { PgList::<pg_sys::RangeTblEntry>::from_pg((*query).rtable) };
    let reads = rtable
        .iter_ptr()
        // SAFETY: each entry of a valid range table is a valid RangeTblEntry.
        .any(|rte| unsafe { (*rte).rtekind != pg_sys::RTEKind::RTE_RESULT });
    reads
}

/// `(SELECT <call>)` for a call without arguments.
unsafe fn scalar_subselect(call: *mut pg_sys::FuncExpr) -> *mut pg_sys::Node {
    // SAFETY: `call` is the FuncExpr the planner asked to simplify; every node made here is
    // palloc'd in the planner's memory context, as the planner's own nodes are.
    unsafe {
        let copy = pg_sys::copyObjectImpl(call.cast()).cast::<pg_sys::Expr>();
        let target = pg_sys::makeTargetEntry(copy, 1, std::ptr::null_mut(), false);
        let mut query = PgBox::<pg_sys::Query>::alloc_node(pg_sys::NodeTag::T_Query);
        query.commandType = pg_sys::CmdType::CMD_SELECT;
        query.querySource = pg_sys::QuerySource::QSRC_ORIGINAL;
        query.canSetTag = true;
        query.jointree = pg_sys::makeFromExpr(std::ptr::null_mut(), std::ptr::null_mut());
        query.targetList = pg_sys::lappend(std::ptr::null_mut(), target.cast());
        query.stmt_location = -1;
        let mut sublink = PgBox::<pg_sys::SubLink>::alloc_node(pg_sys::NodeTag::T_SubLink);
        sublink.subLinkType = pg_sys::SubLinkType::EXPR_SUBLINK;
        sublink.subselect = query.into_pg().cast();
        sublink.location = (*call).location;
        sublink.into_pg().cast()
    }
}

mod auth {
    use super::*;

    /// Internal: the planner support function of the claims functions (see module doc).
    #[pg_extern(immutable, parallel_safe, schema = "auth_private")]
    fn _claims_support(request: pgrx::Internal) -> pgrx::Internal {
        // "No simplification" is a NULL pointer, not an SQL NULL (which PostgreSQL refuses).
        let none = pgrx::Internal::from(Some(pg_sys::Datum::from(0usize)));
        // SAFETY: PostgreSQL calls a support function with a pointer to a support request node;
        // its tag is checked before it is read as a SupportRequestSimplify.
        unsafe {
            let Some(node) = request.unwrap().map(|d| d.cast_mut_ptr::<pg_sys::Node>()) else {
                return none;
            };
            if !pgrx::is_a(node, pg_sys::NodeTag::T_SupportRequestSimplify) {
                return none;
            }
            let req = node.cast::<pg_sys::SupportRequestSimplify>();
            let (root, call) = ((*req).root, (*req).fcall);
            if root.is_null() || call.is_null() || !(*call).args.is_null() {
                return none;
            }
            if !reads_a_relation((*root).parse) {
                return none;
            }
            // preprocess_expression turns SubLinks into SubPlans only when the query says it
            // has some; it had none before this call was simplified.
            (*(*root).parse).hasSubLinks = true;
            pgrx::Internal::from(Some(pg_sys::Datum::from(scalar_subselect(call))))
        }
    }
}
