//! PostgREST's `db-pre-request` check (README "PostgREST"), as an adapter: the decision — headers,
//! the order of checks, the browser rule over every credential — is
//! `pg_auth_keys_core::pre_request` (core/src/request.rs); this module hands it
//! `request.headers`, `auth.elevated_roles` and the server-side checks of an API key and of a
//! bearer token. `auth.pre_request()`
//! (sql/api_keys.sql) raises SQLSTATE PT401 with the refusal, so PostgREST answers HTTP 401, or
//! makes the API key's role the transaction's role for a request whose only credential is the key.
//! `SET ROLE` checks membership of the session user (PostgREST's authenticator), so this module
//! refuses, with the missing GRANT as the hint, a role the session user cannot become.

use pg_auth_keys_core::{self as auth_core, Identity};
use pgrx::prelude::*;
use serde_json::{json, Value};

use crate::api_key_set::Kind;
use crate::api_keys;
use crate::claims::guc;
use crate::errors::{AuthError, OrRaise};
use crate::{settings, tokens};

/// The API-key set and the signing keys of this backend, for the current statement.
struct ServerCredentials;

impl auth_core::Credential for ServerCredentials {
    type Error = AuthError;

    fn api_key(&mut self, key: &str) -> Result<Result<Identity, String>, AuthError> {
        match api_keys::verify(key) {
            Ok(entry) => Ok(Ok(Identity {
                secret_key: entry.kind == Kind::Secret,
                roles: vec![entry.role.to_string()],
            })),
            Err(AuthError::ApiKey(why)) => Ok(Err(why.to_string())),
            Err(e) => Err(e),
        }
    }

    fn bearer(&mut self, token: &str) -> Result<Result<Identity, String>, AuthError> {
        let verified = match tokens::verify(token) {
            Ok(v) => v,
            Err(AuthError::Token(why)) => return Ok(Err(why.to_string())),
            Err(e) => return Err(e),
        };
        // The role PostgREST will switch to (auth.role_claim should equal its
        // jwt-role-claim-key), and, when the token is a legacy API key, that key's role.
        let mut roles: Vec<String> = verified
            .role_at(&settings::role_claim())
            .and_then(|role| role.as_str().map(str::to_owned))
            .into_iter()
            .collect();
        roles.extend(api_keys::legacy_key_role(token)?);
        Ok(Ok(Identity {
            secret_key: false,
            roles,
        }))
    }
}

/// Whether this request may proceed, and the role to switch to.
fn check_request() -> Result<auth_core::Decision, AuthError> {
    // Unset, or empty as a rolled-back transaction-local value leaves it: no headers.
    let headers = guc(c"request.headers").filter(|h| !h.is_empty());
    let (elevated, allowed) = (settings::elevated_roles(), settings::allowed_roles());
    let roles = auth_core::RequestRoles {
        elevated: &elevated,
        allowed: &allowed,
    };
    auth_core::pre_request(headers.as_deref(), &roles, &mut ServerCredentials)
}

/// Why the session user cannot become `role` (`SET ROLE` would refuse with 42501), if it cannot.
fn unreachable_role(role: &str) -> Option<Value> {
    let name = std::ffi::CString::new(role).ok()?;
    // SAFETY: `name` is a NUL-terminated string that outlives the calls; get_role_oid with
    // missing_ok returns InvalidOid instead of raising; the session user always exists.
    let (exists, member, session_user) = unsafe {
        let session = pg_sys::GetSessionUserId();
        let oid = pg_sys::get_role_oid(name.as_ptr(), true);
        let exists = oid != pg_sys::InvalidOid;
        let member = exists && pg_sys::is_member_of_role(session, oid);
        let user = std::ffi::CStr::from_ptr(pg_sys::GetUserNameFromId(session, false));
        (exists, member, user.to_string_lossy().into_owned())
    };
    if member {
        return None;
    }
    let detail = if exists {
        format!(
            "the session user \"{session_user}\" is not a member of the api key's role \"{role}\""
        )
    } else {
        format!("the api key's role \"{role}\" does not exist")
    };
    let grant = format!(
        "GRANT {} TO {}",
        pgrx::spi::quote_identifier(role),
        pgrx::spi::quote_identifier(&session_user)
    );
    let hint = if exists {
        grant
    } else {
        format!(
            "CREATE ROLE {} NOLOGIN; {grant}",
            pgrx::spi::quote_identifier(role)
        )
    };
    Some(json!({"message": "the api key's role cannot be reached", "detail": detail, "hint": hint}))
}

fn refusal_json(refusal: &auth_core::Refusal) -> Value {
    json!({
        "message": refusal.message,
        "detail": refusal.detail,
        "hint": refusal.hint,
    })
}

pub(crate) mod auth {
    use super::*;

    /// Internal, for auth.pre_request() (a SECURITY INVOKER function, so that it may switch the
    /// role): `{"refusal": {message, detail, hint}}` to raise with SQLSTATE PT401, `{"role": r}`
    /// to make `r` the transaction's role, or NULL to proceed as is. No secret in it.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _pre_request() -> Option<pgrx::JsonB> {
        let answer = match check_request().or_raise() {
            auth_core::Decision::Refuse(refusal) => json!({ "refusal": refusal_json(&refusal) }),
            auth_core::Decision::Proceed { switch_to: None } => return None,
            auth_core::Decision::Proceed {
                switch_to: Some(role),
            } => match unreachable_role(&role) {
                Some(refusal) => json!({ "refusal": refusal }),
                None => json!({ "role": role }),
            },
        };
        Some(pgrx::JsonB(answer))
    }

    /// Internal, for the auth.pre_request() of release 0.2.0 (SECURITY DEFINER, which cannot
    /// switch roles) until the database is updated: NULL when the request may proceed, else the
    /// message, detail and hint it raises with SQLSTATE PT401.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _request_refusal() -> Option<pgrx::JsonB> {
        let decision = check_request().or_raise();
        Some(pgrx::JsonB(refusal_json(decision.refusal()?)))
    }
}
