//! PostgREST's `db-pre-request` check (contract §5), as an adapter: the decision — headers, the
//! order of checks, the browser rule over every credential — is `pg_auth_keys_jose::pre_request`
//! (jose/src/request.rs); this module hands it `request.headers`, `auth.elevated_roles` and the
//! server-side checks of an API key and of a bearer token. `auth.pre_request()`
//! (sql/api_keys.sql) raises SQLSTATE PT401 with the refusal, so PostgREST answers HTTP 401.

use pg_auth_keys_jose::{self as jose, Identity};
use pgrx::prelude::*;
use serde_json::{json, Value};

use crate::api_keys::{self, Kind};
use crate::claims::guc;
use crate::errors::{AuthError, OrRaise};
use crate::{settings, tokens};

/// The API-key set and the signing keys of this backend, for the current statement.
struct ServerCredentials;

impl jose::Credential for ServerCredentials {
    type Error = AuthError;

    fn api_key(&mut self, key: &str) -> Result<Result<Identity, String>, AuthError> {
        match api_keys::verify(key) {
            Ok(entry) => Ok(Ok(Identity {
                secret_key: entry.kind == Kind::Secret,
                roles: vec![entry.role],
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
        let mut roles: Vec<String> = settings::role_claim()
            .select(&verified.claims)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .into_iter()
            .collect();
        roles.extend(api_keys::legacy_key_role(token)?);
        Ok(Ok(Identity {
            secret_key: false,
            roles,
        }))
    }
}

/// Why this request must be refused, or None when it may proceed.
fn check_request() -> Result<Option<jose::Refusal>, AuthError> {
    // Unset, or empty as a rolled-back transaction-local value leaves it: no headers.
    let headers = guc(c"request.headers").filter(|h| !h.is_empty());
    jose::pre_request(
        headers.as_deref(),
        &settings::elevated_roles(),
        &mut ServerCredentials,
    )
}

pub(crate) mod auth {
    use super::*;

    /// Internal: NULL when the current PostgREST request may proceed, else the message, detail
    /// and hint that auth.pre_request() raises with SQLSTATE PT401.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _request_refusal() -> Option<pgrx::JsonB> {
        let refusal = check_request().or_raise()?;
        Some(pgrx::JsonB(json!({
            "message": refusal.message,
            "detail": refusal.detail,
            "hint": refusal.hint,
        })))
    }
}
