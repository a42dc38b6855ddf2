//! Target `json`: [`parse_json_object`], the strict parser of token headers and claims
//! (no duplicate member names at any depth, no U+0000, UTF-8 only), compared with plain
//! `serde_json` and with [`parse_json_object_keeping`], its one-pass form for verified claims
//! (same refusals and errors, exactly the named members kept); and [`numbers_survive_doubles`], which `auth.sign_jwt` runs on its claims text.
//!
//! Input: the JSON text, as bytes.
//!
//! Properties: an accepted input is an object that `serde_json` parses to the same value and
//! that survives a serialize/parse round trip (floats to within an ulp: serde_json without its
//! `float_roundtrip` feature may read a printed float one ulp off, as corpus file
//! `regress-float-ulp` shows); an input `serde_json` parses as an object but the strict parser
//! refuses must repeat a member name (`Duplicate`) or hold U+0000 (`Nul`); `NotObject` only for
//! valid JSON that is not an object. `numbers_survive_doubles` takes any text, and says yes for
//! an accepted object printed by serde_json (shortest round-trip floats, ties to the even digit)
//! whose integers are within ±2^53, and for each of its floats printed by Rust's `{}` (which
//! breaks ties otherwise: corpus file `regress-shortest-tie`). An accepted object, signed as claims by [`sign_compact`] (HS256 or EdDSA fixture),
//! parses back (when within `auth.max_token_bytes`), verifies, and yields the same claims: what
//! `auth.sign_jwt` issues, `auth.verify_jwt` reads the same way.

use crate::fixtures::{self, MAX_TOKEN_BYTES};
use pg_auth_keys_core::{
    numbers_survive_doubles, parse_compact, parse_json_object, parse_json_object_keeping,
    sign_compact, Alg, JsonError,
};
use serde_json::{Map, Value};

pub fn run(data: &[u8]) {
    let _ = numbers_survive_doubles(&String::from_utf8_lossy(data));
    let strict = parse_json_object(data);
    // The one-pass parser of verified claims refuses the same inputs with the same error and
    // keeps exactly the named members.
    let keep = ["exp", "nbf", "iat", "aud", "iss", "sub", "role", "a", "b"];
    let kept = parse_json_object_keeping(data, &keep);
    let want = strict.clone().map(|m| {
        m.into_iter()
            .filter(|(k, _)| keep.contains(&k.as_str()))
            .collect::<Map<_, _>>()
    });
    assert_eq!(
        kept, want,
        "parse_json_object_keeping disagrees with parse_json_object"
    );
    let plain = serde_json::from_slice::<Value>(data);
    match (&strict, &plain) {
        (Ok(map), Ok(Value::Object(other))) => {
            assert_eq!(map, other, "strict and plain parsers read different values");
            let text = serde_json::to_vec(map).expect("serializable");
            let back = parse_json_object(&text).expect("round trip");
            assert!(
                same(&Value::Object(back), &Value::Object(map.clone())),
                "round trip"
            );
            let value = Value::Object(map.clone());
            assert!(!has_nul(&value), "accepted U+0000");
            if exact_numbers(&value) {
                let printed = String::from_utf8(text).unwrap();
                assert!(numbers_survive_doubles(&printed), "numbers of {printed}");
                // Rust's shortest printer breaks ties differently from ryu's (serde_json's):
                // its output must pass too.
                for_each_float(&value, &mut |f| {
                    let rust = format!("[{f}]");
                    assert!(numbers_survive_doubles(&rust), "{rust}");
                });
            }
            sign_and_read(map, data.len());
        }
        (Ok(_), _) => panic!("strict parser accepted what serde_json refuses: {plain:?}"),
        // A repeated name may sit inside an array, or before a syntax error.
        (Err(JsonError::Duplicate), _) | (Err(JsonError::NotObject), Ok(_)) => {}
        (Err(JsonError::Nul), Ok(v)) => assert!(has_nul(v), "Nul for a value without U+0000"),
        (Err(JsonError::Nul), Err(_)) => {}
        (Err(JsonError::NotObject), Err(e)) => panic!("NotObject for invalid JSON: {e}"),
        (Err(JsonError::Syntax), Ok(Value::Object(_))) => {
            panic!("strict parser refused an object without duplicates")
        }
        (Err(JsonError::Syntax), _) => {}
    }
}

fn sign_and_read(claims: &Map<String, Value>, n: usize) {
    let alg = if n.is_multiple_of(2) {
        Alg::HS256
    } else {
        Alg::EdDSA
    };
    let f = fixtures::get().key(alg);
    let token = sign_compact(&f.key, &f.kid, claims).expect("sign_compact");
    if token.len() > MAX_TOKEN_BYTES {
        return;
    }
    let parsed = parse_compact(&token, MAX_TOKEN_BYTES).expect("our own token parses");
    assert_eq!(parsed.kid(), Some(f.kid.as_str()));
    parsed
        .verify_with(&f.prepared)
        .expect("our own token verifies");
    let back = parsed.claims().expect("our own claims parse");
    assert!(
        same(&Value::Object(back), &Value::Object(claims.clone())),
        "claims changed"
    );
}

/// Equal, except that floats may differ in the last place (`regress-float-ulp`,
/// `regress-subnormal-ulp`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            // At most 2 ulps apart (also for subnormals, where an ulp is a large relative error).
            x == y || (x.signum() == y.signum() && x.to_bits().abs_diff(y.to_bits()) <= 2)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Does a string or member name hold U+0000?
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn for_each_float(v: &Value, f: &mut impl FnMut(f64)) {
    match v {
        Value::Number(n) if n.is_f64() => f(n.as_f64().expect("an f64")),
        Value::Array(a) => a.iter().for_each(|v| for_each_float(v, f)),
        Value::Object(o) => o.values().for_each(|v| for_each_float(v, f)),
        _ => {}
    }
}

/// Are all integers within ±2^53 (every float is, by construction, a double)?
fn exact_numbers(v: &Value) -> bool {
    const LIMIT: u64 = 1 << 53;
    match v {
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.unsigned_abs() <= LIMIT,
            (None, Some(u)) => u <= LIMIT,
            _ => true,
        },
        Value::Array(a) => a.iter().all(exact_numbers),
        Value::Object(o) => o.values().all(exact_numbers),
        _ => true,
    }
}
