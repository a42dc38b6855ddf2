//! Target `role_claim`: [`RoleClaim::parse`], the parser of `auth.role_claim` (PostgREST's
//! `jwt-role-claim-key` syntax, refused when it does not parse), [`RoleClaim::select`], and
//! [`check_claims`] with the parsed path.
//!
//! Input: the setting's text, then optionally a NUL byte and a JSON claims object (when the part
//! after the NUL is not an object without duplicate names, a fixed claims set is used).
//!
//! Properties: parsing never panics; a refusal's message is not empty and names a position
//! within the text; an accepted path prints (`Display`) to a text that parses to the same path;
//! a text without a leading `.` is one top-level name, as is; `select` agrees with
//! [`expected_role`], a reference walk built on `serde_json`'s JSON Pointer lookup; and
//! `check_claims` accepts only claims whose selected value is absent or an allowed string.

use pg_auth_keys_core::{
    check_claims, parse_json_object, ClaimRules, RoleClaim, RoleClaimError, RoleClaimStep, RoleList,
};
use serde_json::{json, Map, Value};

pub fn run(data: &[u8]) {
    let (text, claims) = match data.iter().position(|&b| b == 0) {
        Some(p) => (&data[..p], Some(&data[p + 1..])),
        None => (data, None),
    };
    let text = String::from_utf8_lossy(text);
    let path = match RoleClaim::parse(&text) {
        Ok(path) => path,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            if let Some(at) = position(&e) {
                assert!(at >= 1 && at <= text.chars().count() + 1, "{e} in {text:?}");
            }
            return;
        }
    };
    assert!(!path.steps().is_empty());
    let printed = path.to_string();
    assert_eq!(RoleClaim::parse(&printed).as_ref(), Ok(&path), "{printed}");
    if !text.starts_with('.') {
        assert_eq!(path.steps(), [RoleClaimStep::Key(text.to_string())]);
    }

    let claims = claims
        .and_then(|c| parse_json_object(c).ok())
        .unwrap_or_else(|| fixed_claims(&path));
    let selected = path.select(&claims);
    assert_eq!(selected, expected_role(&claims, &path), "{text:?}");

    let rules = ClaimRules {
        role_claim: path,
        allowed_roles: RoleList::parse("anon,authenticated"),
        ..ClaimRules::with_defaults(1_700_000_000)
    };
    let mut claims = claims;
    claims.insert("exp".into(), json!(1_800_000_000));
    claims.remove("nbf");
    claims.remove("iat");
    for refused in ["aud", "iss"] {
        claims.remove(refused);
    }
    let accepted = check_claims(&claims, &rules).is_ok();
    let role = expected_role(&claims, &rules.role_claim);
    assert_eq!(
        accepted,
        role.is_none_or(|r| r.as_str().is_some_and(|r| rules.allowed_roles.contains(r))),
        "{role:?}"
    );
}

fn position(e: &RoleClaimError) -> Option<usize> {
    match e {
        RoleClaimError::Empty => None,
        RoleClaimError::ExpectedKey(at)
        | RoleClaimError::UnclosedQuote(at)
        | RoleClaimError::BadIndex(at)
        | RoleClaimError::Filter(at)
        | RoleClaimError::Unexpected(at) => Some(*at),
    }
}

/// Claims that hold something at `path`: "postgres" there, so that the role check has work.
fn fixed_claims(path: &RoleClaim) -> Map<String, Value> {
    let mut value = json!("postgres");
    for step in path.steps().iter().rev() {
        value = match step {
            RoleClaimStep::Key(k) => json!({ k: value }),
            RoleClaimStep::Index(n) => {
                let mut items = vec![Value::Null; (*n).min(64)];
                items.push(value);
                Value::Array(items)
            }
        };
    }
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The value a path selects, by a different route: each prefix of the path as a JSON Pointer
/// (RFC 6901), with the kind of each step checked against what the pointer found (an index
/// selects only from an array, a name only from an object, as in PostgREST).
pub fn expected_role<'a>(claims: &'a Map<String, Value>, path: &RoleClaim) -> Option<&'a Value> {
    let root = claims;
    let mut pointer = String::new();
    let mut current: Option<&'a Value> = None;
    for (i, step) in path.steps().iter().enumerate() {
        let in_array = matches!(current, Some(Value::Array(_)));
        let in_object = i == 0 || matches!(current, Some(Value::Object(_)));
        match step {
            RoleClaimStep::Key(k) if in_object => {
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
            }
            RoleClaimStep::Index(n) if in_array => pointer.push_str(&format!("/{n}")),
            _ => return None,
        }
        current = Some(pointer_in(root, &pointer)?);
    }
    current
}

fn pointer_in<'a>(claims: &'a Map<String, Value>, pointer: &str) -> Option<&'a Value> {
    // The first token names a member of the claims object itself.
    let rest = pointer.strip_prefix('/')?;
    let (first, tail) = match rest.find('/') {
        Some(p) => (&rest[..p], &rest[p..]),
        None => (rest, ""),
    };
    let first = first.replace("~1", "/").replace("~0", "~");
    claims.get(&first)?.pointer(tail)
}
