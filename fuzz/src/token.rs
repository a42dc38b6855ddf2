//! Target `token`: [`parse_compact`], then [`ParsedToken::verify_with`] against one fixed key per
//! algorithm, then [`ParsedToken::claims`] and [`check_claims`] under several fixed rule sets —
//! the path of `auth.verify_jwt` (API.md §3).
//!
//! Input:
//! - first byte below 0x80: the whole input is the token text (invalid UTF-8 replaced by
//!   U+FFFD);
//! - `0x80 | 2k`: parts separated by 0xFF, each base64url-encoded and joined with `.`
//!   (header‖0xFF‖payload‖0xFF‖signature gives a three-segment token; other counts give others);
//! - `0x80 | 2k + 1`: the same, then signed with fixture key `k mod 12` ([`Alg::ALL`] order) and
//!   the signature appended as the last segment, so header and payload mutations are verified.
//!
//! Properties: a parsed token re-encodes to exactly its text (canonical base64url); its `alg`
//! and `kid` are the header's; `verify_with` succeeds only with a key of the token's `alg`, fails
//! only with `AlgMismatch` or `BadSignature`, and succeeds for a token we signed whose header
//! names the signing key's `alg`; `check_claims` accepts only claims with a numeric `exp` that
//! satisfy the audience and issuer rules, and whose role claim (at the rule set's path) is absent
//! or an allowed string.

use crate::fixtures::{self, MAX_TOKEN_BYTES};
use crate::{parts, STRUCTURED};
use pg_auth_keys_core::{
    b64url_encode, check_claims, parse_compact, Alg, ClaimRules, ParsedToken, TokenError,
};
use serde_json::{Map, Value};
use std::borrow::Cow;

pub fn run(data: &[u8]) {
    let fx = fixtures::get();
    let (text, signer): (Cow<str>, Option<Alg>) = match data.split_first() {
        Some((&sel, body)) if sel >= STRUCTURED => {
            let sel = sel - STRUCTURED;
            let mut text = parts(body)
                .iter()
                .map(|p| b64url_encode(p))
                .collect::<Vec<_>>()
                .join(".");
            let signer = if sel & 1 == 1 {
                let alg = Alg::ALL[usize::from(sel >> 1) % Alg::ALL.len()];
                let sig = fx
                    .key(alg)
                    .key
                    .sign(text.as_bytes())
                    .expect("fixture signs");
                text.push('.');
                text.push_str(&b64url_encode(&sig));
                Some(alg)
            } else {
                None
            };
            (Cow::Owned(text), signer)
        }
        _ => (String::from_utf8_lossy(data), None),
    };
    let parsed = match parse_compact(&text, MAX_TOKEN_BYTES) {
        Ok(t) => t,
        Err(e) => {
            if text.len() > MAX_TOKEN_BYTES {
                assert_eq!(e, TokenError::TooLarge);
            }
            // Never a reason that needs a key or claims.
            assert!(
                matches!(
                    e,
                    TokenError::TooLarge
                        | TokenError::Malformed(_)
                        | TokenError::UnsupportedAlg
                        | TokenError::EmbeddedKey
                        | TokenError::CritUnsupported
                ),
                "parse_compact: {e:?}"
            );
            return;
        }
    };
    check_parsed(&text, &parsed);

    for f in &fx.keys {
        let key_alg = f.prepared.alg();
        match parsed.verify_with(&f.prepared) {
            Ok(()) => assert_eq!(key_alg, parsed.alg(), "verified with a key of another alg"),
            Err(TokenError::AlgMismatch) => assert_ne!(key_alg, parsed.alg()),
            Err(TokenError::BadSignature) => {
                assert_eq!(key_alg, parsed.alg());
                assert!(
                    signer != Some(key_alg),
                    "a token signed with the {key_alg} fixture does not verify"
                );
            }
            Err(e) => panic!("verify_with: {e:?}"),
        }
    }

    let keep = [
        "exp",
        "nbf",
        "iat",
        "aud",
        "iss",
        "sub",
        "role",
        "api_key_id",
    ];
    let kept = parsed.claims_keeping(&keep);
    assert_eq!(
        kept,
        parsed.claims().map(|m| {
            m.into_iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .collect::<Map<_, _>>()
        }),
        "claims_keeping disagrees with claims"
    );
    match parsed.claims() {
        Ok(claims) => {
            for rules in &fx.rules {
                if check_claims(&claims, rules).is_ok() {
                    check_accepted(&claims, rules);
                }
            }
        }
        Err(e) => assert!(matches!(e, TokenError::Malformed(_)), "claims: {e:?}"),
    }
}

fn check_parsed(text: &str, t: &ParsedToken) {
    let segments: Vec<&str> = text.split('.').collect();
    let [h, p, s] = segments[..] else {
        panic!("parsed a token of {} segments", segments.len())
    };
    assert!(text.len() <= MAX_TOKEN_BYTES);
    assert_eq!(t.signing_input(), format!("{h}.{p}").as_bytes());
    assert_eq!(b64url_encode(t.payload()), p);
    assert_eq!(b64url_encode(t.signature()), s);
    assert!(!t.signature().is_empty());
    let header = t.header();
    assert_eq!(
        header.get("alg").and_then(Value::as_str),
        Some(t.alg().as_str())
    );
    assert_eq!(
        header.get("kid").and_then(Value::as_str),
        t.kid(),
        "kid differs from the header's"
    );
    if let Some(kid) = t.kid() {
        assert!(!kid.is_empty() && kid.len() <= pg_auth_keys_core::MAX_KID_BYTES);
    }
    for refused in ["jwk", "jku", "x5u", "x5c", "crit", "b64"] {
        assert!(!header.contains_key(refused), "accepted a {refused} header");
    }
}

/// What an accepted claims set must satisfy (API.md §3): a numeric `exp` not in the past (with
/// leeway), the configured audience and issuer.
fn check_accepted(claims: &Map<String, Value>, rules: &ClaimRules) {
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .expect("accepted a token without a numeric exp");
    let leeway = rules.leeway.max(0) as f64;
    assert!(
        rules.now as f64 <= exp + leeway,
        "accepted an expired token"
    );
    if let Some(aud) = &rules.audience {
        let ok = match claims.get("aud") {
            Some(Value::String(s)) => s == aud,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud)),
            _ => false,
        };
        assert!(ok, "accepted a token for another audience");
    }
    if let Some(iss) = &rules.issuer {
        assert_eq!(
            claims.get("iss").and_then(Value::as_str),
            Some(iss.as_str())
        );
    }
    if let Some(role) = crate::role_claim::expected_role(claims, &rules.role_claim) {
        let role = role.as_str().expect("accepted a non-string role");
        assert!(rules.allowed_roles.contains(role), "accepted role {role}");
    }
}
