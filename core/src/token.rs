//! Compact JWS (RFC 7515 §7.1): parse strictly, verify with one known key, sign.
//!
//! Parsing refuses, before any cryptography:
//! - tokens longer than the caller's limit (checked first, so a huge input costs nothing);
//! - anything but exactly three segments (JSON serialization, JWE, truncation);
//! - non-canonical base64url in any segment and an empty signature;
//! - a header that is not a JSON object or repeats a member name;
//! - `alg` values other than the twelve we know — `none` in any spelling (RFC 8725 §3.1);
//! - `jwk`, `jku`, `x5u`, `x5c`: a token may not bring its own key (RFC 8725 §3.10);
//! - `crit`: we implement no extension, and RFC 7515 §4.1.11 says a recipient that does not
//!   understand a critical extension must reject the JWS (this also covers `b64: false`,
//!   RFC 7797 §6, which requires `crit`);
//! - `b64` without `crit` (RFC 7797 §6 makes that malformed).

use crate::alg::Alg;
use crate::b64;
use crate::error::{KeyError, TokenError};
use crate::json::{self, JsonError};
use crate::jwk::kid_ok;
use crate::keys::{PreparedKey, SigningKey};
use serde_json::{Map, Value};

/// A compact JWS whose structure and header passed every check; the signature is not yet
/// verified. It borrows the signing input from the token text; only what base64url decoding
/// makes (header, payload, signature bytes) is its own.
#[derive(Clone, Debug)]
pub struct ParsedToken<'a> {
    header: Map<String, Value>,
    alg: Alg,
    kid: Option<String>,
    signing_input: &'a [u8],
    signature: Vec<u8>,
    payload: Vec<u8>,
}

fn malformed_json(e: JsonError, what: &'static str) -> TokenError {
    match e {
        JsonError::Duplicate => TokenError::Malformed("duplicate member name"),
        JsonError::Nul => TokenError::Malformed("NUL character in JSON"),
        JsonError::Syntax | JsonError::NotObject => TokenError::Malformed(what),
    }
}

/// Parse a compact JWS. See the module documentation for the order of checks.
pub fn parse_compact(token: &str, max_bytes: usize) -> Result<ParsedToken<'_>, TokenError> {
    if token.len() > max_bytes {
        return Err(TokenError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("expected 3 segments"));
    };
    let non_canonical = TokenError::Malformed("non-canonical base64url");
    let header_bytes = b64::decode_canonical(h64).ok_or(non_canonical)?;
    let payload = b64::decode_canonical(p64).ok_or(non_canonical)?;
    if s64.is_empty() {
        return Err(TokenError::Malformed("empty signature"));
    }
    let signature = b64::decode_canonical(s64).ok_or(non_canonical)?;

    let header = json::parse_object(&header_bytes)
        .map_err(|e| malformed_json(e, "header is not a JSON object"))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Alg::parse)
        .ok_or(TokenError::UnsupportedAlg)?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if kid_ok(k) => Some(k.clone()),
        Some(_) => {
            return Err(TokenError::Malformed(
                "kid must be a non-empty short string",
            ))
        }
    };
    if ["jwk", "jku", "x5u", "x5c"]
        .iter()
        .any(|name| header.contains_key(*name))
    {
        return Err(TokenError::EmbeddedKey);
    }
    if header.contains_key("crit") {
        return Err(TokenError::CritUnsupported);
    }
    if header.contains_key("b64") {
        return Err(TokenError::Malformed("b64 header without crit"));
    }
    let signing_input = &token.as_bytes()[..h64.len() + 1 + p64.len()];
    Ok(ParsedToken {
        header,
        alg,
        kid,
        signing_input,
        signature,
        payload,
    })
}

impl ParsedToken<'_> {
    pub fn alg(&self) -> Alg {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The decoded payload (unverified until [`ParsedToken::verify_with`] succeeds).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The ASCII `header.payload` that the signature covers.
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Verify the signature with `key`. The token's `alg` must equal the key's: the key, not
    /// the token, decides the algorithm (RFC 8725 §3.1), so an HS256 token cannot be checked
    /// with an RSA or EC public key's bytes as the secret.
    pub fn verify_with(&self, key: &PreparedKey) -> Result<(), TokenError> {
        if key.alg() != self.alg {
            return Err(TokenError::AlgMismatch);
        }
        if key.verify(self.signing_input, &self.signature) {
            Ok(())
        } else {
            Err(TokenError::BadSignature)
        }
    }

    /// The payload as a JWT claims set: a JSON object without duplicate member names
    /// (RFC 7519 §7.2 steps 9–10).
    pub fn claims(&self) -> Result<Map<String, Value>, TokenError> {
        json::parse_object(&self.payload)
            .map_err(|e| malformed_json(e, "payload is not a JSON object"))
    }

    /// [`ParsedToken::claims`] with only the top-level members named in `keep`: the same checks
    /// and errors, in one pass that builds nothing else.
    pub fn claims_keeping(&self, keep: &[&str]) -> Result<Map<String, Value>, TokenError> {
        json::parse_object_keeping(&self.payload, keep)
            .map_err(|e| malformed_json(e, "payload is not a JSON object"))
    }
}

/// Sign `claims` as a compact JWS with header `{"alg","kid","typ":"JWT"}`.
pub fn sign_compact(
    key: &SigningKey,
    kid: &str,
    claims: &Map<String, Value>,
) -> Result<String, KeyError> {
    if !kid_ok(kid) {
        return Err(KeyError::invalid("kid must be 1 to 256 bytes"));
    }
    let mut header = Map::new();
    header.insert("alg".into(), Value::from(key.alg().as_str()));
    header.insert("kid".into(), Value::from(kid));
    header.insert("typ".into(), Value::from("JWT"));
    let header_json =
        serde_json::to_vec(&header).map_err(|_| KeyError::invalid("cannot encode header"))?;
    let payload_json =
        serde_json::to_vec(claims).map_err(|_| KeyError::invalid("cannot encode claims"))?;
    let mut token = b64::encode(&header_json);
    token.push('.');
    token.push_str(&b64::encode(&payload_json));
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64::encode(&signature));
    Ok(token)
}
