//! Target `jwk`: [`import_jwk`], [`import_jwks`] and [`import_pem`] — the paths of
//! `auth.import_jwk`, `auth.import_jwks` and `auth.import_pem` — and the storage round trip
//! ([`VerifyKey::from_parts`], [`SigningKey::from_private`]) that reloads keys from the table and
//! shared memory.
//!
//! Input:
//! - first byte below 0x80: text. Parsed as JSON (as a `jsonb` argument arrives) and given to
//!   `import_jwk` and `import_jwks`; the same text is given to `import_pem` with every `alg`.
//! - `0x80 | m`, m mod 4 = 0: a JWK built from parts: body = kty‖alg‖flags‖member,0xFF,member…,
//!   each member base64url-encoded under the kty's names in order (see [`KTYS`], [`ALGS`],
//!   [`Flags`]); m mod 4 = 3 wraps it in a JWK Set (see [`Flags::SECOND_PUBLIC`]).
//! - m mod 4 = 1: PEM from DER: body = label‖alg‖DER, the DER wrapped as PEM with label
//!   [`PEM_LABELS`]`[label]` and imported for `Alg::ALL[alg mod 12]`.
//! - m mod 4 = 2: storage bytes: body = alg‖bytes, given to `VerifyKey::from_parts` and
//!   `SigningKey::from_private`.
//!
//! Properties of every accepted key: it re-validates from its storage bytes to an equal key; its
//! bytes fit the fixed-size shared-memory slot ([`MAX_VERIFY_KEY_BYTES`], HMAC secrets at most
//! [`MAX_HMAC_KEY_BYTES`]); its public JWK imports back to the same key; a signing half has the
//! same public key, survives its storage form, and signs what the verifier accepts; a key set
//! has distinct kids and is all-public or all-private.

use crate::{parts, STRUCTURED};
use base64::Engine;
use pg_auth_keys_core::{
    b64url_encode, import_jwk, import_jwks, import_pem, Alg, ImportedKey, SigningKey, VerifyKey,
    MAX_HMAC_KEY_BYTES, MAX_KID_BYTES, MAX_VERIFY_KEY_BYTES,
};
use serde_json::{json, Map, Value};

/// `kty`, `crv` and member names, indexed by the kty byte (mod the length).
pub const KTYS: [(&str, Option<&str>, &[&str]); 8] = [
    (
        "RSA",
        None,
        &["n", "e", "d", "p", "q", "dp", "dq", "qi", "oth"],
    ),
    ("EC", Some("P-256"), &["x", "y", "d"]),
    ("EC", Some("P-384"), &["x", "y", "d"]),
    ("OKP", Some("Ed25519"), &["x", "d"]),
    ("oct", None, &["k"]),
    ("EC", Some("P-521"), &["x", "y", "d"]),
    ("OKP", Some("X25519"), &["x", "d"]),
    ("RSA", Some("P-256"), &["n", "e"]),
];

/// `alg` member by the alg byte: 0 absent, 1–12 [`Alg::ALL`], then a few refused values.
pub const ALGS: [Option<&str>; 16] = [
    None,
    Some("HS256"),
    Some("HS384"),
    Some("HS512"),
    Some("RS256"),
    Some("RS384"),
    Some("RS512"),
    Some("PS256"),
    Some("PS384"),
    Some("PS512"),
    Some("ES256"),
    Some("ES384"),
    Some("EdDSA"),
    Some("none"),
    Some("ES512"),
    Some("RSA-OAEP"),
];

/// Bits of the flags byte.
pub struct Flags;

impl Flags {
    pub const KID: u8 = 1;
    pub const USE_SIG: u8 = 2;
    pub const USE_ENC: u8 = 4;
    pub const OPS_VERIFY: u8 = 8;
    pub const OPS_SIGN: u8 = 16;
    /// `alg` as a number instead of a string (a type error).
    pub const ALG_NUMBER: u8 = 32;
    /// In a JWK Set, add the key's public JWK (same kid) as a second member.
    pub const SECOND_PUBLIC: u8 = 64;
    /// Drop `kty`.
    pub const NO_KTY: u8 = 128;
}

pub const PEM_LABELS: [&str; 8] = [
    "PRIVATE KEY",
    "EC PRIVATE KEY",
    "RSA PRIVATE KEY",
    "RSA PUBLIC KEY",
    "PUBLIC KEY",
    "ENCRYPTED PRIVATE KEY",
    "EC PARAMETERS",
    "CERTIFICATE",
];

pub fn run(data: &[u8]) {
    match data.split_first() {
        Some((&sel, body)) if sel >= STRUCTURED => match (sel - STRUCTURED) % 4 {
            0 => jwk_value(&build_jwk(body)),
            3 => jwk_value(&build_jwks(body)),
            1 => {
                let (label, alg, der) = match body {
                    [l, a, der @ ..] => (*l, *a, der),
                    _ => return,
                };
                let label = PEM_LABELS[usize::from(label) % PEM_LABELS.len()];
                let alg = Alg::ALL[usize::from(alg) % Alg::ALL.len()];
                pem(&pem_text(label, der), &[alg]);
            }
            _ => {
                let Some((&alg, bytes)) = body.split_first() else {
                    return;
                };
                storage(Alg::ALL[usize::from(alg) % Alg::ALL.len()], bytes);
            }
        },
        _ => {
            let text = String::from_utf8_lossy(data);
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                jwk_value(&v);
            }
            pem(&text, &Alg::ALL);
        }
    }
}

/// Wrap DER as PEM (RFC 7468), 64 characters a line.
pub fn pem_text(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn byte(body: &[u8], i: usize) -> u8 {
    body.get(i).copied().unwrap_or(0)
}

/// The JWK of a structured input (see the module documentation).
pub fn build_jwk(body: &[u8]) -> Value {
    let (kty, crv, names) = KTYS[usize::from(byte(body, 0)) % KTYS.len()];
    let alg = ALGS[usize::from(byte(body, 1)) % ALGS.len()];
    let flags = byte(body, 2);
    let mut obj = Map::new();
    if flags & Flags::NO_KTY == 0 {
        obj.insert("kty".into(), kty.into());
    }
    if let Some(crv) = crv {
        obj.insert("crv".into(), crv.into());
    }
    if let Some(alg) = alg {
        let v = if flags & Flags::ALG_NUMBER != 0 {
            json!(alg.len())
        } else {
            alg.into()
        };
        obj.insert("alg".into(), v);
    }
    if flags & Flags::KID != 0 {
        obj.insert("kid".into(), "fuzz".into());
    }
    if flags & Flags::USE_SIG != 0 {
        obj.insert("use".into(), "sig".into());
    } else if flags & Flags::USE_ENC != 0 {
        obj.insert("use".into(), "enc".into());
    }
    let mut ops = Vec::new();
    if flags & Flags::OPS_VERIFY != 0 {
        ops.push("verify");
    }
    if flags & Flags::OPS_SIGN != 0 {
        ops.push("sign");
    }
    if !ops.is_empty() {
        obj.insert("key_ops".into(), json!(ops));
    }
    if body.len() > 3 {
        for (name, part) in names.iter().zip(parts(&body[3..])) {
            obj.insert((*name).into(), b64url_encode(part).into());
        }
    }
    Value::Object(obj)
}

fn build_jwks(body: &[u8]) -> Value {
    let jwk = build_jwk(body);
    let mut keys = vec![jwk.clone()];
    if byte(body, 2) & Flags::SECOND_PUBLIC != 0 {
        if let Ok(k) = import_jwk(&jwk) {
            if let Some(public) = k.verify.public_jwk(k.kid.as_deref().unwrap_or("fuzz")) {
                keys.push(public);
            }
        }
    }
    json!({ "keys": keys })
}

fn jwk_value(v: &Value) {
    if let Ok(k) = import_jwk(v) {
        check_imported(&k);
    }
    if let Ok(keys) = import_jwks(v) {
        assert!(!keys.is_empty(), "imported an empty key set");
        let private = keys.iter().filter(|k| k.signing.is_some()).count();
        assert!(
            private == 0 || private == keys.len(),
            "imported a key set that mixes public and private keys"
        );
        for (i, k) in keys.iter().enumerate() {
            if let Some(kid) = &k.kid {
                assert!(
                    keys[..i].iter().all(|o| o.kid.as_ref() != Some(kid)),
                    "imported a key set with a repeated kid"
                );
            }
            check_imported(k);
        }
    }
}

fn pem(text: &str, algs: &[Alg]) {
    for &alg in algs {
        if let Ok(k) = import_pem(text, alg) {
            assert!(!alg.is_hmac(), "imported an HMAC key from PEM");
            assert_eq!(k.verify.alg(), alg);
            assert!(k.kid.is_none());
            check_imported(&k);
        }
    }
}

fn storage(alg: Alg, bytes: &[u8]) {
    if let Ok(v) = VerifyKey::from_parts(alg, bytes) {
        assert_eq!(v.bytes(), bytes);
        check_verify_key(&v, alg);
    }
    if let Ok(s) = SigningKey::from_private(alg, bytes) {
        check_verify_key(s.verify_key(), alg);
        check_signing(&s, s.verify_key());
    }
}

fn check_imported(k: &ImportedKey) {
    let alg = k.verify.alg();
    if let Some(kid) = &k.kid {
        assert!(!kid.is_empty() && kid.len() <= MAX_KID_BYTES);
    }
    check_verify_key(&k.verify, alg);
    if alg.is_hmac() {
        assert!(k.signing.is_some(), "an HMAC key without its secret");
    }
    if let Some(s) = &k.signing {
        check_signing(s, &k.verify);
    }
}

fn check_verify_key(v: &VerifyKey, alg: Alg) {
    assert_eq!(v.alg(), alg);
    let bytes = v.bytes();
    assert!(
        bytes.len() <= MAX_VERIFY_KEY_BYTES,
        "key bytes overflow the slot"
    );
    if alg.is_hmac() {
        assert!(bytes.len() <= MAX_HMAC_KEY_BYTES);
    }
    let again = VerifyKey::from_parts(alg, bytes).expect("stored key bytes re-validate");
    assert_eq!(&again, v);
    let _ = v.prepare();
    assert_eq!(
        v.rsa_components().is_some(),
        alg.as_str().starts_with(['R', 'P'])
    );
    match v.public_jwk("kid-1") {
        None => assert!(alg.is_hmac(), "no public JWK for {alg}"),
        Some(jwk) => {
            assert!(!alg.is_hmac(), "an HMAC key has a public JWK");
            let back = import_jwk(&jwk).expect("a public JWK re-imports");
            assert_eq!(&back.verify, v);
            assert_eq!(back.kid.as_deref(), Some("kid-1"));
            assert!(back.signing.is_none());
        }
    }
}

fn check_signing(s: &SigningKey, v: &VerifyKey) {
    assert_eq!(
        s.verify_key(),
        v,
        "private half does not match the public key"
    );
    assert_eq!(s.alg(), v.alg());
    let again = SigningKey::from_private(s.alg(), s.private_bytes()).expect("storage form reloads");
    assert_eq!(again.verify_key(), v);
    let input = b"eyJhbGciOiJub25lIn0.e30";
    let sig = s.sign(input).expect("an imported key signs");
    assert!(v.prepare().verify(input, &sig), "own signature refused");
}
