//! Claims for Row Level Security (contract §3): `auth.authenticate`, `auth.claims()` and the
//! Supabase-compatible helpers.
//!
//! Policies call these once per row, so the common path is a cache check: the last answer is
//! reused while the key set (one atomic generation read), the bound token or the request headers,
//! and the claim settings are unchanged, and `exp` has not passed. Anything else re-verifies.

use std::cell::RefCell;
use std::rc::Rc;

use pgrx::prelude::*;
use serde_json::Value;

use crate::errors::{AuthError, OrRaise};
use crate::headers::Headers;
use crate::keyset::{self, KeySet};
use crate::settings::{self, ClaimsSource};
use crate::tokens::{self, Verified};

/// A token bound by `auth.authenticate`.
struct Bound {
    token: String,
    /// Bound for the transaction (`is_local`), cleared at its end.
    local: bool,
}

/// The last answer of `current_claims`, and what it depended on.
struct LastAnswer {
    set: Rc<KeySet>,
    source: ClaimsSource,
    input: String,
    answer: Option<Rc<Verified>>,
    exp: f64,
    leeway: i64,
}

thread_local! {
    static BOUND: RefCell<Option<Bound>> = const { RefCell::new(None) };
    static LAST: RefCell<Option<LastAnswer>> = const { RefCell::new(None) };
}

pub(crate) fn guc(name: &std::ffi::CStr) -> Option<String> {
    unsafe {
        let p = pg_sys::GetConfigOption(name.as_ptr(), true, false);
        if p.is_null() {
            None
        } else {
            Some(std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
        }
    }
}

/// The bearer token of PostgREST's `request.headers` setting, if any.
/// Read as `pre_request` reads it (src/headers.rs); malformed headers mean anonymous.
fn bearer_from_headers() -> Option<String> {
    let headers = Headers::current().ok()?;
    headers.bearer().ok().flatten().map(str::to_string)
}

/// What the current claims are derived from, as one comparable string.
fn claims_input(source: ClaimsSource) -> String {
    match source {
        ClaimsSource::Verified => BOUND
            .with(|b| b.borrow().as_ref().map(|b| b.token.clone()))
            .or_else(bearer_from_headers)
            .unwrap_or_default(),
        ClaimsSource::Postgrest => guc(c"request.jwt.claims").unwrap_or_default(),
    }
}

fn exp_of(v: &Verified) -> f64 {
    v.claims
        .get("exp")
        .and_then(Value::as_f64)
        .unwrap_or(f64::INFINITY)
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
    Some(Rc::new(Verified { claims }))
}

/// The current request's verified claims, or None when anonymous.
pub fn current_claims() -> Result<Option<Rc<Verified>>, AuthError> {
    let set = keyset::current()?;
    let source = settings::CLAIMS_SOURCE.get();
    let input = claims_input(source);
    let now = tokens::now_secs() as f64;
    let reuse = LAST.with(|l| {
        l.borrow().as_ref().and_then(|l| {
            let same = Rc::ptr_eq(&l.set, &set)
                && l.source == source
                && l.input == input
                && l.leeway == settings::LEEWAY_SECS.get() as i64;
            (same && now <= l.exp + l.leeway as f64).then(|| l.answer.clone())
        })
    });
    if let Some(answer) = reuse {
        return Ok(answer);
    }
    let answer = if input.is_empty() {
        None
    } else {
        match source {
            ClaimsSource::Verified => match tokens::verify(&input) {
                Ok(v) => Some(v),
                Err(AuthError::Token(_)) => None,
                Err(e) => return Err(e),
            },
            ClaimsSource::Postgrest => postgrest_claims(&set, &input),
        }
    };
    let exp = answer.as_deref().map(exp_of).unwrap_or(f64::INFINITY);
    LAST.with(|l| {
        *l.borrow_mut() = Some(LastAnswer {
            set,
            source,
            input,
            answer: answer.clone(),
            exp,
            leeway: settings::LEEWAY_SECS.get() as i64,
        })
    });
    Ok(answer)
}

fn claim_text(name: &str) -> Option<String> {
    let claims = current_claims().or_raise()?;
    match claims.claims.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

mod auth {
    use super::*;

    /// Verify `token` and bind its claims to this transaction (or, with is_local => false, to the
    /// session). Raises 28000 for a bad token and binds nothing.
    #[pg_extern(volatile, parallel_unsafe)]
    fn authenticate(token: &str, is_local: default!(bool, true)) -> pgrx::JsonB {
        let verified = tokens::verify(token).or_raise();
        BOUND.with(|b| {
            *b.borrow_mut() = Some(Bound {
                token: token.to_string(),
                local: is_local,
            })
        });
        if is_local {
            let clear = || {
                BOUND.with(|b| {
                    let mut b = b.borrow_mut();
                    if b.as_ref().is_some_and(|b| b.local) {
                        *b = None;
                    }
                })
            };
            pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, clear);
            pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Abort, clear);
        }
        pgrx::JsonB(Value::Object(verified.claims.clone()))
    }

    /// The current request's verified claims, or NULL when anonymous.
    #[pg_extern(stable, parallel_safe)]
    fn claims() -> Option<pgrx::JsonB> {
        current_claims()
            .or_raise()
            .map(|v| pgrx::JsonB(Value::Object(v.claims.clone())))
    }

    /// Same as auth.claims(); the Supabase-compatible name.
    #[pg_extern(stable, parallel_safe)]
    fn jwt() -> Option<pgrx::JsonB> {
        claims()
    }

    /// The `sub` claim as a uuid; NULL when anonymous or when `sub` is not a uuid.
    #[pg_extern(stable, parallel_safe)]
    fn uid() -> Option<pgrx::Uuid> {
        let sub = claim_text("sub")?;
        let parsed = uuid_bytes(&sub)?;
        Some(pgrx::Uuid::from_bytes(parsed))
    }

    /// The claim named by auth.role_claim (default `role`).
    #[pg_extern(stable, parallel_safe)]
    fn role() -> Option<String> {
        let name = settings::text(&settings::ROLE_CLAIM).unwrap_or_else(|| "role".into());
        claim_text(&name)
    }

    #[pg_extern(stable, parallel_safe)]
    fn email() -> Option<String> {
        claim_text("email")
    }
}

/// Parse the canonical 8-4-4-4-12 hex form of a UUID.
fn uuid_bytes(s: &str) -> Option<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if s.len() != 36 || hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
