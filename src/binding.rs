//! The token `auth.authenticate` binds, kept as the setting `auth.bound_token`.
//!
//! A binding must follow PostgreSQL's rules for session state, and its settings machinery already
//! implements all of them: `is_local => true` is `SET LOCAL` (ends with the transaction, undone
//! by `ROLLBACK TO SAVEPOINT`), `is_local => false` is `SET` (undone by `DISCARD ALL` and `RESET
//! ALL`, rolled back with its transaction), and settings are copied to parallel workers, so a
//! policy gets the same answer in a serial and in a parallel plan. A change of session
//! authorization is the one reset PostgreSQL does not apply to settings: `after_utility`, called
//! from the utility hook of statement.rs, resets the binding after `SET/RESET SESSION
//! AUTHORIZATION`.
//!
//! The setting holds the *token*, never claims: it is verified on every use, exactly like the
//! bearer token of `request.headers`. Writing it with `SET` is therefore no more than calling
//! `auth.authenticate`, and cannot forge anything. It can only be set in a session (`SET`,
//! `set_config`, a function's `SET` clause): `ALTER ROLE/DATABASE … SET`, the configuration file
//! and connection options are refused, so that no token is stored in the catalogs.

use std::ffi::{c_char, c_void, CStr, CString};

use pgrx::pg_sys;

use crate::errors::AuthError;

const NAME: &CStr = c"auth.bound_token";

/// The setting's value, owned by PostgreSQL's GUC machinery.
static mut BOUND_TOKEN: *mut c_char = std::ptr::null_mut();

/// Only a session may bind a token (see the module doc).
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_bound_token(
    newval: *mut *mut c_char,
    _extra: *mut *mut c_void,
    source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: PostgreSQL passes a valid pointer to the proposed value (possibly NULL).
    let empty = unsafe { (*newval).is_null() || **newval == 0 };
    if empty
        || source == pg_sys::GucSource::PGC_S_SESSION
        || source <= pg_sys::GucSource::PGC_S_DYNAMIC_DEFAULT
    {
        return true;
    }
    // SAFETY: GUC_check_errdetail_string is reported by the GUC machinery after a false return;
    // it must be palloc'd.
    unsafe {
        pg_sys::GUC_check_errdetail_string = pg_sys::pstrdup(
            c"auth.bound_token can only be set in a session, by auth.authenticate(token)".as_ptr(),
        );
    }
    false
}

/// Define the setting; called once from `_PG_init`.
pub fn register() {
    // SAFETY: defines a custom string setting whose storage is a static that lives for the whole
    // process; the check hook is a plain function.
    unsafe {
        pg_sys::DefineCustomStringVariable(
            NAME.as_ptr(),
            c"The token bound by auth.authenticate; verified on every use.".as_ptr(),
            c"Set it with auth.authenticate(token, is_local).".as_ptr(),
            &raw mut BOUND_TOKEN,
            c"".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            (pg_sys::GUC_NO_SHOW_ALL | pg_sys::GUC_NOT_IN_SAMPLE) as i32,
            Some(check_bound_token),
            None,
            None,
        );
    }
}

/// Call `f` with the bound token, if one is bound (an empty setting binds nothing).
pub fn with_bound_token<R>(f: impl FnOnce(Option<&[u8]>) -> R) -> R {
    // SAFETY: the GUC machinery keeps the string alive until the setting changes, which cannot
    // happen while `f` runs (it does not set settings).
    let value = unsafe {
        let p = BOUND_TOKEN;
        if p.is_null() {
            None
        } else {
            Some(CStr::from_ptr(p).to_bytes()).filter(|v| !v.is_empty())
        }
    };
    f(value)
}

/// Bind `token` for the transaction (`is_local`) or the session.
pub fn bind(token: &str, is_local: bool) -> Result<(), AuthError> {
    let value = CString::new(token)
        .map_err(|_| AuthError::BadArgument("a token cannot contain a NUL byte".into()))?;
    set(Some(&value), is_local);
    Ok(())
}

/// Set (or, with None, reset) the setting as `SET [LOCAL]` would.
fn set(value: Option<&CStr>, is_local: bool) {
    let action = if is_local {
        pg_sys::GucAction::GUC_ACTION_LOCAL
    } else {
        pg_sys::GucAction::GUC_ACTION_SET
    };
    // SAFETY: sets our own USERSET setting from a session; a NULL value resets it.
    unsafe {
        pg_sys::set_config_option(
            NAME.as_ptr(),
            value.map_or(std::ptr::null(), CStr::as_ptr),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            action,
            true,
            0,
            false,
        );
    }
}

/// `SET/RESET SESSION AUTHORIZATION`, if `pstmt` is one: whether it was `SET LOCAL`.
///
/// # Safety
/// `pstmt` must be a valid planned utility statement.
unsafe fn session_authorization_change(pstmt: *mut pg_sys::PlannedStmt) -> Option<bool> {
    // SAFETY: the caller passes a valid PlannedStmt; the node tag is checked before the cast.
    unsafe {
        let stmt = (*pstmt).utilityStmt;
        if stmt.is_null() || (*stmt).type_ != pg_sys::NodeTag::T_VariableSetStmt {
            return None;
        }
        let set = stmt.cast::<pg_sys::VariableSetStmt>();
        if (*set).name.is_null() || CStr::from_ptr((*set).name) != c"session_authorization" {
            return None;
        }
        Some((*set).is_local)
    }
}

/// Reset the binding after a change of session authorization.
#[pgrx::pg_guard]
extern "C-unwind" fn forget_binding(is_local: bool) {
    set(None, is_local);
}

/// The utility callback of statement.rs's hook: after `SET/RESET SESSION AUTHORIZATION`, the
/// previous session user's binding must not carry over. The reset runs in a guarded function;
/// an ERROR in the statement skips it (and rolls the statement back anyway).
///
/// # Safety
/// `pstmt` must be a valid planned utility statement.
pub unsafe fn after_utility(pstmt: *mut pg_sys::PlannedStmt) -> Option<Box<dyn FnOnce()>> {
    // SAFETY: the caller passes the valid statement PostgreSQL gave the hook.
    let is_local = unsafe { session_authorization_change(pstmt) }?;
    Some(Box::new(move || forget_binding(is_local)))
}
