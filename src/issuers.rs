//! Third-party issuers (README "Third-party issuers"): this backend's view of
//! `auth_private._issuers` and `auth_private._issuer_keys`, verification of their tokens, and the
//! helpers the SQL functions of sql/issuers.sql call.
//!
//! The view is the fourth part of the backend's view (catalog::Part::Issuers) and reaches every
//! session as the key set does (keyset.rs): the statement triggers `publish` queue a relcache
//! invalidation, the next statement of every session finds the part stale and reads both tables
//! again with the latest snapshot (latest.rs). A standby replays the invalidation with the
//! primary's commit and reads what the primary fetched; nothing here fetches on a standby.
//!
//! A token whose `iss` names a registered issuer verifies only with that issuer's keys, by kid;
//! our own keys never verify it, and an issuer's keys never verify any other token (they are
//! not in the key set). An unknown kid asks the worker for a refetch (issuer_shared.rs: at most
//! one per issuer per `auth.issuer_refetch_cooldown` across sessions) and waits for it, bounded
//! (see `refetch_and_wait`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use pg_auth_keys_core::{
    self as auth_core, Alg, ClaimRules, ClaimValues, IssuerError, IssuerKey, ParsedToken,
    PreparedKey, RoleClaim, TokenError, VerifyKey,
};
use pgrx::prelude::*;
use serde_json::{json, Map, Value};

use crate::catalog::{self, Part};
use crate::clock::now_secs;
use crate::errors::{AuthError, OrRaise};
use crate::fetch::{self, FetchPolicy};
use crate::issuer_shared::{self, Counter};
use crate::keyset::{self, Change};
use crate::statement::{self, StatementId};
use crate::{commits, latest, settings};

/// One registered issuer as this backend sees it.
pub struct Issuer {
    pub issuer: String,
    /// In a cell so that the claim rules can borrow it for a check without a copy
    /// (`check_claim_values`).
    audience: RefCell<Option<String>>,
    pub default_role: String,
    /// The last successful fetch (Unix seconds); None: never (then nothing verifies).
    pub last_success: Option<f64>,
    keys: HashMap<String, PreparedKey>,
}

impl Issuer {
    /// `auth_core::check_claim_values` of a token's kept `values` and `role` with `rules` as they
    /// apply to this issuer's tokens: its audience instead of `auth.audience`, no `auth.issuer`
    /// (both are for our own tokens). The audience is swapped in and back, not copied: this runs
    /// on every cache hit.
    pub fn check_claim_values(
        &self,
        values: &ClaimValues,
        role: Option<&Value>,
        rules: &mut ClaimRules,
    ) -> Result<(), TokenError> {
        let ours = rules.issuer.take();
        let mut audience = self.audience.borrow_mut();
        std::mem::swap(&mut rules.audience, &mut audience);
        let result = auth_core::check_claim_values(values, role, rules);
        std::mem::swap(&mut rules.audience, &mut audience);
        rules.issuer = ours;
        result
    }

    /// Refuse its tokens once its keys are older than `auth.issuer_max_stale`.
    pub fn check_fresh(&self, now: i64) -> Result<(), TokenError> {
        let max = settings::ISSUER_MAX_STALE_SECS.get() as f64;
        match self.last_success {
            Some(t) if (now as f64) - t <= max => Ok(()),
            _ => Err(TokenError::IssuerKeysStale),
        }
    }
}

/// Every registered issuer, by its exact `iss`.
#[derive(Default)]
pub struct Issuers {
    by_iss: HashMap<String, Rc<Issuer>>,
}

impl Issuers {
    pub fn is_empty(&self) -> bool {
        self.by_iss.is_empty()
    }
}

struct Cached {
    statement: StatementId,
    /// Read inside a transaction that changed the extension's tables: this statement only.
    private: bool,
    set: Rc<Issuers>,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

/// The issuers as committed, for this statement (or as this transaction changed them). Call
/// after `keyset::current()`, which processes the invalidations that arrived.
pub fn current() -> Result<Rc<Issuers>, AuthError> {
    let statement = statement::current();
    let private = keyset::changed_in_xact();
    if let Some(set) = CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|c| c.statement == statement && c.private == private)
            .map(|c| c.set.clone())
    }) {
        return Ok(set);
    }
    if catalog::relations()?.issuers.is_none() {
        // A database still at a release before 0.3.0.
        return Ok(Rc::default());
    }
    let stale = keyset::take_stale(Part::Issuers);
    if !private && !stale {
        if let Some(set) = CACHE.with(|c| {
            let mut c = c.borrow_mut();
            let c = c.as_mut().filter(|c| !c.private)?;
            c.statement = statement;
            Some(c.set.clone())
        }) {
            return Ok(set);
        }
    }
    // Until a read succeeds, the old view must not be used again.
    CACHE.with(|c| *c.borrow_mut() = None);
    let set = Rc::new(read()?);
    CACHE.with(|c| {
        *c.borrow_mut() = Some(Cached {
            statement,
            private,
            set: set.clone(),
        })
    });
    Ok(set)
}

/// Read both tables with the latest snapshot (a parallel worker of a REPEATABLE READ transaction:
/// with its own, when commits.rs proves it the newest).
fn read() -> Result<Issuers, AuthError> {
    type Row = (
        String,
        Option<String>,
        String,
        Option<f64>,
        Option<IssuerKey>,
    );
    // Outside a parallel operation, make sure shared memory tracks this database's issuer
    // commits, so that parallel workers of later REPEATABLE READ transactions can read too.
    // SAFETY: a backend-local global.
    if !unsafe { pg_sys::IsInParallelMode() } {
        commits::track(Part::Issuers);
    }
    let rows: Vec<Row> = latest::read_part(
        "SELECT i.issuer, i.audience, i.default_role,
                pg_catalog.date_part('epoch'::pg_catalog.text, i.last_success_at),
                k.kid, k.alg, k.verify_key
           FROM {schema}._issuers i
           LEFT JOIN {schema}._issuer_keys k ON k.issuer OPERATOR(pg_catalog.=) i.issuer",
        |row| {
            let key = match (row.get::<String>(5), row.get::<String>(6)) {
                (Some(kid), Some(alg)) => Some(IssuerKey {
                    kid,
                    alg: Alg::parse(&alg)?,
                    verify_key: row.get::<Vec<u8>>(7)?,
                }),
                _ => None,
            };
            Some((
                row.get::<String>(1)?,
                row.get::<String>(2),
                row.get::<String>(3)?,
                row.get::<f64>(4),
                key,
            ))
        },
        Part::Issuers,
    )?;
    let mut by_iss: HashMap<String, Issuer> = HashMap::new();
    for (issuer, audience, default_role, last_success, key) in rows {
        let entry = by_iss.entry(issuer.clone()).or_insert_with(|| Issuer {
            issuer,
            audience: RefCell::new(audience),
            default_role,
            last_success,
            keys: HashMap::new(),
        });
        if let Some(k) = key {
            // A stored key that no longer parses verifies nothing.
            if let Ok(v) = VerifyKey::from_parts(k.alg, &k.verify_key) {
                entry.keys.insert(k.kid, v.prepare());
            }
        }
    }
    // Issuers written by any means (add_issuer, pg_restore, a template copy): this database
    // needs its worker (worker.rs); a cheap shared-memory flag.
    // SAFETY: reads recovery state from shared memory.
    if !by_iss.is_empty() && !unsafe { pg_sys::RecoveryInProgress() } {
        issuer_shared::mark_database_wanted();
    }
    Ok(Issuers {
        by_iss: by_iss.into_iter().map(|(k, v)| (k, Rc::new(v))).collect(),
    })
}

/// A token of a registered issuer, verified: its claims (the members the caller asked to keep),
/// with the issuer's default role written where the role claim points when the token carries no
/// role.
pub struct IssuerToken {
    pub issuer: Rc<Issuer>,
    pub claims: Map<String, Value>,
    /// The claims are the token's payload as it is (no default role was written).
    pub as_signed: bool,
}

/// Whose keys verify a token.
pub enum Route {
    /// A registered issuer's token, verified with its keys.
    Issuer(IssuerToken),
    /// Any other token: our keys verify it. The claims (the members in `keep`) when they were
    /// parsed to find out (so that they are not parsed twice).
    Ours(Option<Map<String, Value>>),
}

/// If `parsed` names a registered issuer in `iss`, verify it with that issuer's keys (and only
/// those); every other token is left to our own keys. The claims are parsed keeping only the
/// top-level members in `keep` (which must name `iss` and the first key of `role_claim`).
pub fn verify(
    issuers: &Issuers,
    parsed: &ParsedToken,
    keep: &[&str],
    role_claim: &RoleClaim,
) -> Result<Route, AuthError> {
    if issuers.is_empty() {
        return Ok(Route::Ours(None));
    }
    let mut claims = parsed.claims_keeping(keep)?;
    let Some(issuer) = claims
        .get("iss")
        .and_then(Value::as_str)
        .and_then(|iss| issuers.by_iss.get(iss))
        .cloned()
    else {
        return Ok(Route::Ours(Some(claims)));
    };
    issuer.check_fresh(now_secs())?;
    let kid = parsed.kid().ok_or(TokenError::MissingKid)?;
    let issuer = match issuer.keys.get(kid) {
        Some(_) => issuer,
        None => refetched(&issuer, kid)?.ok_or(TokenError::UnknownKid)?,
    };
    let key = issuer.keys.get(kid).ok_or(TokenError::UnknownKid)?;
    parsed.verify_with(key)?;
    let as_signed = role_claim.select(&claims).is_some();
    auth_core::apply_default_role(&mut claims, role_claim, &issuer.default_role)?;
    Ok(Route::Issuer(IssuerToken {
        issuer,
        claims,
        as_signed,
    }))
}

/// An unknown kid of a registered issuer: perhaps the issuer rotated. When this session is
/// granted a refetch and the worker commits it in time (`refetch_and_wait`), the issuers are read
/// again for this statement and the issuer as it is now is returned (the caller looks the kid up
/// again). Only this direction (a key added by a refetch the statement itself asked for) changes
/// a statement's view; a removal takes effect at the next statement as always.
fn refetched(issuer: &Issuer, _kid: &str) -> Result<Option<Rc<Issuer>>, AuthError> {
    if keyset::changed_in_xact() || !refetch_and_wait(issuer)? {
        return Ok(None);
    }
    // SAFETY: processes pending invalidations (our callbacks only set flags).
    unsafe { pg_sys::AcceptInvalidationMessages() };
    if !keyset::take_stale(Part::Issuers) {
        return Ok(None);
    }
    CACHE.with(|c| *c.borrow_mut() = None);
    let set = Rc::new(read()?);
    let found = set.by_iss.get(&issuer.issuer).cloned();
    CACHE.with(|c| {
        *c.borrow_mut() = Some(Cached {
            statement: statement::current(),
            private: false,
            set,
        })
    });
    Ok(found)
}

/// Ask the worker of this database for a refetch of `issuer` (granted at most once per issuer
/// per auth.issuer_refetch_cooldown, across all sessions) and, when this session was granted
/// it, wait until the worker has committed the result: at most auth.issuer_fetch_timeout + 2 s
/// (capped at 32 s), and not at all when no worker runs. True when the refetch is done. On a
/// standby nothing is requested: the primary fetches.
fn refetch_and_wait(issuer: &Issuer) -> Result<bool, AuthError> {
    // SAFETY: reads recovery state from shared memory.
    if unsafe { pg_sys::RecoveryInProgress() } {
        return Ok(false);
    }
    let now = now_secs();
    let cooldown = settings::ISSUER_REFETCH_COOLDOWN_SECS.get() as i64;
    if !issuer_shared::request_refetch(&issuer.issuer, now, cooldown) {
        return Ok(false);
    }
    let deadline =
        std::time::Instant::now() + Duration::from_secs(fetch_timeout().as_secs().min(30) + 2);
    while issuer_shared::request_pending(&issuer.issuer)
        && issuer_shared::worker_pid() != 0
        && std::time::Instant::now() < deadline
    {
        // SAFETY: waits on this backend's latch for at most 50 ms; interrupts are checked after.
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                50,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
        pgrx::check_for_interrupts!();
    }
    Ok(!issuer_shared::request_pending(&issuer.issuer))
}

fn fetch_timeout() -> Duration {
    Duration::from_secs(settings::ISSUER_FETCH_TIMEOUT_SECS.get().max(1) as u64)
}

/// The fetch policy from the settings.
pub fn policy() -> FetchPolicy {
    FetchPolicy {
        allow_private: settings::ISSUER_ALLOW_PRIVATE.get(),
        ca_file: settings::text(&settings::ISSUER_CA_FILE),
        timeout: fetch_timeout(),
    }
}

fn issuer_error(e: IssuerError) -> AuthError {
    match e {
        IssuerError::BadUrl(m) => AuthError::BadArgument(m),
        other => AuthError::Issuer(other.to_string()),
    }
}

/// Fetch `issuer`'s keys: its discovery document first when `jwks_uri` is None. Compared with
/// `stored` (the keys it has now). The result for sql/issuers.sql.
fn fetch_issuer(issuer: &str, jwks_uri: Option<&str>, stored: &Value) -> Result<Value, AuthError> {
    let policy = policy();
    let what = |e: String| AuthError::Issuer(format!("issuer {}: {e}", shown(issuer)));
    let jwks_uri = match jwks_uri {
        Some(u) => auth_core::check_url(u).map_err(issuer_error)?,
        None => {
            let url = auth_core::discovery_url(issuer).map_err(issuer_error)?;
            let doc = fetch::get(url.as_str(), &policy).map_err(what)?;
            auth_core::jwks_uri_from_discovery(&doc.body, issuer)
                .map_err(|e| what(e.to_string()))?
        }
    };
    let fetched = fetch::get(jwks_uri.as_str(), &policy).map_err(what)?;
    let selection = auth_core::select_keys(&fetched.body).map_err(|e| what(e.to_string()))?;
    let refresh_after = auth_core::refresh_after(
        fetched.cache_control.as_deref(),
        settings::ISSUER_MIN_REFRESH_SECS.get() as u64,
        settings::ISSUER_MAX_REFRESH_SECS.get() as u64,
        600,
    );
    let old: Vec<IssuerKey> = stored
        .as_array()
        .map(|a| a.iter().filter_map(stored_key).collect())
        .unwrap_or_default();
    let changes = auth_core::key_changes(&old, &selection.keys);
    let keys: Vec<Value> = selection
        .keys
        .iter()
        .map(|k| json!({"kid": k.kid, "alg": k.alg.as_str(), "verify_key": hex(&k.verify_key)}))
        .collect();
    Ok(json!({
        "jwks_uri": jwks_uri.as_str(),
        "refresh_after": refresh_after,
        "keys": keys,
        "skipped": selection.skipped,
        "added": changes.added,
        "removed": changes.removed,
        "replaced": changes.replaced,
    }))
}

fn stored_key(v: &Value) -> Option<IssuerKey> {
    Some(IssuerKey {
        kid: v.get("kid")?.as_str()?.to_string(),
        alg: Alg::parse(v.get("alg")?.as_str()?)?,
        verify_key: unhex(v.get("verify_key")?.as_str()?)?,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

pub(crate) mod auth {
    use super::*;

    /// Internal: fetch an issuer's keys (auth_private._refresh_issuer stores them).
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _fetch_issuer(issuer: &str, jwks_uri: Option<&str>, stored: pgrx::JsonB) -> pgrx::JsonB {
        // SAFETY: reads recovery state from shared memory.
        if unsafe { pg_sys::RecoveryInProgress() } {
            AuthError::NotReady {
                message: "issuers' keys are not fetched on a standby".into(),
                hint: "refresh the issuer on the primary; standbys read what it fetched".into(),
            }
            .raise()
        }
        crate::shmem::store().or_raise();
        match fetch_issuer(issuer, jwks_uri, &stored.0) {
            Ok(v) => {
                issuer_shared::count(Counter::FetchOk);
                let changed = ["added", "removed", "replaced"]
                    .iter()
                    .any(|k| v[*k].as_array().is_some_and(|a| !a.is_empty()));
                if changed {
                    issuer_shared::count(Counter::KeysChanged);
                }
                pgrx::JsonB(v)
            }
            Err(e) => {
                issuer_shared::count(Counter::FetchFailed);
                e.raise()
            }
        }
    }

    /// Internal: refuse an issuer or jwks_uri that could never be fetched, before anything is
    /// written (22023).
    #[pg_extern(immutable, parallel_safe, schema = "auth_private")]
    fn _check_issuer_urls(issuer: &str, jwks_uri: Option<&str>) {
        auth_core::check_url(issuer)
            .map_err(|e| AuthError::BadArgument(format!("issuer: {e}")))
            .or_raise();
        if let Some(u) = jwks_uri {
            auth_core::check_url(u)
                .map_err(|e| AuthError::BadArgument(format!("jwks_uri: {e}")))
                .or_raise();
        }
    }

    /// Internal: the statement triggers on the issuer tables publish every committed write.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _issuers_changed() {
        keyset::note_change(Change::Issuers).or_raise();
        commits::note_change(Part::Issuers);
    }

    /// Internal: this database has issuers now; its background worker should run.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _issuer_added() {
        issuer_shared::mark_database_wanted();
    }
}
