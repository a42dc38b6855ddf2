//! Token revocations (README "Revoking tokens") as verification consults them: which entry, if
//! any, refuses a token whose signature and claims are otherwise valid, and the lifetime bound
//! that lets entries be forgotten.
//!
//! Four kinds of entry, each a hash lookup:
//! - `subject`: every token of `sub` whose `iat` is before the cut-off (`revoke_tokens`,
//!   `sign_out`); a token without `iat` cannot be shown to be newer, so any subject entry refuses
//!   it. Only the latest cut-off of a subject matters, so one number per subject is kept.
//! - `session`: every token whose `session_id` claim equals the value.
//! - `jti`: every token whose `jti` claim equals the value.
//! - `token`: the token whose SHA-256 is the value (a token without `jti`).
//!
//! The maps use FxHash: their keys come from verified tokens and from administrators, and a
//! lookup is on every verification, including token-cache hits (SipHash would cost more than the
//! lookups themselves).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

use rustc_hash::FxHasher;
use serde_json::{Map, Value};

use crate::error::TokenError;

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
type FxSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

/// What an entry matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationKind {
    Subject,
    Session,
    Jti,
    Token,
}

impl RevocationKind {
    pub fn parse(s: &str) -> Option<RevocationKind> {
        Some(match s {
            "subject" => RevocationKind::Subject,
            "session" => RevocationKind::Session,
            "jti" => RevocationKind::Jti,
            "token" => RevocationKind::Token,
            _ => return None,
        })
    }
}

/// One stored entry, as read from the table.
#[derive(Clone, Debug, PartialEq)]
pub struct RevocationEntry {
    /// The row's id: entries read twice (an incremental read overlaps the previous one) count
    /// once.
    pub id: i64,
    pub kind: RevocationKind,
    /// The subject, session id or jti; for `Token` the token's SHA-256 as 64 lower-case hex
    /// digits after `sha256:`.
    pub value: String,
    /// For `Subject`: tokens with an `iat` before this (seconds since the Unix epoch, with
    /// fractions) are refused.
    pub issued_before: Option<f64>,
}

/// The entries of one database, as one backend holds them.
#[derive(Default, Clone, Debug)]
pub struct RevocationSet {
    ids: FxSet<i64>,
    /// Per subject: the latest cut-off and the id of the entry that set it.
    subjects: FxMap<Box<str>, (f64, i64)>,
    sessions: FxMap<Box<str>, i64>,
    jtis: FxMap<Box<str>, i64>,
    hashes: FxMap<[u8; 32], i64>,
    /// Heap bytes of the keys' strings (each subject, session id and jti once), as
    /// [`malloc_footprint`] counts them.
    string_bytes: usize,
}

/// What a request of `size` bytes takes from glibc's malloc on a 64-bit system: an 8-byte header,
/// rounded up to 16, at least 32 (large blocks are mapped whole pages; other allocators differ by
/// a few bytes). A 36-byte UUID subject takes 48.
pub fn malloc_footprint(size: usize) -> usize {
    if size == 0 {
        0
    } else {
        (size + 8).next_multiple_of(16).max(32)
    }
}

/// Bytes of the one allocation of a std hash table with `capacity` (as `capacity()` reports it)
/// holding `T`s: the buckets, then one control byte per bucket and a group's (16) more, the
/// control bytes aligned to 16 (hashbrown's `TableLayout`; the x86-64 SSE2 group width, 8 bytes
/// less per table where groups are narrower). An empty table allocates nothing.
fn table_bytes<T>(capacity: usize) -> usize {
    const GROUP: usize = 16;
    if capacity == 0 {
        return 0;
    }
    // capacity() is buckets - 1 below 8 buckets, else 7/8 of them (a power of two).
    let buckets = if capacity < 7 {
        capacity + 1
    } else {
        (capacity / 7 * 8).next_power_of_two()
    };
    let ctrl_offset = (std::mem::size_of::<T>() * buckets).next_multiple_of(GROUP);
    ctrl_offset + buckets + GROUP
}

/// An entry's value as the hash of a whole token: `sha256:` and 64 hex digits.
pub fn token_hash_value(hash: &[u8; 32]) -> String {
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in hash {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn parse_hash_value(value: &str) -> Option<[u8; 32]> {
    let hex = value.strip_prefix("sha256:")?;
    // Hex digits only: from_str_radix alone would also take a sign ("+f").
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A claim as the text an entry names it by: a string as it is, any other non-null JSON value as
/// its JSON text (so that `"sub": 42` is still matched by a revocation of subject `42`).
fn claim_text<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    match claims.get(name)? {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Null => None,
        other => Some(std::borrow::Cow::Owned(other.to_string())),
    }
}

impl RevocationSet {
    /// Number of distinct entries held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Heap bytes held: the hash tables (sized by their capacity, so including free slots) and
    /// the strings of their keys, each allocation as [`malloc_footprint`] counts it.
    /// core/tests/memory.rs checks it against a counting allocator.
    pub fn bytes(&self) -> usize {
        [
            table_bytes::<i64>(self.ids.capacity()),
            table_bytes::<(Box<str>, (f64, i64))>(self.subjects.capacity()),
            table_bytes::<(Box<str>, i64)>(self.sessions.capacity()),
            table_bytes::<(Box<str>, i64)>(self.jtis.capacity()),
            table_bytes::<([u8; 32], i64)>(self.hashes.capacity()),
        ]
        .into_iter()
        .map(malloc_footprint)
        .sum::<usize>()
            + self.string_bytes
    }

    /// Add `entry`; an id already held is ignored. An entry that cannot match anything (an
    /// unknown kind, a malformed hash, a subject entry without cut-off) is kept as the most
    /// restrictive reading of it: a subject entry without cut-off refuses every token of the
    /// subject.
    pub fn insert(&mut self, entry: RevocationEntry) {
        if !self.ids.insert(entry.id) {
            return;
        }
        let id = entry.id;
        let len = entry.value.len();
        match entry.kind {
            RevocationKind::Subject => {
                // No cut-off, or one that is not a number (the table cannot hold one): every
                // token of the subject, whatever order the entries come in.
                let cut = entry
                    .issued_before
                    .filter(|c| !c.is_nan())
                    .unwrap_or(f64::INFINITY);
                match self.subjects.entry(entry.value.into_boxed_str()) {
                    Entry::Occupied(mut slot) => {
                        if cut > slot.get().0 {
                            *slot.get_mut() = (cut, id);
                        }
                    }
                    Entry::Vacant(slot) => {
                        slot.insert((cut, id));
                        self.string_bytes += malloc_footprint(len);
                    }
                }
            }
            RevocationKind::Session => {
                if self
                    .sessions
                    .insert(entry.value.into_boxed_str(), id)
                    .is_none()
                {
                    self.string_bytes += malloc_footprint(len);
                }
            }
            RevocationKind::Jti => {
                if self.jtis.insert(entry.value.into_boxed_str(), id).is_none() {
                    self.string_bytes += malloc_footprint(len);
                }
            }
            RevocationKind::Token => {
                if let Some(hash) = parse_hash_value(&entry.value) {
                    self.hashes.insert(hash, id);
                }
            }
        }
    }

    /// Whether the hash of the whole token is needed to check it (only when some entry is by
    /// hash: most sets have none, and hashing costs more than every lookup together).
    pub fn needs_token_hash(&self) -> bool {
        !self.hashes.is_empty()
    }

    /// The id of an entry that refuses a token with these `claims` (and SHA-256 `hash`, needed
    /// only when [`Self::needs_token_hash`]), or None.
    pub fn matching(
        &self,
        claims: &Map<String, Value>,
        hash: impl FnOnce() -> [u8; 32],
    ) -> Option<i64> {
        if self.ids.is_empty() {
            return None;
        }
        if !self.subjects.is_empty() {
            if let Some(sub) = claim_text(claims, "sub") {
                if let Some(&(cut, id)) = self.subjects.get(sub.as_ref()) {
                    // No iat (or one that is not a number): not provably newer than the cut-off.
                    let newer = claims
                        .get("iat")
                        .and_then(Value::as_f64)
                        .is_some_and(|iat| iat >= cut);
                    if !newer {
                        return Some(id);
                    }
                }
            }
        }
        if !self.sessions.is_empty() {
            if let Some(id) =
                claim_text(claims, "session_id").and_then(|s| self.sessions.get(s.as_ref()))
            {
                return Some(*id);
            }
        }
        if !self.jtis.is_empty() {
            if let Some(id) = claim_text(claims, "jti").and_then(|s| self.jtis.get(s.as_ref())) {
                return Some(*id);
            }
        }
        if !self.hashes.is_empty() {
            if let Some(id) = self.hashes.get(&hash()) {
                return Some(*id);
            }
        }
        None
    }
}

/// The lifetime bound (`auth.max_token_lifetime`): a token whose `exp - iat` exceeds
/// `max_lifetime` seconds is refused. A token without `iat` is refused when its `exp` is more than
/// `max_lifetime + leeway` seconds after `now`: so that any token that was ever accepted before a
/// revocation is refused as expired `max_lifetime + 2 * leeway` (and the second of a clock read
/// in whole seconds) after it, when its entry may be purged (sql/token_revocations.sql).
pub fn check_lifetime(
    claims: &Map<String, Value>,
    now: i64,
    leeway: i64,
    max_lifetime: i64,
) -> Result<(), TokenError> {
    check_lifetime_of(
        claims.get("exp").and_then(Value::as_f64),
        claims.get("iat").and_then(Value::as_f64),
        now,
        leeway,
        max_lifetime,
    )
}

/// [`check_lifetime`] on a token's `exp` and `iat` when they are numbers (None otherwise).
pub fn check_lifetime_of(
    exp: Option<f64>,
    iat: Option<f64>,
    now: i64,
    leeway: i64,
    max_lifetime: i64,
) -> Result<(), TokenError> {
    let Some(exp) = exp else {
        return Err(TokenError::MissingExp);
    };
    let max = max_lifetime.max(0) as f64;
    let too_long = match iat {
        Some(iat) => exp - iat > max,
        None => exp - now as f64 > max + leeway.max(0) as f64,
    };
    if too_long {
        return Err(TokenError::LifetimeTooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn entry(id: i64, kind: RevocationKind, value: &str, cut: Option<f64>) -> RevocationEntry {
        RevocationEntry {
            id,
            kind,
            value: value.into(),
            issued_before: cut,
        }
    }

    #[test]
    fn subject_cut_off_refuses_older_and_missing_iat_only() {
        let mut set = RevocationSet::default();
        set.insert(entry(1, RevocationKind::Subject, "u1", Some(1000.5)));
        let no_hash = || panic!("no hash entries");
        assert_eq!(
            set.matching(&claims(json!({"sub": "u1", "iat": 1000})), no_hash),
            Some(1)
        );
        assert_eq!(
            set.matching(&claims(json!({"sub": "u1"})), no_hash),
            Some(1)
        );
        assert_eq!(
            set.matching(&claims(json!({"sub": "u1", "iat": "1001"})), no_hash),
            Some(1)
        );
        assert_eq!(
            set.matching(&claims(json!({"sub": "u1", "iat": 1001})), no_hash),
            None
        );
        assert_eq!(
            set.matching(&claims(json!({"sub": "u2", "iat": 1})), no_hash),
            None
        );
        // A later cut-off wins; an earlier one read afterwards does not lower it.
        set.insert(entry(2, RevocationKind::Subject, "u1", Some(2000.0)));
        set.insert(entry(3, RevocationKind::Subject, "u1", Some(1500.0)));
        assert_eq!(
            set.matching(&claims(json!({"sub": "u1", "iat": 1999})), no_hash),
            Some(2)
        );
        assert_eq!(set.len(), 3);
        // The same id read again counts once.
        set.insert(entry(3, RevocationKind::Subject, "u1", Some(1500.0)));
        assert_eq!(set.len(), 3);
        // A numeric sub is matched by its JSON text.
        set.insert(entry(4, RevocationKind::Subject, "42", Some(10.0)));
        assert_eq!(
            set.matching(&claims(json!({"sub": 42, "iat": 5})), no_hash),
            Some(4)
        );
    }

    #[test]
    fn session_jti_and_hash() {
        let mut set = RevocationSet::default();
        set.insert(entry(1, RevocationKind::Session, "s1", None));
        set.insert(entry(2, RevocationKind::Jti, "j1", None));
        let h = [7u8; 32];
        set.insert(entry(3, RevocationKind::Token, &token_hash_value(&h), None));
        assert!(set.needs_token_hash());
        assert_eq!(
            set.matching(&claims(json!({"session_id": "s1"})), || [0; 32]),
            Some(1)
        );
        assert_eq!(
            set.matching(&claims(json!({"jti": "j1"})), || [0; 32]),
            Some(2)
        );
        assert_eq!(set.matching(&claims(json!({"jti": "j2"})), || h), Some(3));
        assert_eq!(
            set.matching(&claims(json!({"jti": "j2"})), || [0; 32]),
            None
        );
    }

    #[test]
    fn empty_set_matches_nothing_without_hashing() {
        let set = RevocationSet::default();
        assert_eq!(
            set.matching(&claims(json!({"sub": "u"})), || panic!("hashed")),
            None
        );
    }

    #[test]
    fn lifetime_bound() {
        let week = 7 * 24 * 3600;
        let ok = claims(json!({"iat": 0, "exp": week}));
        assert_eq!(check_lifetime(&ok, 0, 30, week), Ok(()));
        let long = claims(json!({"iat": 0, "exp": week + 1}));
        assert_eq!(
            check_lifetime(&long, 0, 30, week),
            Err(TokenError::LifetimeTooLong)
        );
        // Without iat: the remaining lifetime counts.
        let no_iat = claims(json!({"exp": 1000 + week + 30}));
        assert_eq!(check_lifetime(&no_iat, 1000, 30, week), Ok(()));
        assert_eq!(
            check_lifetime(&no_iat, 999, 30, week),
            Err(TokenError::LifetimeTooLong)
        );
    }
}
