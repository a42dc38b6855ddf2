//! Importing keys: JWK (RFC 7517, RFC 7518 §6, RFC 8037 §2), JWK Sets, and PEM (RFC 7468).
//!
//! Import is where untrusted key material enters, so every rule is checked here once and the
//! stored [`VerifyKey`] is known good:
//! - `kty` is `RSA`, `EC`, `OKP` or `oct`; anything else (and any `alg` outside the twelve JWS
//!   algorithms, such as `A256GCM`, `A128KW` or `RSA1_5`) is refused.
//! - `alg`, when present, must fit the key (ES256↔P-256, ES384↔P-384, EdDSA↔Ed25519, RS*/PS*↔RSA,
//!   HS*↔oct). When absent it is inferred — P-256→ES256, P-384→ES384, Ed25519→EdDSA,
//!   RSA→RS256, oct→HS256 — and the key then verifies only that algorithm: a token's `alg` must
//!   equal its key's (RFC 8725 §3.1, no algorithm confusion).
//! - `use` other than `sig`, or `key_ops` without `verify`, gives [`KeyError::NotForSigning`]
//!   (RFC 7517 §4.2–4.3).
//! - Every base64url member is canonical (RFC 7515 §2); EC coordinates and `d` have exactly
//!   the field size (RFC 7518 §6.2.1.2); private members must match the public ones.
//! - A key set must not repeat a `kid` (RFC 7517 §5 expects distinct kids) nor mix public-only
//!   keys with private or secret ones (Wycheproof "MixedKeySet": such a set usually means a
//!   secret was pasted where a public key set belonged).

use crate::alg::{Alg, Family};
use crate::b64;
use crate::der;
use crate::error::KeyError;
use crate::keys::{SigningKey, VerifyKey};
use base64::Engine;
use serde_json::{Map, Value};

/// Longest accepted `kid`, in bytes.
pub const MAX_KID_BYTES: usize = 256;

/// One imported key: its `kid` when the JWK carried one, the verifying half, and the signing
/// half when the input held private material (always for `oct`, which is symmetric).
#[derive(Clone, Debug)]
pub struct ImportedKey {
    pub kid: Option<String>,
    pub verify: VerifyKey,
    pub signing: Option<SigningKey>,
}

type Obj = Map<String, Value>;

/// Shorten untrusted text before quoting it in an error.
fn quote(s: &str) -> String {
    let mut out: String = s.chars().take(32).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

fn field_str<'a>(obj: &'a Obj, name: &'static str) -> Result<Option<&'a str>, KeyError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(KeyError::Invalid(format!("{name} must be a string"))),
    }
}

fn field_b64(obj: &Obj, name: &'static str) -> Result<Option<Vec<u8>>, KeyError> {
    match field_str(obj, name)? {
        None => Ok(None),
        Some(s) => b64::decode_canonical(s)
            .map(Some)
            .ok_or_else(|| KeyError::Invalid(format!("{name} is not canonical base64url"))),
    }
}

fn required_b64(obj: &Obj, name: &'static str) -> Result<Vec<u8>, KeyError> {
    field_b64(obj, name)?.ok_or_else(|| KeyError::Invalid(format!("missing {name}")))
}

/// Validate a `kid` from a JWK or token header.
pub(crate) fn kid_ok(kid: &str) -> bool {
    !kid.is_empty() && kid.len() <= MAX_KID_BYTES
}

fn check_use(obj: &Obj) -> Result<(), KeyError> {
    if let Some(u) = field_str(obj, "use")? {
        if u != "sig" {
            return Err(KeyError::NotForSigning);
        }
    }
    match obj.get("key_ops") {
        None => Ok(()),
        Some(Value::Array(ops)) => {
            let mut has_verify = false;
            for op in ops {
                match op.as_str() {
                    Some(s) => has_verify |= s == "verify",
                    None => return Err(KeyError::invalid("key_ops must be an array of strings")),
                }
            }
            if has_verify {
                Ok(())
            } else {
                Err(KeyError::NotForSigning)
            }
        }
        Some(_) => Err(KeyError::invalid("key_ops must be an array of strings")),
    }
}

/// Import one JWK.
pub fn import_jwk(jwk: &Value) -> Result<ImportedKey, KeyError> {
    let obj = jwk
        .as_object()
        .ok_or_else(|| KeyError::invalid("a JWK must be a JSON object"))?;
    let kid = match field_str(obj, "kid")? {
        None => None,
        Some(k) if kid_ok(k) => Some(k.to_owned()),
        Some(_) => {
            return Err(KeyError::Invalid(format!(
                "kid must be 1 to {MAX_KID_BYTES} bytes"
            )))
        }
    };
    check_use(obj)?;
    let alg = match field_str(obj, "alg")? {
        None => None,
        Some(a) => {
            Some(Alg::parse(a).ok_or_else(|| KeyError::Unsupported(format!("alg {}", quote(a))))?)
        }
    };
    let kty = field_str(obj, "kty")?.ok_or_else(|| KeyError::invalid("missing kty"))?;
    let (verify, signing) = match kty {
        "RSA" => import_rsa(obj, alg)?,
        "EC" => import_ec(obj, alg)?,
        "OKP" => import_okp(obj, alg)?,
        "oct" => import_oct(obj, alg)?,
        other => return Err(KeyError::Unsupported(format!("kty {}", quote(other)))),
    };
    Ok(ImportedKey {
        kid,
        verify,
        signing,
    })
}

fn fit(alg: Option<Alg>, default: Alg, family: Family, what: &str) -> Result<Alg, KeyError> {
    let alg = alg.unwrap_or(default);
    if alg.family() != family {
        return Err(KeyError::Invalid(format!("alg {alg} does not fit {what}")));
    }
    Ok(alg)
}

type Pair = (VerifyKey, Option<SigningKey>);

fn import_rsa(obj: &Obj, alg: Option<Alg>) -> Result<Pair, KeyError> {
    let alg = fit(alg, Alg::RS256, Family::Rsa, "an RSA key")?;
    let n = required_b64(obj, "n")?;
    let e = required_b64(obj, "e")?;
    let verify = VerifyKey::from_rsa(alg, &n, &e)?;
    if obj.contains_key("oth") {
        return Err(KeyError::unsupported("multi-prime RSA keys (oth)"));
    }
    let names = ["d", "p", "q", "dp", "dq", "qi"];
    let mut private = Vec::with_capacity(names.len());
    for name in names {
        if let Some(v) = field_b64(obj, name)? {
            private.push(v);
        }
    }
    let signing = match private.as_slice() {
        [] => None,
        [d, p, q, dp, dq, qi] => Some(SigningKey::from_rsa_components(
            alg, &n, &e, d, p, q, dp, dq, qi,
        )?),
        _ => {
            return Err(KeyError::invalid(
                "an RSA private JWK needs all of d, p, q, dp, dq and qi",
            ))
        }
    };
    Ok((verify, signing))
}

fn import_ec(obj: &Obj, alg: Option<Alg>) -> Result<Pair, KeyError> {
    let crv = field_str(obj, "crv")?.ok_or_else(|| KeyError::invalid("missing crv"))?;
    let curve_alg = match crv {
        "P-256" => Alg::ES256,
        "P-384" => Alg::ES384,
        other => return Err(KeyError::Unsupported(format!("EC curve {}", quote(other)))),
    };
    let alg = fit(alg, curve_alg, Family::Ec, "an EC key")?;
    if alg != curve_alg {
        return Err(KeyError::Invalid(format!(
            "alg {alg} does not match crv {crv}"
        )));
    }
    let size = alg.ec_field_len();
    let x = required_b64(obj, "x")?;
    let y = required_b64(obj, "y")?;
    if x.len() != size || y.len() != size {
        return Err(KeyError::Invalid(format!(
            "x and y must be {size} bytes for {crv}"
        )));
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let verify = VerifyKey::from_parts(alg, &point)?;
    let signing = match field_b64(obj, "d")? {
        None => None,
        Some(d) => Some(SigningKey::from_ec_components(alg, &d, &point)?),
    };
    Ok((verify, signing))
}

fn import_okp(obj: &Obj, alg: Option<Alg>) -> Result<Pair, KeyError> {
    let crv = field_str(obj, "crv")?.ok_or_else(|| KeyError::invalid("missing crv"))?;
    if crv != "Ed25519" {
        return Err(KeyError::Unsupported(format!("OKP curve {}", quote(crv))));
    }
    let alg = fit(alg, Alg::EdDSA, Family::Ed, "an Ed25519 key")?;
    let x = required_b64(obj, "x")?;
    let verify = VerifyKey::from_parts(alg, &x)?;
    let signing = match field_b64(obj, "d")? {
        None => None,
        Some(d) => Some(SigningKey::from_ed25519_seed(&d, &x)?),
    };
    Ok((verify, signing))
}

fn import_oct(obj: &Obj, alg: Option<Alg>) -> Result<Pair, KeyError> {
    let alg = fit(alg, Alg::HS256, Family::Hmac, "an oct key")?;
    let k = required_b64(obj, "k")?;
    let signing = SigningKey::from_private(alg, &k)?;
    Ok((signing.verify_key().clone(), Some(signing)))
}

/// Import a JWK Set (`{"keys":[...]}`), all or nothing.
pub fn import_jwks(jwks: &Value) -> Result<Vec<ImportedKey>, KeyError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| KeyError::invalid("a JWK Set must be an object with a \"keys\" array"))?;
    if keys.is_empty() {
        return Err(KeyError::invalid("the JWK Set has no keys"));
    }
    let mut out: Vec<ImportedKey> = Vec::with_capacity(keys.len());
    for jwk in keys {
        let key = import_jwk(jwk)?;
        if let Some(kid) = &key.kid {
            if out.iter().any(|k| k.kid.as_ref() == Some(kid)) {
                return Err(KeyError::Duplicate(kid.clone()));
            }
        }
        out.push(key);
    }
    let with_private = out.iter().filter(|k| k.signing.is_some()).count();
    if with_private != 0 && with_private != out.len() {
        return Err(KeyError::invalid(
            "the JWK Set mixes public keys with private or secret keys",
        ));
    }
    Ok(out)
}

/// One `-----BEGIN label-----` … `-----END label-----` block.
struct PemBlock {
    label: String,
    der: Vec<u8>,
}

fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, KeyError> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines().map(str::trim) {
        match &mut current {
            None => {
                if let Some(label) = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    current = Some((label.to_owned(), String::new()));
                }
            }
            Some((label, body)) => {
                if let Some(end) = line
                    .strip_prefix("-----END ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    if end != label {
                        return Err(KeyError::invalid("PEM END label does not match BEGIN"));
                    }
                    let der = base64::engine::general_purpose::STANDARD
                        .decode(body.as_bytes())
                        .map_err(|_| KeyError::invalid("PEM body is not valid base64"))?;
                    blocks.push(PemBlock {
                        label: std::mem::take(label),
                        der,
                    });
                    current = None;
                } else if line.contains(':') {
                    // RFC 1421 headers such as "Proc-Type: 4,ENCRYPTED"
                    return Err(KeyError::unsupported(
                        "encrypted PEM; decrypt the key before importing it",
                    ));
                } else {
                    body.push_str(line);
                }
            }
        }
    }
    if current.is_some() {
        return Err(KeyError::invalid("PEM block has no END line"));
    }
    Ok(blocks)
}

/// Import a PEM key for `alg`: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`), PKCS#1
/// (`RSA PRIVATE KEY`, `RSA PUBLIC KEY`) or SubjectPublicKeyInfo (`PUBLIC KEY`). The key type
/// must match `alg`; HMAC secrets are imported as `oct` JWKs instead.
pub fn import_pem(pem: &str, alg: Alg) -> Result<ImportedKey, KeyError> {
    if alg.is_hmac() {
        return Err(KeyError::unsupported(
            "PEM holds asymmetric keys; import an HMAC secret as an oct JWK",
        ));
    }
    let blocks: Vec<PemBlock> = pem_blocks(pem)?
        .into_iter()
        .filter(|b| b.label != "EC PARAMETERS")
        .collect();
    let [block] = blocks.as_slice() else {
        return Err(KeyError::invalid(
            "expected exactly one key in the PEM text",
        ));
    };
    let family = alg.family();
    let (verify, signing) = match (block.label.as_str(), family) {
        ("PRIVATE KEY", _) | ("EC PRIVATE KEY", Family::Ec) | ("RSA PRIVATE KEY", Family::Rsa) => {
            let signing = SigningKey::from_private(alg, &block.der)?;
            (signing.verify_key().clone(), Some(signing))
        }
        ("RSA PUBLIC KEY", Family::Rsa) => (rsa_public_der(alg, &block.der)?, None),
        ("PUBLIC KEY", _) => (spki_key(alg, &block.der)?, None),
        ("ENCRYPTED PRIVATE KEY", _) => {
            return Err(KeyError::unsupported(
                "encrypted PEM; decrypt the key before importing it",
            ))
        }
        (label, _) => {
            return Err(KeyError::Invalid(format!(
                "a PEM {} does not hold a {alg} key",
                quote(label)
            )))
        }
    };
    Ok(ImportedKey {
        kid: None,
        verify,
        signing,
    })
}

fn rsa_public_der(alg: Alg, der: &[u8]) -> Result<VerifyKey, KeyError> {
    let public = aws_lc_rs::rsa::PublicKey::from_der(der)
        .map_err(|_| KeyError::Invalid(format!("not an RSA public key (alg {alg})")))?;
    let c = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(&public);
    VerifyKey::from_rsa(alg, &c.n, &c.e)
}

fn spki_key(alg: Alg, spki_der: &[u8]) -> Result<VerifyKey, KeyError> {
    let spki = der::parse_spki(spki_der)
        .ok_or_else(|| KeyError::invalid("not a DER SubjectPublicKeyInfo"))?;
    let mismatch = || KeyError::Invalid(format!("the PEM public key does not fit alg {alg}"));
    match (spki.algorithm, alg.family()) {
        (der::OID_RSA, Family::Rsa) => rsa_public_der(alg, spki_der),
        (der::OID_EC, Family::Ec) => {
            let curve = match spki.parameter {
                Some(der::OID_P256) => Alg::ES256,
                Some(der::OID_P384) => Alg::ES384,
                _ => return Err(KeyError::unsupported("EC curve in PEM public key")),
            };
            if curve != alg {
                return Err(mismatch());
            }
            VerifyKey::from_parts(alg, spki.key)
        }
        (der::OID_ED25519, Family::Ed) if spki.parameter.is_none() => {
            VerifyKey::from_parts(alg, spki.key)
        }
        _ => Err(mismatch()),
    }
}
