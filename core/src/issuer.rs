//! Third-party issuers: the decisions about fetching an issuer's keys that need no network and no
//! server — which URLs may be fetched, which redirects followed, which addresses connected to,
//! how long a response may be cached, what a discovery document and a JWKS must hold, which keys
//! changed, and the role of a token that names none.
//!
//! The pgrx layer (`src/fetch.rs`, `src/issuers.rs`) does the I/O and calls these.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{Map, Value};
use url::Url;

use crate::alg::Alg;
use crate::error::TokenError;
use crate::jwk::{import_jwk, MAX_KID_BYTES};
use crate::role_claim::{RoleClaim, RoleClaimStep};

/// Most keys kept from one JWKS (providers publish two or three).
pub const MAX_ISSUER_KEYS: usize = 100;

/// Longest issuer or URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// Why an issuer URL, document or key set is refused. Messages never hold key material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IssuerError {
    /// A URL that may not be fetched (not HTTPS, no host, credentials in it, too long).
    #[error("{0}")]
    BadUrl(String),
    /// A redirect to another origin.
    #[error("redirect to another origin refused: {0}")]
    CrossOrigin(String),
    /// The discovery document or JWKS is unusable.
    #[error("{0}")]
    BadDocument(String),
}

/// A URL that may be fetched: `https`, a host, no user name or password, no fragment.
pub fn check_url(text: &str) -> Result<Url, IssuerError> {
    if text.len() > MAX_URL_BYTES {
        return Err(IssuerError::BadUrl(format!(
            "URL longer than {MAX_URL_BYTES} bytes"
        )));
    }
    let url = Url::parse(text).map_err(|e| IssuerError::BadUrl(format!("not a URL: {e}")))?;
    // The parsed URL is what is stored and fetched (and checked again then): it may be longer
    // than the text (percent-encoding, punycode).
    if url.as_str().len() > MAX_URL_BYTES {
        return Err(IssuerError::BadUrl(format!(
            "URL longer than {MAX_URL_BYTES} bytes once encoded"
        )));
    }
    if url.scheme() != "https" {
        return Err(IssuerError::BadUrl(format!(
            "only https URLs are fetched, not {}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(IssuerError::BadUrl("URL has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(IssuerError::BadUrl("URL holds credentials".into()));
    }
    if url.fragment().is_some() {
        return Err(IssuerError::BadUrl("URL has a fragment".into()));
    }
    Ok(url)
}

/// Where OIDC discovery (OpenID Connect Discovery 1.0 §4) finds `issuer`'s configuration: a
/// trailing `/` of the issuer is not doubled (Auth0's issuers end with one). An issuer with a
/// query is refused (§3: an issuer has no query or fragment): the path appended to it would land
/// in the query.
pub fn discovery_url(issuer: &str) -> Result<Url, IssuerError> {
    if check_url(issuer)?.query().is_some() {
        return Err(IssuerError::BadUrl(
            "an issuer discovered by OIDC has no query".into(),
        ));
    }
    check_url(&format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
}

/// The target of a redirect from `from`: followed only within the same origin (scheme, host and
/// port), so a compromised path cannot send the fetch to another host.
pub fn redirect_target(from: &Url, location: &str) -> Result<Url, IssuerError> {
    let to = from
        .join(location)
        .map_err(|e| IssuerError::BadUrl(format!("bad redirect location: {e}")))?;
    let to = check_url(to.as_str())?;
    if to.origin() != from.origin() {
        return Err(IssuerError::CrossOrigin(to.origin().ascii_serialization()));
    }
    Ok(to)
}

/// May a fetch connect to `ip`? Only globally routable unicast addresses: loopback, private
/// (RFC 1918, unique local), link-local, shared (CGNAT), unspecified, multicast, documentation
/// and benchmarking ranges are refused, and IPv4-mapped IPv6 addresses are judged as IPv4.
pub fn address_is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240
                || (o[0] == 192 && o[1] == 0 && o[2] == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return address_is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // Addresses that carry an IPv4 address are judged by it: IPv4-compatible (::/96,
            // deprecated but still routed by some stacks) and 6to4 (2002::/16, RFC 3056).
            let embedded = |hi: u16, lo: u16| {
                Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
            };
            if s[..6].iter().all(|&x| x == 0) {
                return address_is_public(IpAddr::V4(embedded(s[6], s[7])));
            }
            if s[0] == 0x2002 {
                return address_is_public(IpAddr::V4(embedded(s[1], s[2])));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                // site-local (fec0::/10): deprecated, but still a private range where used
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b))
        }
    }
}

/// Seconds until the next refresh: `Cache-Control: max-age` (RFC 9111 §5.2.2.1) clamped to
/// `[min, max]`; `default` (clamped too) when the header says nothing usable. `no-cache` and
/// `no-store` mean "as soon as allowed", i.e. `min`.
pub fn refresh_after(cache_control: Option<&str>, min: u64, max: u64, default: u64) -> u64 {
    let max = max.max(min);
    let mut found = None;
    for directive in cache_control.unwrap_or("").split(',') {
        let directive = directive.trim();
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
            return min;
        }
        if name.eq_ignore_ascii_case("max-age") {
            // A number too large for u64 is still "a long time".
            let v = value.filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
            found = v.map(|v| v.parse::<u64>().unwrap_or(u64::MAX)).or(found);
        }
    }
    found.unwrap_or(default).clamp(min, max)
}

fn parse_object(doc: &[u8], what: &str) -> Result<Map<String, Value>, IssuerError> {
    match serde_json::from_slice::<Value>(doc) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(IssuerError::BadDocument(format!(
            "the {what} is not a JSON object"
        ))),
        Err(e) => Err(IssuerError::BadDocument(format!(
            "the {what} is not JSON: {e}"
        ))),
    }
}

/// The `jwks_uri` of a discovery document for `issuer`, whose `issuer` must equal it exactly
/// (OpenID Connect Discovery 1.0 §4.3: a document naming another issuer is refused).
pub fn jwks_uri_from_discovery(doc: &[u8], issuer: &str) -> Result<Url, IssuerError> {
    let doc = parse_object(doc, "discovery document")?;
    match doc.get("issuer") {
        Some(Value::String(s)) if s == issuer => {}
        Some(Value::String(s)) => {
            return Err(IssuerError::BadDocument(format!(
                "the discovery document names another issuer: {}",
                shown(s)
            )))
        }
        _ => {
            return Err(IssuerError::BadDocument(
                "the discovery document has no issuer".into(),
            ))
        }
    }
    match doc.get("jwks_uri") {
        Some(Value::String(s)) => check_url(s),
        _ => Err(IssuerError::BadDocument(
            "the discovery document has no jwks_uri".into(),
        )),
    }
}

fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// One usable key of an issuer: its kid, the algorithm it verifies and its public bytes (the
/// form `VerifyKey::from_parts` takes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerKey {
    pub kid: String,
    pub alg: Alg,
    pub verify_key: Vec<u8>,
}

/// The usable keys of a JWKS and why the others were left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySelection {
    pub keys: Vec<IssuerKey>,
    pub skipped: Vec<String>,
}

/// Select the keys of an issuer's JWKS that can verify its tokens: public signature keys (RSA,
/// EC, Ed25519) with a `kid`. Left out, each with a reason: keys for encryption, symmetric
/// (`oct`) keys, keys with private material, keys without a kid, unsupported types, and every
/// key of a kid that appears twice (which one the issuer signs with would be ambiguous). A JWKS
/// with no usable key is refused: trusting it would refuse every token anyway, and a provider
/// serving that is broken rather than rotating.
pub fn select_keys(jwks: &[u8]) -> Result<KeySelection, IssuerError> {
    let doc = parse_object(jwks, "JWKS")?;
    let Some(Value::Array(items)) = doc.get("keys") else {
        return Err(IssuerError::BadDocument(
            "the JWKS has no keys array".into(),
        ));
    };
    let mut out = KeySelection::default();
    let mut kids: Vec<&str> = Vec::new();
    let mut duplicates: Vec<String> = Vec::new();
    for item in items {
        let kid = item.get("kid").and_then(Value::as_str);
        let Some(kid) = kid.filter(|k| !k.is_empty() && k.len() <= MAX_KID_BYTES) else {
            out.skipped.push("a key without a usable kid".into());
            continue;
        };
        if kids.contains(&kid) {
            duplicates.push(kid.to_string());
            continue;
        }
        kids.push(kid);
        if item.get("kty").and_then(Value::as_str) == Some("oct") {
            out.skipped
                .push(format!("{}: symmetric keys are never trusted", shown(kid)));
            continue;
        }
        match import_jwk(item) {
            Ok(k) if k.signing.is_some() => out
                .skipped
                .push(format!("{}: holds private material", shown(kid))),
            Ok(k) => out.keys.push(IssuerKey {
                kid: kid.to_string(),
                alg: k.verify.alg(),
                verify_key: k.verify.bytes().to_vec(),
            }),
            Err(e) => out.skipped.push(format!("{}: {e}", shown(kid))),
        }
    }
    for kid in duplicates {
        out.keys.retain(|k| k.kid != kid);
        out.skipped
            .push(format!("{}: kid appears twice", shown(&kid)));
    }
    if out.keys.len() > MAX_ISSUER_KEYS {
        return Err(IssuerError::BadDocument(format!(
            "the JWKS has more than {MAX_ISSUER_KEYS} usable keys"
        )));
    }
    if out.keys.is_empty() {
        let why = if out.skipped.is_empty() {
            "it is empty".to_string()
        } else {
            out.skipped.join("; ")
        };
        return Err(IssuerError::BadDocument(format!(
            "the JWKS holds no usable key ({why})"
        )));
    }
    Ok(out)
}

/// What a refresh changes: kids added, kids removed, and kids whose key or algorithm differ.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub replaced: Vec<String>,
}

impl KeyChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.replaced.is_empty()
    }
}

/// Compare the stored keys with the fetched ones.
pub fn key_changes(old: &[IssuerKey], new: &[IssuerKey]) -> KeyChanges {
    let mut out = KeyChanges::default();
    for n in new {
        match old.iter().find(|o| o.kid == n.kid) {
            None => out.added.push(n.kid.clone()),
            Some(o) if o != n => out.replaced.push(n.kid.clone()),
            Some(_) => {}
        }
    }
    for o in old {
        if !new.iter().any(|n| n.kid == o.kid) {
            out.removed.push(o.kid.clone());
        }
    }
    out
}

/// The role of an issuer's token: the role claim (at `role_claim`) when the token has one —
/// `check_claims` then applies `auth.allowed_roles` to it — else `default_role`, written where
/// `role_claim` points so that every reader of the claims (RLS, PostgREST) finds it there. A path
/// through an array index cannot be created: such a token is refused.
pub fn apply_default_role(
    claims: &mut Map<String, Value>,
    role_claim: &RoleClaim,
    default_role: &str,
) -> Result<(), TokenError> {
    if role_claim.select(claims).is_some() {
        return Ok(());
    }
    let steps = role_claim.steps();
    let Some((last, path)) = steps.split_last() else {
        return Err(TokenError::RoleNotAllowed);
    };
    let mut obj = claims;
    for step in path {
        let RoleClaimStep::Key(name) = step else {
            return Err(TokenError::RoleNotAllowed);
        };
        let next = obj
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(next) = next else {
            // A non-object sits where the path goes on: the token's own layout wins; refuse.
            return Err(TokenError::RoleNotAllowed);
        };
        obj = next;
    }
    let RoleClaimStep::Key(name) = last else {
        return Err(TokenError::RoleNotAllowed);
    };
    obj.insert(name.clone(), Value::String(default_role.to_string()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_https_urls_without_credentials() {
        assert!(check_url("https://example.com/jwks").is_ok());
        for bad in [
            "http://example.com/jwks",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "https://example.com/#x",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(3000))).is_err());
    }

    #[test]
    fn discovery_url_does_not_double_a_slash() {
        assert_eq!(
            discovery_url("https://tenant.auth0.com/").unwrap().as_str(),
            "https://tenant.auth0.com/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://securetoken.google.com/project")
                .unwrap()
                .as_str(),
            "https://securetoken.google.com/project/.well-known/openid-configuration"
        );
        assert!(discovery_url("http://x.com").is_err());
    }

    #[test]
    fn redirects_stay_on_the_origin() {
        let from = Url::parse("https://a.example:8443/x/jwks").unwrap();
        assert_eq!(
            redirect_target(&from, "/y").unwrap().as_str(),
            "https://a.example:8443/y"
        );
        assert_eq!(
            redirect_target(&from, "z").unwrap().as_str(),
            "https://a.example:8443/x/z"
        );
        for bad in [
            "https://b.example:8443/y",
            "https://a.example/y",
            "http://a.example:8443/y",
            "//evil.example/y",
        ] {
            assert!(redirect_target(&from, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "198.18.0.1",
            "::7f00:1",
            "::a00:1",
            "fec0::1",
            "2002:7f00:1::1",
            "2002:a00:1::",
        ] {
            assert!(!address_is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
        ] {
            assert!(address_is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn max_age_is_clamped() {
        let r = |h| refresh_after(h, 60, 86_400, 600);
        assert_eq!(r(None), 600);
        assert_eq!(r(Some("public, max-age=3600")), 3600);
        assert_eq!(r(Some("max-age=5")), 60);
        assert_eq!(r(Some("max-age=99999999999999999999999")), 86_400);
        assert_eq!(r(Some("max-age=\"120\"")), 120);
        assert_eq!(r(Some("MAX-AGE = 300 ")), 300);
        assert_eq!(r(Some("max-age=-1")), 600);
        assert_eq!(r(Some("max-age=")), 600);
        assert_eq!(r(Some("no-cache")), 60);
        assert_eq!(r(Some("public, no-store, max-age=500")), 60);
        assert_eq!(r(Some("s-maxage=100")), 600);
        // A minimum above the maximum wins.
        assert_eq!(refresh_after(Some("max-age=1"), 100, 10, 5), 100);
    }

    #[test]
    fn discovery_must_name_the_issuer_exactly() {
        let doc = br#"{"issuer":"https://a.example","jwks_uri":"https://a.example/jwks"}"#;
        assert_eq!(
            jwks_uri_from_discovery(doc, "https://a.example")
                .unwrap()
                .as_str(),
            "https://a.example/jwks"
        );
        assert!(jwks_uri_from_discovery(doc, "https://a.example/").is_err());
        assert!(
            jwks_uri_from_discovery(br#"{"issuer":"https://a.example"}"#, "https://a.example")
                .is_err()
        );
        assert!(jwks_uri_from_discovery(
            br#"{"issuer":"https://a.example","jwks_uri":"http://a.example/jwks"}"#,
            "https://a.example"
        )
        .is_err());
        assert!(jwks_uri_from_discovery(b"[]", "x").is_err());
        assert!(jwks_uri_from_discovery(b"<html>", "x").is_err());
    }

    fn ec_jwk(kid: &str) -> Value {
        json!({"kty":"EC","crv":"P-256","kid":kid,
               "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
               "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
    }

    #[test]
    fn usable_keys_are_selected_and_the_rest_explained() {
        let jwks = json!({"keys":[
            ec_jwk("a"),
            ec_jwk("dup"), ec_jwk("dup"),
            {"kty":"oct","kid":"h","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},
            {"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"EC","crv":"P-256","kid":"enc","use":"enc",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"XYZ","kid":"x"}
        ]});
        let s = select_keys(jwks.to_string().as_bytes()).unwrap();
        assert_eq!(
            s.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(s.keys[0].alg, Alg::ES256);
        assert_eq!(s.skipped.len(), 5, "{:?}", s.skipped);
        assert!(select_keys(br#"{"keys":[]}"#).is_err());
        assert!(select_keys(br#"{"nokeys":1}"#).is_err());
        let only_oct = json!({"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0c2VjcmV0"}]});
        let e = select_keys(only_oct.to_string().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("symmetric"), "{e}");
    }

    #[test]
    fn changes_between_key_sets() {
        let k = |kid: &str, b: u8| IssuerKey {
            kid: kid.into(),
            alg: Alg::ES256,
            verify_key: vec![b],
        };
        let c = key_changes(&[k("a", 1), k("b", 1)], &[k("b", 2), k("c", 1)]);
        assert_eq!(c.added, ["c"]);
        assert_eq!(c.removed, ["a"]);
        assert_eq!(c.replaced, ["b"]);
        assert!(key_changes(&[k("a", 1)], &[k("a", 1)]).is_empty());
    }

    #[test]
    fn default_role_goes_where_the_role_claim_points() {
        let top = RoleClaim::default();
        let mut c = json!({"sub":"u"}).as_object().unwrap().clone();
        apply_default_role(&mut c, &top, "authenticated").unwrap();
        assert_eq!(c["role"], "authenticated");
        // A role present is kept (and checked by check_claims).
        let mut c = json!({"role":"anon"}).as_object().unwrap().clone();
        apply_default_role(&mut c, &top, "authenticated").unwrap();
        assert_eq!(c["role"], "anon");
        let nested = RoleClaim::parse(".app_metadata.role").unwrap();
        let mut c = json!({"app_metadata":{"x":1}}).as_object().unwrap().clone();
        apply_default_role(&mut c, &nested, "authenticated").unwrap();
        assert_eq!(c["app_metadata"]["role"], "authenticated");
        assert_eq!(c["app_metadata"]["x"], 1);
        let mut c = json!({"app_metadata":"str"}).as_object().unwrap().clone();
        assert!(apply_default_role(&mut c, &nested, "authenticated").is_err());
        let indexed = RoleClaim::parse(".roles[0]").unwrap();
        let mut c = Map::new();
        assert!(apply_default_role(&mut c, &indexed, "authenticated").is_err());
    }
}
