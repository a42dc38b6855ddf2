//! Signing and verifying JWTs in SQL (README "Tokens"), with the per-backend verified-token cache.
//!
//! Verification is the JOSE core's strict parser and claim rules, applied with the key set this
//! backend sees for the current statement (`keyset::current`). A cache hit is keyed on the exact
//! token text, valid only for the key-set generation it was filled in, and re-runs the claim rules
//! (time, audience, issuer, roles) on every hit, so it can never outlive a revocation or a setting.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::rc::Rc;

use pg_auth_keys_core::{
    self as auth_core, Alg, ClaimRules, RevocationSet, RoleClaim, RoleClaimStep, RoleList,
    TokenError,
};
use pgrx::prelude::*;
use revocations::Revocations;
use serde_json::{json, Value};

use crate::clock::now_secs;
use crate::errors::{AuthError, OrRaise};
use crate::issuers::{self, Issuers};
use crate::jsonb_arg::JsonbArg;
use crate::keyset::{self, KeySet};
use crate::revocations;
use crate::settings;
use crate::shmem::{self, Stat};
use crate::statement::{self, StatementId};
use crate::{api_key_set, keys};

pub use crate::verified::{Claims, ClaimsJsonb, Verified};

struct TokenCache {
    set: Option<Rc<KeySet>>,
    issuers: Option<Rc<Issuers>>,
    /// Keyed on the exact token text (the entry's own copy, shared). FxHash, not SipHash: only
    /// tokens that verified are ever inserted, and nobody can make valid tokens collide on
    /// purpose (SipHash was 7% of a cold HS256 verification).
    entries: HashMap<Rc<str>, Rc<Verified>, BuildHasherDefault<rustc_hash::FxHasher>>,
}

thread_local! {
    static CACHE: RefCell<TokenCache> = RefCell::new(TokenCache { set: None, issuers: None, entries: HashMap::default() });
}

pub fn claim_rules() -> ClaimRules {
    ClaimRules {
        now: now_secs(),
        leeway: settings::LEEWAY_SECS.get() as i64,
        audience: settings::text(&settings::AUDIENCE),
        issuer: settings::text(&settings::ISSUER),
        role_claim: settings::role_claim(),
        allowed_roles: settings::allowed_roles(),
    }
}

thread_local! {
    /// The claim rules of the running statement (settings are read once per statement).
    static RULES: RefCell<Option<(StatementId, ClaimRules)>> = const { RefCell::new(None) };
}

/// Check `v`'s claims with `rules`: a third-party issuer's token with its own audience (and no
/// auth.audience / auth.issuer, which are for our tokens), after the staleness of its keys.
fn check_claims_with(v: &Verified, rules: &mut ClaimRules) -> Result<(), TokenError> {
    let role = v.role_at(&rules.role_claim);
    let Some(issuer) = &v.issuer else {
        return auth_core::check_claim_values(&v.values, role.as_deref(), rules);
    };
    issuer.check_fresh(rules.now)?;
    issuer.check_claim_values(&v.values, role.as_deref(), rules)
}

/// Call `f` with the running statement's rules at the current time.
fn with_rules_now<R>(f: impl FnOnce(&mut ClaimRules) -> R) -> R {
    let statement = statement::current();
    RULES.with(|r| {
        let mut r = r.borrow_mut();
        if !matches!(&*r, Some((s, _)) if *s == statement) {
            *r = Some((statement, claim_rules()));
        }
        let (_, rules) = r.as_mut().expect("set above");
        rules.now = now_secs();
        f(rules)
    })
}

/// Check `v`'s claims with the running statement's rules at the current time.
fn check_claims_now(v: &Verified) -> Result<(), TokenError> {
    with_rules_now(|rules| check_claims_with(v, rules))
}

/// A token minted from an API key (`auth.api_key_token`: an `api_key_id` claim) is valid only
/// while that key is registered, unrevoked and usable; checked on every verification, cache hits
/// included, against this statement's API keys (read again when they change).
fn check_api_key_claim(v: &Verified) -> Result<(), AuthError> {
    let Some(id) = &v.api_key_id else {
        return Ok(());
    };
    let id = id.as_str().and_then(auth_core::uuid_bytes);
    match id {
        Some(id) if api_key_set::current()?.is_live(&id) => Ok(()),
        _ => Err(TokenError::ApiKeyRevoked.into()),
    }
}

/// The claim rules and the API-key rule, now.
fn check_now(v: &Verified) -> Result<(), AuthError> {
    check_claims_now(v)?;
    check_api_key_claim(v)
}

/// Signature-only verification: parse, find the trusted key, check the signature. A refusal is
/// `AuthError::Token`; any other error (the API keys could not be read) propagates as itself,
/// never as a refusal or an acceptance.
fn verify_signature<'t>(
    set: &KeySet,
    token: &'t str,
) -> Result<auth_core::ParsedToken<'t>, AuthError> {
    let parsed = auth_core::parse_compact(token, settings::max_token_bytes())?;
    verify_parsed(set, token, parsed)
}

/// [`verify_signature`] of a parsed token.
fn verify_parsed<'t>(
    set: &KeySet,
    token: &str,
    parsed: auth_core::ParsedToken<'t>,
) -> Result<auth_core::ParsedToken<'t>, AuthError> {
    let entry = match parsed.kid() {
        Some(kid) => set.get(kid).ok_or(TokenError::UnknownKid)?,
        // Only the legacy HS256 secret verifies tokens without a kid (README "Tokens").
        None if parsed.alg() == Alg::HS256 => set.legacy().ok_or(TokenError::MissingKid)?,
        None => return Err(TokenError::MissingKid.into()),
    };
    if !entry.state.trusted() {
        return Err(TokenError::KeyRevoked.into());
    }
    let key = entry.verifier()?;
    parsed.verify_with(key)?;
    // A legacy anon / service_role API key that was revoked or disabled is refused although its
    // signature is valid (README "API keys"). Only tokens of the legacy secret can be such keys.
    if entry.is_legacy && api_key_set::current()?.legacy_refused(&auth_core::api_key_hash(token)) {
        return Err(TokenError::Disabled.into());
    }
    Ok(parsed)
}

/// A legacy anon / service_role API key: a token of the legacy secret whose signature, `exp` and
/// `nbf` hold. Audience, issuer and role rules are for user tokens, not for these keys.
pub fn verify_legacy_api_key(jwt: &str) -> Result<Claims, AuthError> {
    let set = keyset::current()?;
    let legacy = set.legacy().ok_or_else(|| AuthError::NotReady {
        message: "there is no legacy JWT secret".into(),
        hint: "import it first with auth.migrate_legacy_secret(secret)".into(),
    })?;
    let check = || -> Result<Claims, TokenError> {
        let parsed = auth_core::parse_compact(jwt, settings::max_token_bytes())?;
        if parsed.kid().is_some_and(|kid| kid != legacy.kid) {
            return Err(TokenError::UnknownKid);
        }
        if !legacy.state.trusted() {
            return Err(TokenError::KeyRevoked);
        }
        parsed.verify_with(legacy.verifier()?)?;
        let claims = parsed.claims()?;
        // These keys carry their role in the top-level `role` claim, whatever auth.role_claim
        // says about user tokens.
        let mut rules = claim_rules();
        rules.audience = None;
        rules.issuer = None;
        rules.role_claim = RoleClaim::default();
        rules.allowed_roles = RoleList::parse("anon,service_role");
        auth_core::check_claims(&claims, &rules)?;
        Ok(claims)
    };
    check().map_err(AuthError::from)
}

fn verify_uncached(set: &KeySet, issuers: &Issuers, token: &str) -> Result<Verified, AuthError> {
    let parsed = auth_core::parse_compact(token, settings::max_token_bytes())?;
    let role_path = with_rules_now(|rules| crate::verified::shared_path(&rules.role_claim));
    // One pass over the payload: every check of `claims()`, only the members kept built.
    let mut keep = crate::verified::KEPT.to_vec();
    if let Some(RoleClaimStep::Key(first)) = role_path.steps().first() {
        keep.push(first);
    }
    // A registered issuer's token verifies with its keys only; every other with ours only.
    let claims = match issuers::verify(issuers, &parsed, &keep, &role_path)? {
        issuers::Route::Issuer(t) => {
            return Ok(Verified::from_issuer_token(
                t.claims,
                role_path,
                Rc::from(token),
                parsed.payload(),
                t.issuer,
                t.as_signed,
            ));
        }
        issuers::Route::Ours(claims) => claims,
    };
    let parsed = verify_parsed(set, token, parsed)?;
    let claims = match claims {
        Some(claims) => claims,
        None => parsed.claims_keeping(&keep)?,
    };
    let legacy_api_key = is_legacy_api_key(set, &parsed, &claims);
    let mut verified = Verified::from_token(claims, role_path, Rc::from(token), parsed.payload());
    verified.legacy_api_key = legacy_api_key;
    Ok(verified)
}

/// Signed by the legacy secret (no kid verifies only with it) with role anon or service_role.
fn is_legacy_api_key(set: &KeySet, parsed: &auth_core::ParsedToken<'_>, claims: &Claims) -> bool {
    let legacy = match parsed.kid() {
        Some(kid) => set.get(kid).is_some_and(|e| e.is_legacy),
        None => true,
    };
    legacy
        && matches!(
            claims.get("role").and_then(Value::as_str),
            Some("anon" | "service_role")
        )
}

/// auth.max_token_lifetime at the current time (legacy API keys are exempt).
fn check_lifetime_now(v: &Verified) -> Result<(), TokenError> {
    let max = settings::MAX_TOKEN_LIFETIME_SECS.get();
    if v.legacy_api_key || v.within_lifetime.get() == max {
        return Ok(());
    }
    auth_core::check_lifetime_of(
        v.values.exp.as_f64(),
        v.values.iat.as_f64(),
        now_secs(),
        settings::LEEWAY_SECS.get() as i64,
        max as i64,
    )?;
    if v.has_numeric_iat() {
        v.within_lifetime.set(max);
    }
    Ok(())
}

/// The id of the revocation entry that refuses `v` (the token `token`), if any.
pub fn revoked_by(revoked: &RevocationSet, v: &Verified, token: Option<&str>) -> Option<i64> {
    if revoked.is_empty() {
        return None;
    }
    revoked.matching(&v.revocation_claims(), || {
        token.map(auth_core::api_key_hash).unwrap_or([0; 32])
    })
}

/// The checks that follow a valid signature and claims, on every verification including cache
/// hits: the lifetime bound, then the revocations (looked up again only when they changed since
/// this token was last found unrevoked).
fn check_not_revoked(revoked: &Revocations, v: &Verified, token: &str) -> Result<(), TokenError> {
    check_lifetime_now(v)?;
    if v.unrevoked_in.get() == revoked.generation {
        return Ok(());
    }
    match revoked_by(&revoked.set, v, Some(token)) {
        Some(_) => Err(TokenError::Revoked),
        None => {
            v.unrevoked_in.set(revoked.generation);
            Ok(())
        }
    }
}

/// Verify a token completely (signature, key state, claims), counting the outcome.
pub fn verify(token: &str) -> Result<Rc<Verified>, AuthError> {
    let store = shmem::store()?;
    let set = keyset::current()?;
    let issuers = issuers::current()?;
    let revoked = revocations::after_keyset()?;
    let result = verify_with_cache(&set, &issuers, &revoked, token, &store);
    match &result {
        Ok(_) => store.count(Stat::VerifyOk),
        Err(AuthError::Token(e)) => {
            store.count(Stat::VerifyFailed);
            store.count_reason(e);
        }
        Err(_) => {}
    }
    result
}

fn verify_with_cache(
    set: &Rc<KeySet>,
    issuers: &Rc<Issuers>,
    revoked: &Revocations,
    token: &str,
    store: &shmem::Store,
) -> Result<Rc<Verified>, AuthError> {
    let capacity = settings::TOKEN_CACHE_ENTRIES.get().max(0) as usize;
    let hit = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if !c.set.as_ref().is_some_and(|s| Rc::ptr_eq(s, set))
            || !c.issuers.as_ref().is_some_and(|i| Rc::ptr_eq(i, issuers))
        {
            c.set = Some(set.clone());
            c.issuers = Some(issuers.clone());
            c.entries.clear();
        }
        c.entries.get(token).cloned()
    });
    if let Some(v) = hit {
        store.count(Stat::TokenCacheHit);
        check_now(&v)?;
        check_not_revoked(revoked, &v, token)?;
        return Ok(v);
    }
    store.count(Stat::TokenCacheMiss);
    let mut verified = verify_uncached(set, issuers, token)?;
    check_now(&verified)?;
    check_not_revoked(revoked, &verified, token)?;
    // From here on the entry answers from what it kept (src/verified.rs), cached or not.
    verified.slim();
    let verified = Rc::new(verified);
    if capacity > 0 {
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.entries.len() >= capacity {
                // Bounded by clearing: simple, and a full cache of live tokens refills quickly.
                c.entries.clear();
            }
            let key = verified.token().unwrap_or_else(|| Rc::from(token));
            c.entries.insert(key, verified.clone());
        });
    }
    Ok(verified)
}

/// Sign `claims` with the sealed private key read by `auth.sign_jwt` (which chose and checked
/// the key). It is opened here, in this backend's memory only; with the key-encryption key
/// missing or another one, this fails (55000) before anything is signed.
pub fn sign(
    claims: &Value,
    kid: &str,
    alg: &str,
    sealed_private_key: &[u8],
    lifetime: i64,
) -> Result<String, AuthError> {
    let Value::Object(claims) = claims else {
        return Err(AuthError::BadArgument(
            "claims must be a JSON object".into(),
        ));
    };
    let alg = Alg::parse(alg).ok_or_else(|| AuthError::BadArgument("unknown alg".into()))?;
    let key = keys::open_signing_key(alg, kid, sealed_private_key)?;
    let mut claims = claims.clone();
    let now = now_secs();
    claims.entry("iat").or_insert(json!(now));
    claims.entry("exp").or_insert(json!(now + lifetime));
    Ok(auth_core::sign_compact(&key, kid, &claims)?)
}

/// Decode a segment for display without trusting it.
fn peek_json(segment: Option<&str>) -> Value {
    use base64::Engine;
    segment
        .and_then(|s| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .map(|v| {
            if holds_nul(&v) {
                // jsonb cannot hold U+0000; such a token is refused as malformed anyway.
                json!("(not shown: it holds a NUL character)")
            } else {
                v
            }
        })
        .unwrap_or(Value::Null)
}

fn holds_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// What a person in psql wants to know about a token; never raises for a bad token.
pub fn inspect(token: &str) -> Result<Value, AuthError> {
    let set = keyset::current()?;
    let small = token.len() <= settings::max_token_bytes();
    let mut parts = token.split('.');
    let header = if small {
        peek_json(parts.next())
    } else {
        Value::Null
    };
    let claims = if small {
        peek_json(parts.next())
    } else {
        Value::Null
    };
    let kid = header.get("kid").and_then(Value::as_str);
    let entry = match kid {
        Some(kid) => set.get(kid),
        None => set.legacy(),
    };
    let key = entry.map(|e| {
        json!({"kid": e.kid, "alg": e.alg.as_str(), "state": e.state.as_str(), "is_legacy": e.is_legacy})
    });
    let revoked = revocations::current()?;
    let issuers = issuers::current()?;
    let mut revocation = Value::Null;
    let outcome = verify_uncached(&set, &issuers, token).and_then(|v| {
        check_claims_with(&v, &mut claim_rules())?;
        check_api_key_claim(&v)?;
        check_lifetime_now(&v)?;
        if let Some(id) = revoked_by(&revoked.set, &v, Some(token)) {
            revocation = json!({ "id": id });
            return Err(TokenError::Revoked.into());
        }
        Ok(())
    });
    if let Some(id) = revocation.get("id").and_then(Value::as_i64) {
        revocation = revocations::describe(id)?;
    }
    let (valid, reason) = match outcome {
        Ok(()) => (true, Value::Null),
        Err(AuthError::Token(e)) => (false, json!(e.to_string())),
        Err(e) => return Err(e),
    };
    let mut out = json!({
        "header": header,
        "claims_unverified": claims,
        "key": key.unwrap_or(Value::Null),
        "valid": valid,
        "reason": reason,
    });
    if !revocation.is_null() {
        out["revocation"] = revocation;
    }
    Ok(out)
}

/// Verification is STABLE, never IMMUTABLE: its answer depends on the clock and on the key set,
/// which are taken as fixed for one statement (pgjwt's IMMUTABLE `verify` is the defect to avoid).
mod auth {
    use super::*;

    /// The token's claims, or an error (SQLSTATE 28000) naming why it was refused.
    #[pg_extern(stable, parallel_safe)]
    fn verify_jwt(token: &str) -> ClaimsJsonb {
        verify(token).or_raise().to_jsonb()
    }

    /// The token's claims, or NULL for any bad token.
    #[pg_extern(stable, parallel_safe)]
    fn try_verify_jwt(token: &str) -> Option<ClaimsJsonb> {
        match verify(token) {
            Ok(v) => Some(v.to_jsonb()),
            Err(AuthError::Token(_)) => None,
            Err(e) => e.raise(),
        }
    }

    /// Signature only: the payload bytes of any compact JWS signed by a trusted key.
    #[pg_extern(stable, parallel_safe)]
    fn verify_jws(token: &str) -> Vec<u8> {
        let set = keyset::current().or_raise();
        let parsed = verify_signature(&set, token).or_raise();
        parsed.payload().to_vec()
    }

    #[pg_extern(stable, parallel_safe)]
    fn inspect_jwt(token: &str) -> pgrx::JsonB {
        pgrx::JsonB(inspect(token).or_raise())
    }

    /// Internal: called by auth.sign_jwt with the key it selected (its private key sealed).
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _sign(
        claims: JsonbArg,
        kid: &str,
        alg: &str,
        private_key: &[u8],
        lifetime_secs: i64,
    ) -> String {
        let claims = claims.parse_exact("claims").or_raise();
        sign(&claims, kid, alg, private_key, lifetime_secs).or_raise()
    }
}
