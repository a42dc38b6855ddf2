//! PostgREST's `db-pre-request` check (contract §5): the request headers PostgREST puts in the
//! `request.headers` setting must carry a valid API key and, when they carry an authorization
//! header, a valid bearer JWT or that same key. `auth.pre_request()` (sql/api_keys.sql) raises
//! SQLSTATE PT401 with what this returns, so PostgREST answers HTTP 401.

use pgrx::prelude::*;
use serde_json::{json, Map, Value};

use crate::errors::{AuthError, OrRaise};
use crate::{api_keys, claims, tokens};

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

/// PostgREST lower-cases header names; a hand-written request.headers may not.
fn header<'a>(headers: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// A request made by a web browser: browsers send `Origin` on cross-origin requests and the
/// `Sec-Fetch-*` metadata headers on every request, and identify as `Mozilla/…`.
fn from_browser(headers: &Map<String, Value>) -> bool {
    headers.keys().any(|k| {
        k.eq_ignore_ascii_case("origin") || k.to_ascii_lowercase().starts_with("sec-fetch-")
    }) || header(headers, "user-agent").is_some_and(|ua| ua.starts_with("Mozilla/"))
}

/// Why this request must be refused, or None when it may proceed.
fn check_request() -> Result<Option<Refusal>, AuthError> {
    let Some(raw) = claims::guc(c"request.headers") else {
        return Ok(Some(
            Refusal::new("missing api key", "request.headers is not set")
                .hint("send the API key in the apikey header"),
        ));
    };
    let headers = match serde_json::from_str::<Value>(&raw) {
        Ok(Value::Object(h)) => h,
        _ => {
            return Ok(Some(Refusal::new(
                "malformed request headers",
                "request.headers is not a JSON object",
            )))
        }
    };
    let Some(apikey) = header(&headers, "apikey") else {
        return Ok(Some(
            Refusal::new("missing api key", "the apikey header is missing")
                .hint("send a publishable or secret API key in the apikey header"),
        ));
    };
    let entry = match api_keys::verify(apikey) {
        Ok(entry) => entry,
        Err(AuthError::ApiKey(why)) => {
            return Ok(Some(Refusal::new("invalid api key", why.to_string())))
        }
        Err(e) => return Err(e),
    };
    if entry.is_elevated() && from_browser(&headers) {
        return Ok(Some(
            Refusal::new(
                "secret api keys cannot be used in a browser",
                "the request carries browser headers (origin, sec-fetch-*, or a browser user agent)",
            )
            .hint("use a publishable key in browsers; keep secret keys on servers"),
        ));
    }
    if let Some(authorization) = header(&headers, "authorization") {
        let bearer = authorization
            .trim()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let Some(token) = bearer else {
            return Ok(Some(Refusal::new(
                "invalid authorization header",
                "expected: Bearer <token>",
            )));
        };
        if token != apikey {
            match tokens::verify(token) {
                Ok(_) => {}
                Err(AuthError::Token(why)) => {
                    return Ok(Some(Refusal::new("invalid jwt", why.to_string())))
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(None)
}

pub(crate) mod auth {
    use super::*;

    /// Internal: NULL when the current PostgREST request may proceed, else the message, detail
    /// and hint that auth.pre_request() raises with SQLSTATE PT401.
    #[pg_extern(volatile, parallel_unsafe)]
    fn _request_refusal() -> Option<pgrx::JsonB> {
        let refusal = check_request().or_raise()?;
        Some(pgrx::JsonB(json!({
            "message": refusal.message,
            "detail": refusal.detail,
            "hint": refusal.hint,
        })))
    }
}
