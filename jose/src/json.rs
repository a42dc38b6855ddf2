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
}

const DUPLICATE: &str = "duplicate member name";

/// Parse `bytes` as one JSON object, refusing duplicate member names at any depth.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = match StrictSeed.deserialize(&mut de) {
        Ok(v) => v,
        Err(e) if e.is_data() && e.to_string().starts_with(DUPLICATE) => {
            return Err(JsonError::Duplicate)
        }
        Err(_) => return Err(JsonError::Syntax),
    };
    de.end().map_err(|_| JsonError::Syntax)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotObject),
    }
}

struct StrictSeed;

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

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
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
    fn numbers_and_depth() {
        assert_eq!(parse_object(br#"{"a":1e400}"#), Err(JsonError::Syntax));
        let m = parse_object(br#"{"a":123456789012345678901234567890,"b":-0,"c":1.5e3}"#).unwrap();
        assert!(m["a"].is_f64());
        let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        assert_eq!(parse_object(deep.as_bytes()), Err(JsonError::Syntax));
    }
}
