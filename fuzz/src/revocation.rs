//! Target `revocation`: [`RevocationSet`] (`insert`, `matching`, `needs_token_hash`, `len`,
//! `bytes`) and [`check_lifetime`], the token-revocation rules every verification applies.
//!
//! Input (text; invalid UTF-8 replaced), one item a line:
//! - the first line: `now leeway max_lifetime` (integers; a missing or unparsable one is
//!   1700000000, 30 and 604800);
//! - a line starting with `{`: a token's claims (a JSON object; its member `_hash`, when it is a
//!   string, is the token's SHA-256 as an entry value names it, `sha256:` and 64 hex digits);
//! - any other line: an entry, its kind by the first character (`S` subject, `s` session, `j`
//!   jti, `t` token hash; another character: the line is skipped), then its value, then
//!   optionally a tab and the subject's cut-off (a float; absent: none). Entries get the ids
//!   1, 2, … in order.
//!
//! Properties, for every claims object: `matching` refuses exactly when the reference (a linear
//! scan applying each entry on its own, written from the rules in core/src/revocation.rs) finds an
//! entry that refuses, and the id it returns is one of those; the token's hash is computed only
//! when `needs_token_hash`, which holds exactly when some token entry names a well-formed hash;
//! the set built in reverse order with every entry inserted twice holds as many entries and
//! refuses the same tokens. (That `bytes` is the heap the set holds is checked against a counting
//! allocator in core/tests/memory.rs.) `check_lifetime` never panics (also at `i64::MIN/MAX` clocks), refuses a token
//! without a numeric `exp`, and accepts only tokens whose lifetime is within the bound that the
//! purge of entries rests on.

use std::cell::Cell;

use pg_auth_keys_core::{
    check_lifetime, RevocationEntry, RevocationKind, RevocationSet, TokenError,
};
use serde_json::{Map, Value};

struct Input {
    now: i64,
    leeway: i64,
    max_lifetime: i64,
    entries: Vec<RevocationEntry>,
    tokens: Vec<Map<String, Value>>,
}

fn parse(data: &[u8]) -> Input {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut params = lines.next().unwrap_or("").split_whitespace();
    let mut param = |default: i64| {
        params
            .next()
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(default)
    };
    let (now, leeway, max_lifetime) = (param(1_700_000_000), param(30), param(604_800));
    let mut entries = Vec::new();
    let mut tokens = Vec::new();
    for line in lines {
        if line.starts_with('{') {
            if let Ok(Value::Object(claims)) = serde_json::from_str::<Value>(line) {
                tokens.push(claims);
            }
            continue;
        }
        let mut chars = line.chars();
        let kind = match chars.next() {
            Some('S') => RevocationKind::Subject,
            Some('s') => RevocationKind::Session,
            Some('j') => RevocationKind::Jti,
            Some('t') => RevocationKind::Token,
            _ => continue,
        };
        let rest = chars.as_str();
        let (value, cut) = match rest.split_once('\t') {
            Some((v, c)) => (v, c.trim().parse::<f64>().ok()),
            None => (rest, None),
        };
        entries.push(RevocationEntry {
            id: entries.len() as i64 + 1,
            kind,
            value: value.to_string(),
            issued_before: cut,
        });
    }
    Input {
        now,
        leeway,
        max_lifetime,
        entries,
        tokens,
    }
}

/// A claim as entries name it: a string as it is, another non-null value as its JSON text.
fn reference_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(serde_json::to_string(other).unwrap()),
    }
}

/// `sha256:` and exactly 64 hex digits.
fn reference_hash(value: &str) -> Option<[u8; 32]> {
    let hex = value.strip_prefix("sha256:")?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = digit(hex[2 * i])? << 4 | digit(hex[2 * i + 1])?;
    }
    Some(out)
}

/// Does `entry`, on its own, refuse a token with these claims and hash?
fn refuses(entry: &RevocationEntry, claims: &Map<String, Value>, hash: Option<[u8; 32]>) -> bool {
    match entry.kind {
        RevocationKind::Subject => {
            reference_claim(claims, "sub").as_deref() == Some(entry.value.as_str()) && {
                // Provably newer only with a numeric iat at or after a (real) cut-off; no
                // cut-off, or one that is not a number, refuses every token of the subject.
                let newer = match (
                    claims.get("iat").and_then(Value::as_f64),
                    entry.issued_before,
                ) {
                    (Some(iat), Some(cut)) if !cut.is_nan() => iat >= cut,
                    _ => false,
                };
                !newer
            }
        }
        RevocationKind::Session => {
            reference_claim(claims, "session_id").as_deref() == Some(entry.value.as_str())
        }
        RevocationKind::Jti => {
            reference_claim(claims, "jti").as_deref() == Some(entry.value.as_str())
        }
        RevocationKind::Token => hash.is_some() && reference_hash(&entry.value) == hash,
    }
}

fn token_hash(claims: &Map<String, Value>) -> Option<[u8; 32]> {
    claims
        .get("_hash")
        .and_then(Value::as_str)
        .and_then(reference_hash)
}

pub fn run(data: &[u8]) {
    let input = parse(data);

    let mut set = RevocationSet::default();
    for entry in &input.entries {
        set.insert(entry.clone());
        set.insert(entry.clone());
        assert_eq!(set.len(), entry.id as usize, "an id counted twice");
        // At least a slot per id. (A repeated insert may still grow a full table: std's maps
        // reserve room before they look for the key.)
        let bytes = set.bytes();
        assert!(
            bytes >= 8 * set.len(),
            "{bytes} bytes for {} entries",
            set.len()
        );
    }
    let mut reversed = RevocationSet::default();
    for entry in input.entries.iter().rev() {
        reversed.insert(entry.clone());
        reversed.insert(entry.clone());
    }
    assert_eq!(reversed.len(), set.len(), "order changed the count");
    assert_eq!(set.is_empty(), input.entries.is_empty());

    let hashed_entries = input
        .entries
        .iter()
        .any(|e| e.kind == RevocationKind::Token && reference_hash(&e.value).is_some());
    assert_eq!(set.needs_token_hash(), hashed_entries, "needs_token_hash");

    for claims in &input.tokens {
        let hash = token_hash(claims);
        let hashed = Cell::new(false);
        let found = set.matching(claims, || {
            hashed.set(true);
            hash.unwrap_or([0; 32])
        });
        assert!(
            !hashed.get() || set.needs_token_hash(),
            "hashed a token with no hash entries"
        );
        // A token without a hash (`_hash`) is hashed to zeros, which the reference matches only
        // when an entry names zeros.
        let hash_seen = hash.or(Some([0; 32]));
        let expected = input.entries.iter().any(|e| refuses(e, claims, hash_seen));
        assert_eq!(
            found.is_some(),
            expected,
            "matching disagrees with the reference for {claims:?}"
        );
        if let Some(id) = found {
            let entry = input
                .entries
                .iter()
                .find(|e| e.id == id)
                .unwrap_or_else(|| panic!("matching returned unknown id {id}"));
            assert!(
                refuses(entry, claims, hash_seen),
                "entry {entry:?} does not refuse {claims:?}"
            );
        }
        let again = reversed.matching(claims, || hash.unwrap_or([0; 32]));
        assert_eq!(
            again.is_some(),
            expected,
            "insertion order changed matching"
        );

        check_lifetime_properties(claims, input.now, input.leeway, input.max_lifetime);
        for (now, leeway, max) in [
            (i64::MIN, i64::MIN, i64::MIN),
            (i64::MAX, i64::MAX, i64::MAX),
            (0, i64::MAX, 0),
            (i64::MAX, 0, i64::MIN),
        ] {
            check_lifetime_properties(claims, now, leeway, max);
        }
    }
}

fn check_lifetime_properties(claims: &Map<String, Value>, now: i64, leeway: i64, max: i64) {
    let result = check_lifetime(claims, now, leeway, max);
    let Some(exp) = claims.get("exp").and_then(Value::as_f64) else {
        assert_eq!(result, Err(TokenError::MissingExp), "no numeric exp");
        return;
    };
    // Exact arithmetic where f64 is exact (integers below 2^52, as real clocks and tokens are):
    // accepted exactly when the lifetime is within the bound. The purge rests on this: a token
    // issued before a cut-off has expired by the cut-off plus the bound.
    const EXACT: f64 = (1u64 << 52) as f64;
    let exact = |x: f64| x.fract() == 0.0 && x.abs() < EXACT;
    let bound = max.max(0) as f64;
    let limit = match claims.get("iat").and_then(Value::as_f64) {
        Some(iat) => [exp, iat, bound]
            .into_iter()
            .all(exact)
            .then_some(iat + bound),
        None => {
            let leeway = leeway.max(0) as f64;
            [exp, now as f64, bound, leeway]
                .into_iter()
                .all(exact)
                .then_some(now as f64 + bound + leeway)
        }
    };
    if let Some(limit) = limit {
        assert_eq!(
            result.is_ok(),
            exp <= limit,
            "{claims:?} at {now}, {leeway}, {max}"
        );
    }
    if let Err(e) = result {
        assert!(
            matches!(e, TokenError::LifetimeTooLong),
            "unexpected refusal {e:?}"
        );
    }
}
