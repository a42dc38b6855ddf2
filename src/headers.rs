//! PostgREST's `request.headers` setting, read strictly.
//!
//! PostgREST sets it per request to a JSON object of lower-cased header names. Anyone can also
//! write it with `set_config`, so it is read as untrusted input: a JSON object without duplicate
//! member names whose values are strings, and a header name that matches more than one member
//! case-insensitively is refused — otherwise `pre_request` could check one `authorization` while
//! `auth.claims()` reads another.

use serde_json::{Map, Value};

use crate::claims::guc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadersError {
    /// The setting is not set (or empty, as a rolled-back transaction-local value leaves it).
    NotSet,
    /// Not a JSON object of strings, or a header given twice.
    Malformed(&'static str),
}

pub struct Headers(Map<String, Value>);

impl Headers {
    /// The current request's headers.
    pub fn current() -> Result<Headers, HeadersError> {
        match guc(c"request.headers") {
            Some(raw) if !raw.is_empty() => Headers::parse(&raw),
            _ => Err(HeadersError::NotSet),
        }
    }

    pub fn parse(raw: &str) -> Result<Headers, HeadersError> {
        pg_auth_keys_jose::parse_json_object(raw.as_bytes())
            .map(Headers)
            .map_err(|_| {
                HeadersError::Malformed("request.headers is not a JSON object of unique names")
            })
    }

    /// The value of header `name` (any case), if present once as a string; else why not.
    pub fn get(&self, name: &str) -> Result<Option<&str>, &'static str> {
        let mut found = None;
        for (key, value) in &self.0 {
            if key.eq_ignore_ascii_case(name) {
                if found.is_some() {
                    return Err("a header is given twice");
                }
                found = Some(value.as_str().ok_or("a header value is not a string")?);
            }
        }
        Ok(found)
    }

    /// Is there a header whose name starts with `prefix` (any case)?
    pub fn any_with_prefix(&self, prefix: &str) -> bool {
        self.0.keys().any(|k| {
            k.get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
        })
    }

    /// The token of an `authorization: Bearer <token>` header: None without the header, an
    /// error when it is not a bearer token.
    pub fn bearer(&self) -> Result<Option<&str>, &'static str> {
        let Some(authorization) = self.get("authorization")? else {
            return Ok(None);
        };
        authorization
            .trim()
            .split_once(' ')
            .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
            .map(|(_, token)| Some(token.trim()))
            .ok_or("expected: Bearer <token>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_headers() {
        let h = Headers::parse(r#"{"apikey":"k","Authorization":"Bearer t"}"#).unwrap();
        assert_eq!(h.get("APIKEY"), Ok(Some("k")));
        assert_eq!(h.bearer(), Ok(Some("t")));
        assert_eq!(h.get("origin"), Ok(None));
        let twice =
            Headers::parse(r#"{"Authorization":"Bearer a","authorization":"Bearer b"}"#).unwrap();
        assert!(twice.bearer().is_err());
        assert!(Headers::parse(r#"{"authorization":5}"#)
            .unwrap()
            .bearer()
            .is_err());
        assert!(Headers::parse(r#"{"a":"x","a":"y"}"#).is_err());
        assert!(Headers::parse("[]").is_err());
        assert!(Headers::parse(r#"{"authorization":"Basic eA=="}"#)
            .unwrap()
            .bearer()
            .is_err());
        assert!(Headers::parse(r#"{"Sec-Fetch-Mode":"cors"}"#)
            .unwrap()
            .any_with_prefix("sec-fetch-"));
    }
}
