//! A verified token's claims, in the form the verified-token cache keeps them (src/tokens.rs).
//!
//! A cache hit runs the claim rules, the API-key rule, the lifetime bound and (when they changed)
//! the revocations again, and returns the claims as jsonb. So an entry keeps the jsonb, the few
//! members those checks read ([`ClaimValues`], the role claim, `sub`, `api_key_id`), and the
//! token text it shares with the cache's key; not the claims as a map, which took two thirds
//! of an entry (bench/README.md, item 6). Anything else that wants the whole map (a changed
//! `auth.role_claim`, the revocations after they changed, `auth.authenticate`) parses the
//! token's payload again: the same text gives the same map, to the bit. A third-party issuer's
//! token also keeps its issuer (issuers.rs): its audience and staleness are checked on every
//! hit, and its default role is written again into a map parsed again.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::rc::Rc;

use pg_auth_keys_core::{self as auth_core, ClaimValues, NumericClaim, RoleClaim};
use pgrx::prelude::*;
use serde_json::{Map, Value};

use crate::issuers::Issuer;

pub type Claims = Map<String, Value>;

/// The top-level members a verified token's claims are parsed with (besides the first key of
/// auth.role_claim): what [`Verified`] keeps, `role` (a legacy API key's), and what the
/// revocations match on (`sub`, `iat`, `session_id`, `jti`; core/src/revocation.rs).
pub const KEPT: [&str; 10] = [
    "exp",
    "nbf",
    "iat",
    "aud",
    "iss",
    "sub",
    "api_key_id",
    "role",
    "session_id",
    "jti",
];

/// Claims that passed verification: a token's (signature, key state, claims) or another
/// credential's (an API key's, PostgREST's).
pub struct Verified {
    /// The whole claims set, or for a verified token only the [`KEPT`] members until it is
    /// [`Verified::slim`]med (then none).
    claims: Option<Claims>,
    /// The verified token whose payload they are (shared with the cache's key).
    token: Option<Rc<str>>,
    /// What the claim rules read, except the role.
    pub(crate) values: ClaimValues,
    /// The role claim as `role_path` selects it (the auth.role_claim the claims were taken
    /// under), so that the rules of the next statement do not need the map when it is the same.
    role_path: Rc<RoleClaim>,
    role: Option<Value>,
    sub: Option<Value>,
    /// Boxed: most tokens have none (an entry's size is the cache's, bench item 6).
    pub(crate) api_key_id: Option<Box<Value>>,
    /// The registered third-party issuer whose key verified the token (issuers.rs); None: our
    /// own key. Its claims read again from the token get the issuer's default role written
    /// where `role_path` points when the token carries no role, as at verification.
    pub(crate) issuer: Option<Rc<Issuer>>,
    /// A legacy anon / service_role API key (a token of the legacy secret with one of those
    /// roles): exempt from auth.max_token_lifetime, since those keys are ten-year JWTs.
    pub(crate) legacy_api_key: bool,
    /// The generation of the revocations (revocations.rs) this token was last found unrevoked
    /// in (0: never): a cache hit checks again only when the revocations changed.
    pub(crate) unrevoked_in: Cell<u64>,
    /// The auth.max_token_lifetime this token (one with `iat`, whose check does not depend on
    /// the time) was found within (-1: never).
    pub(crate) within_lifetime: Cell<i32>,
    /// The claims as a flat jsonb value, encoded on first use: a cache hit returns a copy of it
    /// instead of cloning the map, printing it as text and parsing that with jsonb_in.
    jsonb: OnceCell<Box<[u8]>>,
}

impl Verified {
    /// Claims taken with the role claim at `role_path`.
    pub fn with_role_path(claims: Claims, role_path: Rc<RoleClaim>) -> Verified {
        Verified {
            values: ClaimValues::of(&claims),
            role: role_path.select(&claims).cloned(),
            role_path,
            sub: claims.get("sub").cloned(),
            api_key_id: claims.get("api_key_id").cloned().map(Box::new),
            claims: Some(claims),
            token: None,
            issuer: None,
            legacy_api_key: false,
            unrevoked_in: Cell::new(0),
            within_lifetime: Cell::new(-1),
            jsonb: OnceCell::new(),
        }
    }

    /// Claims taken with the role claim at the current auth.role_claim.
    pub fn new(claims: Claims) -> Verified {
        Verified::with_role_path(claims, shared_path(&crate::settings::role_claim()))
    }

    /// The claims of the verified `token`, parsed from its `payload`: jsonb is made from that
    /// text directly (no clone of the map, no printing it again). `claims` may hold only the
    /// [`KEPT`] members (and the role claim's): until [`Verified::slim`], `claims()` gives
    /// those, which is all the checks of a verification read; after it, the whole set.
    pub(crate) fn from_token(
        claims: Claims,
        role_path: Rc<RoleClaim>,
        token: Rc<str>,
        payload: &[u8],
    ) -> Verified {
        let mut v = Verified::with_role_path(claims, role_path);
        // From now on `claims` is not the whole set: `claims()` parses the token again.
        v.token = Some(token);
        v.set_jsonb_from(payload);
        v
    }

    /// [`Verified::from_token`] for a token of a registered `issuer`, whose `claims` carry its
    /// default role when the token had none (`as_signed` false): then the payload is not the
    /// claims, and jsonb is made from the claims when first asked for.
    pub(crate) fn from_issuer_token(
        claims: Claims,
        role_path: Rc<RoleClaim>,
        token: Rc<str>,
        payload: &[u8],
        issuer: Rc<Issuer>,
        as_signed: bool,
    ) -> Verified {
        let mut v = Verified::with_role_path(claims, role_path);
        v.token = Some(token);
        v.issuer = Some(issuer);
        if as_signed {
            v.set_jsonb_from(payload);
        }
        v
    }

    fn set_jsonb_from(&self, payload: &[u8]) {
        // Valid JSON has no NUL byte; if it had one, to_jsonb would encode from the map instead.
        if let Ok(text) = std::ffi::CString::new(payload) {
            // SAFETY: called inside a transaction, where jsonb_in may run.
            let _ = self.jsonb.set(unsafe { jsonb_from_text(&text) });
        }
    }

    /// Drop the members kept for the checks of the verification; a token's claims are then
    /// parsed again from its text when something needs more than [`Verified`] keeps.
    pub(crate) fn slim(&mut self) {
        if self.token.is_some() {
            self.claims = None;
        }
    }

    /// What the revocations match on: the kept members while a verification runs, else the
    /// whole set.
    pub(crate) fn revocation_claims(&self) -> Cow<'_, Claims> {
        match &self.claims {
            Some(claims) => Cow::Borrowed(claims),
            None => self.claims(),
        }
    }

    /// The whole claims set: held, or parsed again from the token.
    pub fn claims(&self) -> Cow<'_, Claims> {
        if let (Some(claims), None) = (&self.claims, &self.token) {
            return Cow::Borrowed(claims);
        }
        // The token verified and its claims parsed before, so this parses again: no limit of
        // auth.max_token_bytes (it may have changed since) applies.
        let token = self.token.as_deref().unwrap_or_default();
        let mut claims = auth_core::parse_compact(token, usize::MAX)
            .and_then(|p| p.claims())
            .unwrap_or_default();
        if let Some(issuer) = &self.issuer {
            // As at verification (issuers::verify), where it succeeded: it succeeds again.
            let _ =
                auth_core::apply_default_role(&mut claims, &self.role_path, &issuer.default_role);
        }
        Cow::Owned(claims)
    }

    /// The role claim at `path`: kept when `path` is the one it was taken at.
    pub fn role_at(&self, path: &RoleClaim) -> Option<Cow<'_, Value>> {
        if *path == *self.role_path {
            return self.role.as_ref().map(Cow::Borrowed);
        }
        match self.claims() {
            Cow::Borrowed(c) => path.select(c).map(Cow::Borrowed),
            Cow::Owned(c) => path.select(&c).cloned().map(Cow::Owned),
        }
    }

    /// The verified token's text, shared.
    pub(crate) fn token(&self) -> Option<Rc<str>> {
        self.token.clone()
    }

    /// The `sub` claim.
    pub fn sub(&self) -> Option<&Value> {
        self.sub.as_ref()
    }

    /// `iat` is a number: then the lifetime bound does not depend on the time.
    pub(crate) fn has_numeric_iat(&self) -> bool {
        matches!(self.values.iat, NumericClaim::Number(_))
    }

    /// The claims as jsonb, in the current memory context.
    pub fn to_jsonb(&self) -> ClaimsJsonb {
        let bytes = self.jsonb.get_or_init(|| {
            let text = serde_json::to_string(&*self.claims()).expect("a map of JSON values prints");
            let text = std::ffi::CString::new(text).expect("printed JSON has no NUL byte");
            // SAFETY: called inside a transaction, where jsonb_in may run.
            unsafe { jsonb_from_text(&text) }
        });
        // SAFETY: a fresh palloc'd buffer of exactly `bytes.len()` bytes receives a copy of a
        // complete jsonb varlena, which PostgreSQL then owns as the returned datum.
        unsafe {
            let p = pg_sys::palloc(bytes.len()) as *mut u8;
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            ClaimsJsonb(pg_sys::Datum::from(p))
        }
    }
}

thread_local! {
    /// The role claim path entries were last made under, shared by all of them.
    static PATH: std::cell::RefCell<Option<Rc<RoleClaim>>> = const { std::cell::RefCell::new(None) };
}

/// `path`, shared with the entries made under the same one (one copy, not one per entry).
pub(crate) fn shared_path(path: &RoleClaim) -> Rc<RoleClaim> {
    PATH.with(|p| {
        let mut p = p.borrow_mut();
        match &*p {
            Some(shared) if **shared == *path => shared.clone(),
            _ => {
                let shared = Rc::new(path.clone());
                *p = Some(shared.clone());
                shared
            }
        }
    })
}

/// jsonb_in of `text`, copied out of the memory context it was made in.
///
/// # Safety
/// Must run inside a transaction (jsonb_in may raise an ERROR, which pgrx turns into a panic).
unsafe fn jsonb_from_text(text: &std::ffi::CStr) -> Box<[u8]> {
    // SAFETY: jsonb_in returns a palloc'd varlena, read for its full size before it is freed.
    unsafe {
        let datum = pgrx::fcinfo::direct_function_call_as_datum(
            pg_sys::jsonb_in,
            &[Some(pg_sys::Datum::from(text.as_ptr()))],
        )
        .expect("jsonb_in returns a value");
        let p = datum.cast_mut_ptr::<pg_sys::varlena>();
        let bytes: Box<[u8]> =
            std::slice::from_raw_parts(p as *const u8, pgrx::varlena::varsize_any(p)).into();
        pg_sys::pfree(p.cast());
        bytes
    }
}

/// A jsonb datum made by [`Verified::to_jsonb`], returned to SQL as it is.
pub struct ClaimsJsonb(pg_sys::Datum);

// SAFETY: the datum is a complete jsonb varlena palloc'd in the function's memory context, which
// is what a function returning jsonb hands back.
unsafe impl pgrx::callconv::BoxRet for ClaimsJsonb {
    unsafe fn box_into<'fcx>(
        self,
        fcinfo: &mut pgrx::callconv::FcInfo<'fcx>,
    ) -> pgrx::datum::Datum<'fcx> {
        // SAFETY: as above; the datum is returned as it is.
        unsafe { fcinfo.return_raw_datum(self.0) }
    }
}
pgrx::impl_sql_translatable!(ClaimsJsonb, "jsonb");
