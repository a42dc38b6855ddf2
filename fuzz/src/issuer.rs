//! Target `issuer`: the third-party-issuer decisions of core/src/issuer.rs, which read what an
//! issuer's server (or anyone on the path to it) sends: [`check_url`], [`discovery_url`],
//! [`redirect_target`] (a `Location` header), [`address_is_public`], [`refresh_after`] (a
//! `Cache-Control` header), [`jwks_uri_from_discovery`] (an OIDC discovery document),
//! [`select_keys`] (a JWKS), [`key_changes`] and [`apply_default_role`].
//!
//! Input: up to eight parts separated by 0xFF (which never occurs in UTF-8; a missing part is
//! empty, text parts have invalid UTF-8 replaced):
//! 0. the issuer (a URL), also the URL redirected from;
//! 1. a redirect's `Location` value;
//! 2. a `Cache-Control` header value (empty: no header);
//! 3. a discovery document (bytes);
//! 4. a JWKS (bytes), the keys fetched now;
//! 5. a second JWKS (bytes), the keys stored before;
//! 6. a role claim path (`auth.role_claim` syntax);
//! 7. a claims object (JSON).
//!
//! Properties:
//! - every function returns without panicking, for every input;
//! - `check_url` accepts only `https` URLs with a non-empty host, no user name or password and
//!   no fragment, from a text of at most [`MAX_URL_BYTES`]; an accepted URL's serialization
//!   is accepted again as the same URL (the fetch checks the stored URL once more);
//! - `discovery_url` accepts only issuers `check_url` accepts, and gives a URL `check_url`
//!   accepts on the issuer's origin whose path ends with `/.well-known/openid-configuration`
//!   and which has no query;
//! - `redirect_target` never gives a URL `check_url` refuses (so never a non-https one) nor one
//!   on another origin (scheme, host and port) than the URL redirected from;
//! - `address_is_public` refuses loopback, private, link-local, unspecified and multicast
//!   addresses, and judges an IPv4-mapped IPv6 address as its IPv4 address;
//! - `refresh_after` lies within `[min, max]` (is `min` when `min > max`), for bounds including
//!   0 and `u64::MAX`; is `min` when a directive is `no-cache` or `no-store`; else the last
//!   well-formed `max-age` (digits, optionally quoted; too large: `u64::MAX`), clamped, else
//!   `default`, clamped;
//! - `jwks_uri_from_discovery` returns a URL only when the document is a JSON object whose
//!   `issuer` is a string equal to the expected issuer byte for byte, and then the URL is its
//!   `jwks_uri` as `check_url` accepts it; it is tried with the issuer of part 0, with the
//!   document's own `issuer` and with that issuer plus a `/`;
//! - `select_keys` agrees with [`reference_selection`]: the keys it returns are exactly, in
//!   order, the JWKS members with a usable kid (1 to [`MAX_KID_BYTES`] bytes) no other member
//!   has, that are not `oct`, have no `d` member (nor, for RSA, `p`, `q`, `dp`, `dq`, `qi`,
//!   `oth`), import with `import_jwk` as public keys to the same algorithm and bytes, and verify
//!   a non-HMAC algorithm; it refuses when there are none or more than [`MAX_ISSUER_KEYS`];
//!   every key rebuilds with `VerifyKey::from_parts` to the same bytes;
//! - `key_changes` between two selections (and each with itself): `added`, `removed` and
//!   `replaced` hold each kid at most once and are disjoint; `added` is exactly the new kids
//!   not stored, `removed` the stored kids not fetched, `replaced` the common kids whose key
//!   differs; with the common kids whose key is equal (kept) they partition all kids; no
//!   change exactly when the two selections are equal as sets;
//! - `apply_default_role`: on success the role claim selects a value, the default role when
//!   there was none, and claims that had a role are left unchanged.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pg_auth_keys_core::{
    address_is_public, apply_default_role, check_url, discovery_url, import_jwk,
    jwks_uri_from_discovery, key_changes, redirect_target, refresh_after, select_keys, IssuerKey,
    RoleClaim, VerifyKey, MAX_ISSUER_KEYS, MAX_KID_BYTES, MAX_URL_BYTES,
};
use serde_json::{Map, Value};
use url::Url;

use crate::parts;

const DEFAULT_ROLE: &str = "authenticated";

/// (min, max, default) for `refresh_after`: the extension's defaults and the extremes.
const BOUNDS: [(u64, u64, u64); 6] = [
    (60, 86_400, 600),
    (0, 0, 0),
    (0, u64::MAX, u64::MAX),
    (u64::MAX, 0, 1),
    (100, 10, 5),
    (1, u64::MAX - 1, 0),
];

pub fn run(data: &[u8]) {
    let p = parts(data);
    let part = |i: usize| p.get(i).copied().unwrap_or(&[]);
    let text = |i: usize| String::from_utf8_lossy(part(i)).into_owned();

    let issuer = text(0);
    let from = url_properties(&issuer);
    discovery_properties(&issuer);
    if let Some(from) = &from {
        redirect_properties(from, &text(1));
        host_address_properties(from);
    }
    address_properties(data);

    let header = (!part(2).is_empty()).then(|| text(2));
    for (min, max, default) in BOUNDS {
        refresh_properties(header.as_deref(), min, max, default);
    }

    discovery_document_properties(part(3), &issuer);

    let new = selection_properties(part(4));
    let old = selection_properties(part(5));
    changes_properties(&old, &new);
    changes_properties(&new, &old);
    changes_properties(&new, &new);

    default_role_properties(&text(6), part(7));
}

/// `check_url`'s rules; returns the URL when accepted.
fn url_properties(text: &str) -> Option<Url> {
    let url = check_url(text).ok()?;
    assert!(text.len() <= MAX_URL_BYTES, "a long URL accepted");
    assert_eq!(url.scheme(), "https", "{text:?}");
    assert!(
        url.host_str().is_some_and(|h| !h.is_empty()),
        "no host: {text:?}"
    );
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "credentials: {text:?}"
    );
    assert!(url.fragment().is_none(), "fragment: {text:?}");
    let again = check_url(url.as_str())
        .unwrap_or_else(|e| panic!("{text:?} accepted as {url} which is refused: {e}"));
    assert_eq!(again, url, "{text:?}");
    Some(url)
}

fn discovery_properties(issuer: &str) {
    let Ok(url) = discovery_url(issuer) else {
        return;
    };
    let issuer_url = check_url(issuer)
        .unwrap_or_else(|e| panic!("discovery for an issuer check_url refuses ({e}): {issuer:?}"));
    assert!(url_properties(url.as_str()).is_some(), "{url}");
    assert_eq!(url.origin(), issuer_url.origin(), "{issuer:?} -> {url}");
    assert!(
        url.path().ends_with("/.well-known/openid-configuration"),
        "{issuer:?} -> {url}"
    );
    assert!(url.query().is_none(), "{issuer:?} -> {url}");
}

fn redirect_properties(from: &Url, location: &str) {
    let Ok(to) = redirect_target(from, location) else {
        return;
    };
    assert_eq!(to.scheme(), "https", "{from} -> {location:?} = {to}");
    assert_eq!(to.origin(), from.origin(), "{from} -> {location:?} = {to}");
    assert_eq!(
        to.host_str(),
        from.host_str(),
        "{from} -> {location:?} = {to}"
    );
    assert_eq!(
        to.port_or_known_default(),
        from.port_or_known_default(),
        "{from} -> {location:?} = {to}"
    );
    let again = check_url(to.as_str())
        .unwrap_or_else(|e| panic!("{from} -> {location:?} = {to}, which is refused: {e}"));
    assert_eq!(again, to);
}

fn host_address_properties(url: &Url) {
    match url.host() {
        Some(url::Host::Ipv4(v4)) => address_properties_of(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => address_properties_of(IpAddr::V6(v6)),
        _ => {}
    }
}

/// The input's first 4 and 16 bytes (zero-padded) as addresses.
fn address_properties(data: &[u8]) {
    let mut b = [0u8; 16];
    for (dst, src) in b.iter_mut().zip(data) {
        *dst = *src;
    }
    address_properties_of(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])));
    address_properties_of(IpAddr::V6(Ipv6Addr::from(b)));
}

fn address_properties_of(ip: IpAddr) {
    let public = address_is_public(ip);
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
            {
                assert!(!public, "{ip} is not public");
            }
            assert_eq!(
                address_is_public(IpAddr::V6(v4.to_ipv6_mapped())),
                public,
                "{ip} mapped"
            );
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                assert_eq!(public, address_is_public(IpAddr::V4(v4)), "{ip}");
            }
            let s0 = v6.segments()[0];
            if v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s0 & 0xfe00) == 0xfc00
                || (s0 & 0xffc0) == 0xfe80
            {
                assert!(!public, "{ip} is not public");
            }
        }
    }
}

fn refresh_properties(header: Option<&str>, min: u64, max: u64, default: u64) {
    let got = refresh_after(header, min, max, default);
    let clamp = |v: u64| if min > max { min } else { v.clamp(min, max) };
    if min > max {
        assert_eq!(got, min, "{header:?} min {min} > max {max}");
    } else {
        assert!(
            min <= got && got <= max,
            "{got} outside [{min}, {max}] for {header:?}"
        );
    }
    // The reference reading of the header.
    let mut expected = None;
    let mut no_cache = false;
    for directive in header.unwrap_or("").split(',') {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (directive.trim(), None),
        };
        let name = name.to_ascii_lowercase();
        if name == "no-cache" || name == "no-store" {
            no_cache = true;
            break;
        }
        if name == "max-age" {
            let value = value.map(|v| v.trim_matches('"'));
            if let Some(v) =
                value.filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            {
                expected = Some(v.parse::<u64>().unwrap_or(u64::MAX));
            }
        }
    }
    let expected = if no_cache {
        min
    } else {
        clamp(expected.unwrap_or(default))
    };
    assert_eq!(
        got, expected,
        "{header:?} with [{min}, {max}], default {default}"
    );
}

fn discovery_document_properties(doc: &[u8], issuer: &str) {
    let parsed = serde_json::from_slice::<Value>(doc).ok();
    let object = parsed.as_ref().and_then(Value::as_object);
    let named = object.and_then(|o| o.get("issuer")).and_then(Value::as_str);
    let jwks_uri = object
        .and_then(|o| o.get("jwks_uri"))
        .and_then(Value::as_str);
    let mut expected_issuers = vec![issuer.to_string()];
    if let Some(named) = named {
        expected_issuers.push(named.to_string());
        expected_issuers.push(format!("{named}/"));
    }
    for expected in &expected_issuers {
        let result = jwks_uri_from_discovery(doc, expected);
        let should =
            named == Some(expected.as_str()) && jwks_uri.is_some_and(|u| check_url(u).is_ok());
        assert_eq!(
            result.is_ok(),
            should,
            "issuer {expected:?}: {result:?} for {:?}",
            String::from_utf8_lossy(doc)
        );
        if let Ok(url) = result {
            assert_eq!(Some(url), jwks_uri.and_then(|u| check_url(u).ok()));
        }
    }
}

/// The keys [`select_keys`] must return for `jwks`, in order: `None` when it must refuse.
pub fn reference_selection(jwks: &[u8]) -> Option<Vec<IssuerKey>> {
    let doc = serde_json::from_slice::<Value>(jwks).ok()?;
    let items = doc.as_object()?.get("keys")?.as_array()?;
    let kid_of = |item: &Value| {
        item.get("kid")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty() && k.len() <= MAX_KID_BYTES)
            .map(str::to_string)
    };
    let kids: Vec<Option<String>> = items.iter().map(kid_of).collect();
    let mut keys = Vec::new();
    for (item, kid) in items.iter().zip(&kids) {
        let Some(kid) = kid else { continue };
        if kids.iter().filter(|k| k.as_ref() == Some(kid)).count() != 1 {
            continue;
        }
        let Some(obj) = item.as_object() else {
            continue;
        };
        if obj.get("kty").and_then(Value::as_str) == Some("oct") {
            continue;
        }
        // Private material: `d` of any key type, an RSA key's other private members.
        let rsa = obj.get("kty").and_then(Value::as_str) == Some("RSA");
        if obj.contains_key("d")
            || (rsa
                && ["p", "q", "dp", "dq", "qi", "oth"]
                    .iter()
                    .any(|m| obj.contains_key(*m)))
        {
            continue;
        }
        let Ok(imported) = import_jwk(item) else {
            continue;
        };
        if imported.signing.is_some() || imported.verify.alg().is_hmac() {
            continue;
        }
        keys.push(IssuerKey {
            kid: kid.clone(),
            alg: imported.verify.alg(),
            verify_key: imported.verify.bytes().to_vec(),
        });
    }
    (!keys.is_empty() && keys.len() <= MAX_ISSUER_KEYS).then_some(keys)
}

fn selection_properties(jwks: &[u8]) -> Vec<IssuerKey> {
    let expected = reference_selection(jwks);
    let selection = match select_keys(jwks) {
        Ok(selection) => selection,
        Err(e) => {
            assert!(
                expected.is_none(),
                "refused ({e}), expected {expected:?} for {:?}",
                String::from_utf8_lossy(jwks)
            );
            return Vec::new();
        }
    };
    assert!(
        !selection.keys.is_empty() && selection.keys.len() <= MAX_ISSUER_KEYS,
        "{} keys",
        selection.keys.len()
    );
    for key in &selection.keys {
        assert!(!key.alg.is_hmac(), "an HMAC key selected: {}", key.kid);
        let rebuilt = VerifyKey::from_parts(key.alg, &key.verify_key)
            .unwrap_or_else(|e| panic!("{}: selected key does not rebuild: {e}", key.kid));
        assert_eq!(rebuilt.bytes(), key.verify_key.as_slice(), "{}", key.kid);
    }
    assert_eq!(
        Some(&selection.keys),
        expected.as_ref(),
        "select_keys disagrees with the reference for {:?}",
        String::from_utf8_lossy(jwks)
    );
    selection.keys
}

fn changes_properties(old: &[IssuerKey], new: &[IssuerKey]) {
    let c = key_changes(old, new);
    let set = |v: &[String], what: &str| {
        let s: BTreeSet<String> = v.iter().cloned().collect();
        assert_eq!(s.len(), v.len(), "a kid twice in {what}: {v:?}");
        s
    };
    let (added, removed, replaced) = (
        set(&c.added, "added"),
        set(&c.removed, "removed"),
        set(&c.replaced, "replaced"),
    );
    let old_kids: BTreeSet<String> = old.iter().map(|k| k.kid.clone()).collect();
    let new_kids: BTreeSet<String> = new.iter().map(|k| k.kid.clone()).collect();
    let kept: BTreeSet<String> = new
        .iter()
        .filter(|n| old.iter().any(|o| o == *n))
        .map(|k| k.kid.clone())
        .collect();
    assert_eq!(added, &new_kids - &old_kids, "added");
    assert_eq!(removed, &old_kids - &new_kids, "removed");
    let common = &new_kids & &old_kids;
    assert_eq!(replaced, &common - &kept, "replaced");
    assert!(kept.is_subset(&common), "kept");
    // A partition of all kids.
    let total = added.len() + removed.len() + replaced.len() + kept.len();
    let all = &old_kids | &new_kids;
    assert_eq!(total, all.len(), "not a partition: {c:?}");
    let union: BTreeSet<String> = added
        .iter()
        .chain(&removed)
        .chain(&replaced)
        .chain(&kept)
        .cloned()
        .collect();
    assert_eq!(union, all, "not a partition: {c:?}");
    let same = old.len() == new.len() && old.iter().all(|o| new.contains(o));
    assert_eq!(c.is_empty(), same, "{c:?}");
}

fn default_role_properties(path: &str, claims: &[u8]) {
    let Ok(role_claim) = RoleClaim::parse(path) else {
        return;
    };
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(claims) else {
        return;
    };
    let before: Map<String, Value> = claims.clone();
    let had = role_claim.select(&before).is_some();
    let mut after = claims;
    if apply_default_role(&mut after, &role_claim, DEFAULT_ROLE).is_err() {
        assert!(!had, "refused a token with a role claim");
        return;
    }
    if had {
        assert_eq!(after, before, "a role present was changed");
    } else {
        assert_eq!(
            role_claim.select(&after).and_then(Value::as_str),
            Some(DEFAULT_ROLE),
            "{path:?}: the default role is not where the role claim points"
        );
    }
}
