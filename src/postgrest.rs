//! PostgREST's `db-pre-request` check (contract §5): the request headers PostgREST puts in the
//! `request.headers` setting must carry a valid API key and, when they carry an authorization
//! header, a valid bearer JWT or that same key. `auth.pre_request()` (sql/api_keys.sql) raises
//! SQLSTATE PT401 with what this returns, so PostgREST answers HTTP 401.

use pgrx::prelude::*;
use serde_json::json;

use crate::errors::{AuthError, OrRaise};
use crate::headers::{Headers, HeadersError};
use crate::{api_keys, tokens};

/// A refused request: message, detail and hint for the client.
struct Refusal {
    message: &'static str,
    detail: String,
    hint: Option<&'static str>,
}

impl Refusal {
    fn new(message: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal {
            message,
            detail: detail.into(),
            hint: None,
        }
    }
    fn hint(mut self, hint: &'static str) -> Refusal {
        self.hint = Some(hint);
        self
    }
}

/// A request made by a web browser: browsers send `Origin` on cross-origin requests and the
/// `Sec-Fetch-*` metadata headers on every request, and identify as `Mozilla/…`.
fn from_browser(headers: &Headers) -> Result<bool, &'static str> {
    Ok(headers.get("origin")?.is_some()
        || headers.any_with_prefix("sec-fetch-")
        || headers
            .get("user-agent")?
            .is_some_and(|ua| ua.starts_with("Mozilla/")))
}

fn malformed(why: &'static str) -> Refusal {
    Refusal::new("malformed request headers", why)
}

/// Why this request must be refused, or None when it may proceed.
fn check_request() -> Result<Option<Refusal>, AuthError> {
    let headers = match Headers::current() {
        Ok(h) => h,
        Err(HeadersError::NotSet) => {
            return Ok(Some(
                Refusal::new("missing api key", "request.headers is not set")
                    .hint("send the API key in the apikey header"),
            ))
        }
        Err(HeadersError::Malformed(why)) => return Ok(Some(malformed(why))),
    };
    let apikey = match headers.get("apikey") {
        Ok(Some(key)) => key,
        Ok(None) => {
            return Ok(Some(
                Refusal::new("missing api key", "the apikey header is missing")
                    .hint("send a publishable or secret API key in the apikey header"),
            ))
        }
        Err(why) => return Ok(Some(malformed(why))),
    };
    let entry = match api_keys::verify(apikey) {
        Ok(entry) => entry,
        Err(AuthError::ApiKey(why)) => {
            return Ok(Some(Refusal::new("invalid api key", why.to_string())))
        }
        Err(e) => return Err(e),
    };
    let browser = match from_browser(&headers) {
        Ok(browser) => browser,
        Err(why) => return Ok(Some(malformed(why))),
    };
    if entry.is_elevated() && browser {
        return Ok(Some(
            Refusal::new(
                "secret api keys cannot be used in a browser",
                "the request carries browser headers (origin, sec-fetch-*, or a browser user agent)",
            )
            .hint("use a publishable key in browsers; keep secret keys on servers"),
        ));
    }
    let token = match headers.bearer() {
        Ok(token) => token,
        Err(why) => return Ok(Some(Refusal::new("invalid authorization header", why))),
    };
    if let Some(token) = token.filter(|t| *t != apikey) {
        match tokens::verify(token) {
            Ok(_) => {}
            Err(AuthError::Token(why)) => {
                return Ok(Some(Refusal::new("invalid jwt", why.to_string())))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
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
