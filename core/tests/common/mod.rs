//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use pg_auth_keys_core::*;
use serde_json::Value;

pub const MAX: usize = 16384;

pub fn vectors(rel: &str) -> Value {
    let path = format!("{}/../tests/vectors/{rel}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Import a single JWK or a JWK Set.
pub fn import_any(v: &Value) -> Result<Vec<ImportedKey>, KeyError> {
    if v.get("keys").is_some() {
        import_jwks(v)
    } else {
        import_jwk(v).map(|k| vec![k])
    }
}

/// Signature-only verification as the pgrx layer does it: parse, find the key by kid (or the
/// only key), verify.
pub fn verify_jws<'a>(jws: &'a str, keys: &[ImportedKey]) -> Result<ParsedToken<'a>, TokenError> {
    let t = parse_compact(jws, MAX)?;
    let key = match t.kid() {
        Some(kid) => keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
            .or_else(|| keys.first().filter(|k| keys.len() == 1 && k.kid.is_none())),
        None => keys.first().filter(|_| keys.len() == 1),
    }
    .ok_or(TokenError::UnknownKid)?;
    t.verify_with(&key.verify.prepare())?;
    Ok(t)
}

/// Assemble a compact JWS from raw parts.
pub fn compact(header: &str, payload: &str, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64url_encode(header.as_bytes()),
        b64url_encode(payload.as_bytes()),
        b64url_encode(sig)
    )
}

/// Assemble and sign a compact JWS with an arbitrary header.
pub fn signed(key: &SigningKey, header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        b64url_encode(header.as_bytes()),
        b64url_encode(payload.as_bytes())
    );
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64url_encode(&sig))
}

pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
