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
        Err(e) => return Err(classify(&e)),
    };
    de.end().map_err(|_| JsonError::Syntax)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotObject),
    }
}

/// [`parse_object`]'s checks in one pass that keeps only the top-level members named in `keep`:
/// the same input is refused with the same error, and the members kept are the ones
/// `parse_object` would return. The others are checked (duplicates at any depth, U+0000, UTF-8,
/// nesting) without being built, so a verified token's claims cost no map of everything.
pub fn parse_object_keeping(bytes: &[u8], keep: &[&str]) -> Result<Map<String, Value>, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let kept = match de.deserialize_any(KeepingVisitor { keep }) {
        Ok(v) => v,
        Err(e) => return Err(classify(&e)),
    };
    de.end().map_err(|_| JsonError::Syntax)?;
    kept.ok_or(JsonError::NotObject)
}

fn classify(e: &serde_json::Error) -> JsonError {
    if e.is_data() && e.to_string().starts_with(DUPLICATE) {
        JsonError::Duplicate
    } else if e.is_data() && e.to_string().starts_with(NUL) {
        JsonError::Nul
    } else {
        JsonError::Syntax
    }
}

/// The top level of [`parse_object_keeping`]: an object gives `Some(kept members)`; any other
/// value is checked like [`StrictVisitor`] does and gives None (not an object).
struct KeepingVisitor<'k> {
    keep: &'k [&'k str],
}

impl<'de> Visitor<'de> for KeepingVisitor<'_> {
    type Value = Option<Map<String, Value>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        StrictVisitor.visit_f64(v).map(|_| None)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        no_nul(v).map(|_| None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element_seed(CheckSeed)?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Map::new();
        let mut seen = Names::default();
        while let Some(key) = map.next_key::<KeyText<'de>>()? {
            let key = key.0;
            no_nul(&key)?;
            seen.insert_new(key.clone())?;
            if self.keep.contains(&key.as_ref()) {
                out.insert(key.into_owned(), map.next_value_seed(StrictSeed)?);
            } else {
                map.next_value_seed(CheckSeed)?;
            }
        }
        Ok(Some(out))
    }
}

/// A member name, borrowed from the input when it has no escapes.
struct KeyText<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<KeyText<'de>, E> {
                Ok(KeyText(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The member names of one object so far: a list while short, a set when an object is large
/// (hostile input must not cost quadratic time).
#[derive(Default)]
struct Names<'de> {
    list: Vec<std::borrow::Cow<'de, str>>,
    set: std::collections::HashSet<std::borrow::Cow<'de, str>>,
}

impl<'de> Names<'de> {
    const LIST_MAX: usize = 16;

    fn insert_new<E: de::Error>(&mut self, name: std::borrow::Cow<'de, str>) -> Result<(), E> {
        let new = if self.set.is_empty() && self.list.len() < Self::LIST_MAX {
            if self.list.contains(&name) {
                false
            } else {
                self.list.push(name);
                true
            }
        } else {
            if self.set.is_empty() {
                self.set.extend(self.list.drain(..));
            }
            self.set.insert(name)
        };
        if new {
            Ok(())
        } else {
            Err(E::custom(DUPLICATE))
        }
    }
}

/// Checks a value as [`StrictSeed`] does, building nothing.
struct CheckSeed;

impl<'de> DeserializeSeed<'de> for CheckSeed {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        StrictVisitor.visit_f64(v).map(|_| ())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        no_nul(v)
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(CheckSeed)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = Names::default();
        while let Some(key) = map.next_key::<KeyText<'de>>()? {
            no_nul(&key.0)?;
            seen.insert_new(key.0)?;
            map.next_value_seed(CheckSeed)?;
        }
        Ok(())
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

    /// parse_object_keeping refuses what parse_object refuses, with the same error, and keeps
    /// exactly the named members of what it accepts.
    #[test]
    fn keeping_agrees_with_parse_object() {
        let inputs: &[&[u8]] = &[
            br#"{"a":1,"b":[true,null,"x",{"c":-2.5}]}"#,
            b"[]",
            b"\"x\"",
            b"null",
            b"",
            b"{} {}",
            b"{}x",
            b"{\"a\":\"\xff\"}",
            br#"{"alg":"ES256","alg":"none"}"#,
            br#"{"alg":"ES256","\u0061lg":"none"}"#,
            br#"{"x":{"a":1,"a":1}}"#,
            br#"{"x":[{"a":1,"a":2}]}"#,
            br#"[{"a":1,"a":2}]"#,
            br#"["\u0000"]"#,
            br#"{"a":"\ud800"}"#,
            br#"{"a":"x\u0000y"}"#,
            br#"{"a\u0000":1}"#,
            br#"{"a":1e400}"#,
            br#"{"exp":1,"sub":"s","x":{"y":[1,{"z":"\u00e9"}]},"aud":["a","b"],"role":"r"}"#,
        ];
        let many: String = format!(
            "{{{}}}",
            (0..40)
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let many_dup = many.replace("\"k39\"", "\"k3\"");
        let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        let keep = ["a", "exp", "sub", "aud", "role", "alg", "k3", "x"];
        for input in
            inputs
                .iter()
                .copied()
                .chain([many.as_bytes(), many_dup.as_bytes(), deep.as_bytes()])
        {
            let want = parse_object(input).map(|m| {
                m.into_iter()
                    .filter(|(k, _)| keep.contains(&k.as_str()))
                    .collect::<Map<_, _>>()
            });
            assert_eq!(
                parse_object_keeping(input, &keep),
                want,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            parse_object_keeping(many_dup.as_bytes(), &[]),
            Err(JsonError::Duplicate)
        );
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
