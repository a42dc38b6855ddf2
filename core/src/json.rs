//! JSON objects for JOSE headers and JWT claims, parsed strictly.
//!
//! RFC 7515 §5.2 and RFC 7519 §7.2 allow a parser to either reject duplicate member names or keep
//! the last one; keeping one silently is how two components of a system end up reading different
//! values from the same header (`{"alg":"ES256","alg":"none"}`). We reject duplicates at every
//! depth. Input must be UTF-8 (RFC 8259 §8.1) and serde_json already refuses `\u` escapes that
//! form lone surrogates (tested below), so every accepted string is valid Unicode. serde_json's
//! recursion limit (128) bounds nesting, so hostile input cannot overflow the stack.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_json::{Map, Number, Value};
use std::fmt;

/// Why a byte string is not an acceptable JSON object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all (syntax, encoding, lone surrogate, trailing data, too deep).
    Syntax,
    /// Valid JSON, but not an object.
    NotObject,
    /// An object (at any depth) names the same member twice.
    Duplicate,
    /// A string or member name holds U+0000, which PostgreSQL text and jsonb cannot hold: a
    /// token with one would verify and then fail to become SQL values.
    Nul,
}

const DUPLICATE: &str = "duplicate member name";
const NUL: &str = "NUL character";

/// Parse `bytes` as one JSON object, refusing duplicate member names at any depth.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = match StrictSeed.deserialize(&mut de) {
        Ok(v) => v,
        Err(e) if e.is_data() && e.to_string().starts_with(DUPLICATE) => {
            return Err(JsonError::Duplicate)
        }
        Err(e) if e.is_data() && e.to_string().starts_with(NUL) => return Err(JsonError::Nul),
        Err(_) => return Err(JsonError::Syntax),
    };
    de.end().map_err(|_| JsonError::Syntax)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotObject),
    }
}

/// Does every number in the JSON `text` survive parsing as a double (RFC 8259 §6, RFC 7493 §2.2)?
/// `text` must be valid JSON (as PostgreSQL's jsonb output is); strings are skipped.
///
/// The rule, for each number: parsed into the nearest double `d`, it must be one of the decimals
/// that a shortest round-trip printer (ryu, JavaScript's `Number.prototype.toString`, Rust's
/// `{}`) prints for `d`, compared as decimal values (`1.50` = `1.5`, `15e-1` = `1.5`). Then a
/// verifier that reads the claim into a double and prints it back writes the number that was
/// signed. `0.1` passes (no double equals 1/10, but `0.1` is what every such printer writes for
/// the double nearest to it); `18446744073709551616` (2^64: printed `18446744073709552000`),
/// `9007199254740993` (2^53 + 1 reads as 2^53), `0.10000000000000000001` and `1e-400` do not.
///
/// Usually exactly one decimal qualifies: the shortest that parses back to `d`, and among those
/// of that length the closest to `d`. When `d` lies exactly halfway between two such decimals,
/// both qualify: `1400001111111211.2` and `1400001111111211.3` are equally close to the double
/// 1400001111111211.25, ryu and JavaScript print the even one, Rust the other, and both read back
/// as that double (corpus file `fuzz/corpus/json/regress-shortest-tie`).
pub fn numbers_survive_doubles(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                if !number_survives_double(&text[start..i]) {
                    return false;
                }
            }
            _ => i += 1,
        }
    }
    true
}

/// Significant digits and decimal exponent of a JSON number: `1.50e2` → ("15", 2), meaning
/// 0.15 × 10^3; zero → ("", 0).
fn decimal_digits(number: &str) -> Option<(String, i64)> {
    let unsigned = number.strip_prefix('-').unwrap_or(number);
    let (mantissa, exp) = match unsigned.find(['e', 'E']) {
        Some(p) => (&unsigned[..p], unsigned[p + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = format!("{int}{frac}");
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0').to_string();
    if digits.is_empty() {
        return Some((digits, 0));
    }
    // Checked: `0.01e-9223372036854775808` is valid JSON. An exponent beyond i64 gives None,
    // which no double's digits equal.
    let exp = exp
        .checked_add(int.len() as i64)?
        .checked_sub(leading as i64)?;
    Some((digits, exp))
}

fn number_survives_double(number: &str) -> bool {
    let Ok(v) = number.parse::<f64>() else {
        return false;
    };
    if !v.is_finite() {
        return false;
    }
    let Some(written) = decimal_digits(number) else {
        return false;
    };
    // `{:e}` prints the shortest digits that parse back to the same double, the closest to it.
    let Some(shortest) = decimal_digits(&format!("{v:e}")) else {
        return false;
    };
    written == shortest || halfway_neighbour(v, shortest.0.len(), &written)
}

/// Is `written` the other of two decimals with `n` significant digits that lie equally close to
/// `v`, on either side of it? Then the double's exact value has n + 1 significant digits, the
/// last a 5, and the two are its truncation and the truncation plus one in the last place.
fn halfway_neighbour(v: f64, n: usize, written: &(String, i64)) -> bool {
    // A double's exact decimal expansion has at most 767 significant digits: 800 holds it all.
    let Some((exact, exp)) = decimal_digits(&format!("{v:.800e}")) else {
        return false;
    };
    if n == 0 || exact.len() != n + 1 || !exact.ends_with('5') {
        return false;
    }
    let down = &exact[..n];
    let mut up = down.as_bytes().to_vec();
    let mut carry_exp = exp;
    match up.iter().rposition(|&b| b != b'9') {
        Some(p) => {
            up[p] += 1;
            up.truncate(p + 1);
        }
        // 99…9 + 1 in the last place: 1 with the exponent one higher.
        None => {
            up = vec![b'1'];
            carry_exp += 1;
        }
    }
    let up = (String::from_utf8(up).expect("ASCII digits"), carry_exp);
    let down = (down.trim_end_matches('0').to_string(), exp);
    *written == down || *written == up
}

struct StrictSeed;

fn no_nul<E: de::Error>(s: &str) -> Result<(), E> {
    if s.contains('\0') {
        Err(E::custom(NUL))
    } else {
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        no_nul(v)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        no_nul(&v)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictSeed)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            no_nul(&key)?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let value = map.next_value_seed(StrictSeed)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_only() {
        let m = parse_object(br#"{"a":1,"b":[true,null,"x",{"c":-2.5}]}"#).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["b"][3]["c"], serde_json::json!(-2.5));
        assert_eq!(parse_object(b"[]"), Err(JsonError::NotObject));
        assert_eq!(parse_object(b"\"x\""), Err(JsonError::NotObject));
        assert_eq!(parse_object(b"null"), Err(JsonError::NotObject));
        assert_eq!(parse_object(b""), Err(JsonError::Syntax));
        assert_eq!(parse_object(b"{} {}"), Err(JsonError::Syntax));
        assert_eq!(parse_object(b"{}x"), Err(JsonError::Syntax));
        assert_eq!(parse_object(b"{'a':1}"), Err(JsonError::Syntax));
        assert_eq!(parse_object(b"\xef\xbb\xbf{}"), Err(JsonError::Syntax));
        assert_eq!(parse_object(b"{\"a\":\"\xff\"}"), Err(JsonError::Syntax));
        assert!(parse_object(b" {\r\n} ").is_ok());
    }

    #[test]
    fn duplicates_at_any_depth() {
        let dup = Err(JsonError::Duplicate);
        assert_eq!(parse_object(br#"{"alg":"ES256","alg":"none"}"#), dup);
        assert_eq!(parse_object(br#"{"alg":"ES256","\u0061lg":"none"}"#), dup);
        assert_eq!(parse_object(br#"{"x":{"a":1,"a":1}}"#), dup);
        assert_eq!(parse_object(br#"{"x":[{"a":1,"a":2}]}"#), dup);
        assert!(parse_object(br#"{"x":{"a":1},"y":{"a":1}}"#).is_ok());
    }

    #[test]
    fn lone_surrogates_refused() {
        assert_eq!(parse_object(br#"{"a":"\ud800"}"#), Err(JsonError::Syntax));
        assert_eq!(parse_object(br#"{"a":"\udc00"}"#), Err(JsonError::Syntax));
        assert_eq!(parse_object(br#"{"a":"\ud800x"}"#), Err(JsonError::Syntax));
        assert_eq!(parse_object(br#"{"\ud800":1}"#), Err(JsonError::Syntax));
        let ok = parse_object(br#"{"a":"\ud83d\ude00"}"#).unwrap();
        assert_eq!(ok["a"], "\u{1f600}");
    }

    #[test]
    fn numbers_that_survive_doubles() {
        for ok in [
            r#"{"a":1.50,"b":0.1,"c":-0,"d":1e300,"e":[9007199254740992],"s":"1e-400"}"#,
            r#"{"exp":1700000000,"x":-12.5e-3,"y":0,"z":"\"18446744073709551616"}"#,
            // Halfway cases: both neighbours of 1400001111111211.25 are shortest and closest.
            r#"{"a":1400001111111211.2,"b":1400001111111211.3,"c":-1400001111111211.2}"#,
            r#"{"a":14000011111112112e-1,"b":1.4000011111112113e15,"c":1400001111111211.20}"#,
            r#"{"a":9007199254740992,"b":5e-324,"c":1.7976931348623157e308,"d":0.3}"#,
        ] {
            assert!(numbers_survive_doubles(ok), "{ok}");
        }
        for lossy in [
            r#"{"a":18446744073709551616}"#,
            r#"{"a":0.10000000000000000001}"#,
            r#"{"a":1e-400}"#,
            r#"{"a":[1,123456789012345678901234567890]}"#,
            r#"{"a":9007199254740993}"#,
            // The double itself, 1400001111111211.25, is not what a printer writes for it.
            r#"{"a":1400001111111211.25}"#,
            r#"{"a":1400001111111211.1}"#,
            r#"{"a":1400001111111211.4}"#,
            r#"{"a":4e-324}"#,
        ] {
            assert!(!numbers_survive_doubles(lossy), "{lossy}");
        }
    }

    #[test]
    fn nul_characters_refused() {
        assert_eq!(parse_object(br#"{"a":"x\u0000y"}"#), Err(JsonError::Nul));
        assert_eq!(parse_object(br#"{"a\u0000":1}"#), Err(JsonError::Nul));
        assert_eq!(parse_object(br#"{"a":["\u0000"]}"#), Err(JsonError::Nul));
        assert!(parse_object(br#"{"a":"\u0001"}"#).is_ok());
    }

    #[test]
    fn numbers_and_depth() {
        assert_eq!(parse_object(br#"{"a":1e400}"#), Err(JsonError::Syntax));
        let m = parse_object(br#"{"a":123456789012345678901234567890,"b":-0,"c":1.5e3}"#).unwrap();
        assert!(m["a"].is_f64());
        let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        assert_eq!(parse_object(deep.as_bytes()), Err(JsonError::Syntax));
    }
}
