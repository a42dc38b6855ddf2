//! Claims for Row Level Security (README "Claims for RLS"): `auth.authenticate`, `auth.claims()`
//! and the Supabase-compatible helpers.
//!
//! In a query that reads a table each call becomes an InitPlan (src/planner.rs); where calls
//! stay per row (PL/pgSQL expressions, COPY defaults) the common path is a cache check: the last
//! answer is reused within its statement while the raw input is the same (see `LastAnswer`).
//! Anything else verifies again, from the verified-token cache.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use pg_auth_keys_core::{looks_like_jwt, uuid_bytes};
use pgrx::prelude::*;
use serde_json::Value;

use crate::errors::{AuthError, OrRaise};
use crate::keyset::{self, KeySet};
use crate::revocations;
use crate::settings::{self, ClaimsSource};
use crate::statement::{self, StatementId};
use crate::tokens::{self, Verified};
use crate::{api_keys, binding};

/// The last answer of `current_claims`, and what it depended on. It is reused only within the
/// statement it was made for (the key set and the settings are fixed for a statement), and only
/// while the raw input — the bound token, or the text of the setting the claims come from — is
/// byte for byte the same: a comparison in place, no copy and no JSON parse per call.
struct LastAnswer {
    statement: StatementId,
    source: ClaimsSource,
    /// The input was the bound token (else the setting the claims come from).
    bound: bool,
    raw: Vec<u8>,
    answer: Option<Rc<Verified>>,
    /// `sub` as a uuid, parsed once: `auth.uid()` is what policies call per row.
    uid: Option<[u8; 16]>,
}

thread_local! {
    static LAST: RefCell<Option<LastAnswer>> = const { RefCell::new(None) };
}

/// A setting's value, or None when it is not set.
pub(crate) fn guc(name: &std::ffi::CStr) -> Option<String> {
    with_guc(name, |raw| {
        raw.map(|r| String::from_utf8_lossy(r).into_owned())
    })
}

/// Call `f` with a setting's bytes, borrowed where PostgreSQL keeps them.
fn with_guc<R>(name: &std::ffi::CStr, f: impl FnOnce(Option<&[u8]>) -> R) -> R {
    // SAFETY: the string lives until the setting changes, which cannot happen during `f`.
    unsafe {
        let p = pg_sys::GetConfigOption(name.as_ptr(), true, false);
        if p.is_null() {
            f(None)
        } else {
            f(Some(std::ffi::CStr::from_ptr(p).to_bytes()))
        }
    }
}

/// Call `f` with what the claims of `source` come from, and whether it is the bound token: the
/// token bound by authenticate (src/binding.rs), else the text of `request.headers` (verified:
/// its bearer token, or the API key when that is the only credential),
/// or the text of `request.jwt.claims` (postgrest).
fn with_raw_input<R>(source: ClaimsSource, f: impl FnOnce(&[u8], bool) -> R) -> R {
    match source {
        ClaimsSource::Verified => binding::with_bound_token(|bound| match bound {
            Some(token) => f(token, true),
            None => with_guc(c"request.headers", |raw| f(raw.unwrap_or_default(), false)),
        }),
        ClaimsSource::Postgrest => with_guc(c"request.jwt.claims", |raw| {
            f(raw.unwrap_or_default(), false)
        }),
    }
}

/// The credential of PostgREST's `request.headers` the claims come from, read as `pre_request`
/// reads them (core/src/request.rs); malformed headers mean anonymous.
enum HeaderCredential {
    /// The bearer token.
    Token(String),
    /// The API key, when it is the only credential (no bearer token, or the key repeated as the
    /// bearer token): the request runs as the key's role.
    ApiKey(String),
}

fn credential_of(headers: &str) -> Option<HeaderCredential> {
    let headers = pg_auth_keys_core::Headers::parse(headers).ok()?;
    let bearer = headers.bearer().ok()?;
    let apikey = headers.get("apikey").ok().flatten();
    Some(match (bearer, apikey) {
        // A legacy API key repeated as the bearer token is a JWT: verified as one, as before.
        (Some(token), Some(key)) if token == key && !looks_like_jwt(key) => {
            HeaderCredential::ApiKey(key.to_string())
        }
        (Some(token), _) => HeaderCredential::Token(token.to_string()),
        (None, Some(key)) => HeaderCredential::ApiKey(key.to_string()),
        (None, None) => return None,
    })
}

/// The claims of a request whose only credential is the API key `key`; None when it is refused.
fn api_key_claims(key: &str) -> Result<Option<Rc<Verified>>, AuthError> {
    match api_keys::check(key) {
        Ok(entry) => Ok(Some(Rc::new(Verified::new(entry.claims())))),
        Err(AuthError::ApiKey(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Claims from `request.jwt.claims` as PostgREST sets them (auth.claims_source = postgrest):
/// trusted as given, except that a `kid` naming a key that is not trusted is refused.
fn postgrest_claims(set: &KeySet, input: &str) -> Option<Rc<Verified>> {
    let Value::Object(claims) = serde_json::from_str::<Value>(input).ok()? else {
        return None;
    };
    if let Some(kid) = claims.get("kid").and_then(Value::as_str) {
        if !set.get(kid).is_some_and(|k| k.state.trusted()) {
            return None;
        }
    }
    Some(Rc::new(Verified::new(claims)))
}

/// The claims `raw` (from `source`) stand for.
fn derive(
    source: ClaimsSource,
    raw: &[u8],
    bound: bool,
) -> Result<Option<Rc<Verified>>, AuthError> {
    // Taken even when there is no token: without shared memory there is no revocation guarantee,
    // and an anonymous answer must refuse (55000) like every other one.
    let set = keyset::current()?;
    let text = String::from_utf8_lossy(raw);
    let token = match source {
        ClaimsSource::Postgrest if !text.is_empty() => {
            // Claims PostgREST verified are still subject to revocations (by subject, session or
            // jti: the token itself is not known here).
            let revoked = revocations::current()?;
            return Ok(postgrest_claims(&set, &text)
                .filter(|v| tokens::revoked_by(&revoked.set, v, None).is_none()));
        }
        ClaimsSource::Postgrest => return Ok(None),
        ClaimsSource::Verified if bound => text.into_owned(),
        ClaimsSource::Verified => match credential_of(&text) {
            Some(HeaderCredential::Token(token)) => token,
            Some(HeaderCredential::ApiKey(key)) => return api_key_claims(&key),
            None => return Ok(None),
        },
    };
    match tokens::verify(&token) {
        Ok(v) => Ok(Some(v)),
        Err(AuthError::Token(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Call `f` with the current answer, deriving it again only when what it depends on changed.
fn with_current<R>(f: impl FnOnce(&LastAnswer) -> R) -> Result<R, AuthError> {
    let statement = statement::current();
    let source = settings::CLAIMS_SOURCE.get();
    let fresh = with_raw_input(source, |raw, bound| {
        LAST.with(|l| {
            l.borrow().as_ref().is_some_and(|l| {
                l.statement == statement
                    && l.source == source
                    && l.bound == bound
                    && l.raw.as_slice() == raw
            })
        })
    });
    if !fresh {
        let (raw, bound) = with_raw_input(source, |raw, bound| (raw.to_vec(), bound));
        let answer = derive(source, &raw, bound)?;
        let uid = answer
            .as_ref()
            .and_then(|v| v.sub()?.as_str().and_then(uuid_bytes));
        LAST.with(|l| {
            *l.borrow_mut() = Some(LastAnswer {
                statement,
                source,
                bound,
                raw,
                answer,
                uid,
            })
        });
    }
    Ok(LAST.with(|l| f(l.borrow().as_ref().expect("set above"))))
}

/// The current request's verified claims, or None when anonymous.
pub fn current_claims() -> Result<Option<Rc<Verified>>, AuthError> {
    with_current(|l| l.answer.clone())
}

/// A value of the current claims, as text (a string as it is, other JSON printed).
fn claim_text(
    select: impl for<'a> FnOnce(&'a Verified) -> Option<Cow<'a, Value>>,
) -> Option<String> {
    let claims = current_claims().or_raise()?;
    match select(&claims)?.as_ref() {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

pub(crate) mod auth {
    use super::*;

    /// Verify `token` and bind its claims to this transaction (or, with is_local => false, to the
    /// session). Raises 28000 for a bad token and binds nothing.
    #[pg_extern(volatile, parallel_unsafe)]
    fn authenticate(token: &str, is_local: default!(bool, true)) -> pgrx::JsonB {
        let verified = tokens::verify(token).or_raise();
        binding::bind(token, is_local).or_raise();
        pgrx::JsonB(Value::Object(verified.claims().into_owned()))
    }

    /// The current request's verified claims, or NULL when anonymous.
    #[pg_extern(stable, parallel_safe)]
    fn claims() -> Option<tokens::ClaimsJsonb> {
        current_claims().or_raise().map(|v| v.to_jsonb())
    }

    /// Same as auth.claims(); the Supabase-compatible name.
    #[pg_extern(stable, parallel_safe)]
    fn jwt() -> Option<tokens::ClaimsJsonb> {
        claims()
    }

    /// The `sub` claim as a uuid; NULL when anonymous or when `sub` is not a uuid.
    #[pg_extern(stable, parallel_safe)]
    fn uid() -> Option<pgrx::Uuid> {
        let uid = with_current(|l| l.uid).or_raise()?;
        Some(pgrx::Uuid::from_bytes(uid))
    }

    /// The claim auth.role_claim selects (default: the top-level `role`).
    #[pg_extern(stable, parallel_safe)]
    fn role() -> Option<String> {
        let path = settings::role_claim();
        claim_text(|v| v.role_at(&path))
    }

    #[pg_extern(stable, parallel_safe)]
    fn email() -> Option<String> {
        claim_text(|v| match v.claims() {
            Cow::Borrowed(claims) => claims.get("email").map(Cow::Borrowed),
            Cow::Owned(claims) => claims.get("email").cloned().map(Cow::Owned),
        })
    }

    /// Internal: the `sub` claim of the caller's verified claims (auth.claims()), or SQLSTATE
    /// 28000 when there are none, for `auth.sign_out`.
    #[pg_extern(stable, parallel_unsafe, schema = "auth_private")]
    fn _caller_subject() -> String {
        let verified = current_claims().or_raise();
        let sub = verified.as_ref().and_then(|v| match v.sub()? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Null | Value::String(_) => None,
            other => Some(other.to_string()),
        });
        sub.ok_or_else(|| {
            AuthError::NotAuthenticated(
                "sign_out needs verified claims with a sub: this session is anonymous".into(),
            )
        })
        .or_raise()
    }
}
