//! Keys: the verifying half in a canonical byte form ([`VerifyKey`]), a ready-to-use verifier
//! ([`PreparedKey`]) and the signing half ([`SigningKey`]).
//!
//! Every way of making a key goes through [`VerifyKey::from_parts`], so the same rules hold for
//! keys made here, imported as JWK or PEM, and loaded back from storage or shared memory:
//! RSA moduli of 2048–8192 bits with an odd public exponent ≥ 3 (RFC 7518 §3.3 requires ≥ 2048;
//! Wycheproof ships e = 1 and ROCA keys), EC points on the named curve (invalid-curve attacks),
//! Ed25519 points canonically encoded and not of small order (RFC 8032 §5.1.3; a small-order key
//! accepts forged signatures), and HMAC keys at least as long as the hash (RFC 7518 §3.2).
//!
//! Signatures are produced and checked by jsonwebtoken's aws-lc-rs crypto provider; key
//! generation and private-key parsing use aws-lc-rs directly.

use crate::alg::{Alg, Family};
use crate::b64;
use crate::der;
use crate::error::KeyError;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPairComponents, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair,
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED,
    ECDSA_P384_SHA384_FIXED_SIGNING, ED25519, RSA_PKCS1_2048_8192_SHA256,
};
use jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
use jsonwebtoken::EncodingKey;
use serde_json::{json, Value};
use std::fmt;

/// Longest HMAC secret we keep (bytes). Longer secrets add nothing (RFC 2104 hashes them first)
/// and would not fit a fixed-size shared-memory slot.
pub const MAX_HMAC_KEY_BYTES: usize = 1024;
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;
/// Largest [`VerifyKey::bytes`]: RSA-8192 with a 33-bit exponent (2 + 1024 + 5).
pub const MAX_VERIFY_KEY_BYTES: usize = 2 + MAX_RSA_BITS / 8 + 5;

/// The verifying half of a key in a canonical, self-contained byte form that fits in a
/// fixed-size shared-memory slot: HMAC → the secret; EC → SEC1 uncompressed point
/// (0x04‖x‖y); Ed25519 → the 32-byte public key; RSA → 2-byte big-endian length of n, n (no
/// leading zeros), e (no leading zeros).
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyKey {
    alg: Alg,
    bytes: Vec<u8>,
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // HMAC bytes are a secret: never print key bytes.
        f.debug_struct("VerifyKey")
            .field("alg", &self.alg)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl VerifyKey {
    pub fn alg(&self) -> Alg {
        self.alg
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Rebuild a key from [`VerifyKey::bytes`], re-validating everything.
    pub fn from_parts(alg: Alg, bytes: &[u8]) -> Result<VerifyKey, KeyError> {
        match alg.family() {
            Family::Hmac => check_hmac(alg, bytes)?,
            Family::Ec => check_ec_point(alg, bytes)?,
            Family::Ed => check_ed25519(bytes)?,
            Family::Rsa => {
                let (n, e) =
                    split_rsa(bytes).ok_or_else(|| KeyError::invalid("bad RSA key bytes"))?;
                check_rsa(n, e)?;
            }
        }
        Ok(VerifyKey {
            alg,
            bytes: bytes.to_vec(),
        })
    }

    /// An RSA key from its modulus and exponent (leading zero bytes are dropped).
    pub(crate) fn from_rsa(alg: Alg, n: &[u8], e: &[u8]) -> Result<VerifyKey, KeyError> {
        if alg.family() != Family::Rsa {
            return Err(KeyError::Invalid(format!(
                "alg {alg} does not fit an RSA key"
            )));
        }
        let n = strip_zeros(n);
        let e = strip_zeros(e);
        if n.len() > MAX_RSA_BITS / 8 {
            return Err(KeyError::invalid("RSA modulus must be 2048 to 8192 bits"));
        }
        let len = u16::try_from(n.len()).map_err(|_| KeyError::invalid("RSA modulus too long"))?;
        let mut bytes = Vec::with_capacity(2 + n.len() + e.len());
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(n);
        bytes.extend_from_slice(e);
        VerifyKey::from_parts(alg, &bytes)
    }

    /// RSA modulus and exponent, for RSA keys.
    pub fn rsa_components(&self) -> Option<(&[u8], &[u8])> {
        if self.alg.family() == Family::Rsa {
            split_rsa(&self.bytes)
        } else {
            None
        }
    }

    /// Build the verifier once (the public key parsed into aws-lc's form, the RSA Montgomery
    /// context with it, or the HMAC key); cache the result.
    pub fn prepare(&self) -> PreparedKey {
        use aws_lc_rs::hmac;
        use aws_lc_rs::signature as sig;
        let public = |alg: &'static dyn sig::VerificationAlgorithm| {
            ParsedPublicKey::new(alg, &self.bytes)
                .ok()
                .map(Verifier::Public)
        };
        let rsa = |params: &'static sig::RsaParameters| {
            let (n, e) = split_rsa(&self.bytes)?;
            PublicKeyComponents { n, e }
                .to_parsed_public_key(params)
                .ok()
                .map(Verifier::Public)
        };
        let hmac =
            |alg: hmac::Algorithm| Some(Verifier::Hmac(Box::new(hmac::Key::new(alg, &self.bytes))));
        let verifier = match self.alg {
            Alg::HS256 => hmac(hmac::HMAC_SHA256),
            Alg::HS384 => hmac(hmac::HMAC_SHA384),
            Alg::HS512 => hmac(hmac::HMAC_SHA512),
            Alg::ES256 => public(&ECDSA_P256_SHA256_FIXED),
            Alg::ES384 => public(&ECDSA_P384_SHA384_FIXED),
            Alg::EdDSA => public(&ED25519),
            Alg::RS256 => rsa(&RSA_PKCS1_2048_8192_SHA256),
            Alg::RS384 => rsa(&sig::RSA_PKCS1_2048_8192_SHA384),
            Alg::RS512 => rsa(&sig::RSA_PKCS1_2048_8192_SHA512),
            Alg::PS256 => rsa(&sig::RSA_PSS_2048_8192_SHA256),
            Alg::PS384 => rsa(&sig::RSA_PSS_2048_8192_SHA384),
            Alg::PS512 => rsa(&sig::RSA_PSS_2048_8192_SHA512),
        };
        PreparedKey {
            alg: self.alg,
            verifier: std::sync::Arc::new(verifier.unwrap_or(Verifier::Invalid)),
        }
    }

    /// The public JWK (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2) with `kid`, `alg` and
    /// `use: "sig"`; `None` for HMAC keys, which have no public half.
    pub fn public_jwk(&self, kid: &str) -> Option<Value> {
        let alg = self.alg.as_str();
        match self.alg.family() {
            Family::Hmac => None,
            Family::Ec => {
                let field = self.alg.ec_field_len();
                let point = self.bytes.get(1..)?;
                let (x, y) = point.split_at(field.min(point.len()));
                let crv = if self.alg == Alg::ES384 {
                    "P-384"
                } else {
                    "P-256"
                };
                Some(
                    json!({"kty": "EC", "crv": crv, "x": b64::encode(x), "y": b64::encode(y),
                            "kid": kid, "alg": alg, "use": "sig"}),
                )
            }
            Family::Ed => Some(
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64::encode(&self.bytes),
                                      "kid": kid, "alg": alg, "use": "sig"}),
            ),
            Family::Rsa => {
                let (n, e) = split_rsa(&self.bytes)?;
                Some(
                    json!({"kty": "RSA", "n": b64::encode(n), "e": b64::encode(e),
                            "kid": kid, "alg": alg, "use": "sig"}),
                )
            }
        }
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

fn split_rsa(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<2>()?;
    let n_len = usize::from(u16::from_be_bytes(*len));
    if rest.len() <= n_len {
        return None;
    }
    Some(rest.split_at(n_len))
}

fn check_hmac(alg: Alg, secret: &[u8]) -> Result<(), KeyError> {
    let min = alg.hmac_min_len();
    if secret.len() < min {
        return Err(KeyError::Invalid(format!(
            "{alg} key must be at least {min} bytes (RFC 7518 section 3.2)"
        )));
    }
    if secret.len() > MAX_HMAC_KEY_BYTES {
        return Err(KeyError::Invalid(format!(
            "HMAC key longer than {MAX_HMAC_KEY_BYTES} bytes"
        )));
    }
    Ok(())
}

fn check_ec_point(alg: Alg, point: &[u8]) -> Result<(), KeyError> {
    let verify_alg = match alg {
        Alg::ES256 => &ECDSA_P256_SHA256_FIXED,
        Alg::ES384 => &ECDSA_P384_SHA384_FIXED,
        _ => {
            return Err(KeyError::Invalid(format!(
                "alg {alg} does not fit an EC key"
            )))
        }
    };
    if point.len() != 1 + 2 * alg.ec_field_len() || point[0] != 0x04 {
        return Err(KeyError::invalid(
            "EC point must be uncompressed with x and y of the curve's size",
        ));
    }
    // aws-lc decodes the point and checks that it lies on the curve (invalid-curve attacks).
    ParsedPublicKey::new(verify_alg, point)
        .map_err(|_| KeyError::invalid("EC point is not on the curve"))?;
    Ok(())
}

fn check_ed25519(x: &[u8]) -> Result<(), KeyError> {
    let bytes: [u8; 32] = x
        .try_into()
        .map_err(|_| KeyError::invalid("Ed25519 public key must be 32 bytes"))?;
    let compressed = curve25519_dalek::edwards::CompressedEdwardsY(bytes);
    let point = compressed
        .decompress()
        .ok_or_else(|| KeyError::invalid("Ed25519 public key is not a curve point"))?;
    if point.compress().as_bytes() != &bytes {
        return Err(KeyError::invalid(
            "Ed25519 public key is not canonically encoded",
        ));
    }
    if point.is_small_order() {
        return Err(KeyError::invalid("Ed25519 public key has small order"));
    }
    ParsedPublicKey::new(&ED25519, bytes)
        .map_err(|_| KeyError::invalid("Ed25519 public key rejected"))?;
    Ok(())
}

fn check_rsa(n: &[u8], e: &[u8]) -> Result<(), KeyError> {
    let (&n0, _) = n
        .split_first()
        .ok_or_else(|| KeyError::invalid("empty RSA modulus"))?;
    if n0 == 0 {
        return Err(KeyError::invalid("RSA modulus has leading zero bytes"));
    }
    let bits = n.len() * 8 - n0.leading_zeros() as usize;
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(KeyError::Invalid(format!(
            "RSA modulus must be {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, not {bits}"
        )));
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Err(KeyError::invalid("RSA modulus is even"));
    }
    // e: odd, at least 3, at most 33 bits (the range aws-lc accepts).
    let e_ok = match e {
        [] | [0, ..] => false,
        [x] => *x >= 3 && x & 1 == 1,
        _ => e.len() < 5 || (e.len() == 5 && e[0] == 1),
    };
    if !e_ok || e.last().is_some_and(|b| b & 1 == 0) {
        return Err(KeyError::invalid(
            "RSA public exponent must be odd, at least 3 and at most 33 bits",
        ));
    }
    if has_roca_fingerprint(n) {
        return Err(KeyError::invalid(
            "RSA modulus has the ROCA fingerprint (CVE-2017-15361); the private key is recoverable",
        ));
    }
    PublicKeyComponents { n, e }
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .map_err(|_| KeyError::invalid("RSA public key rejected"))?;
    Ok(())
}

/// ROCA (CVE-2017-15361, Nemec et al., CCS 2017): Infineon-generated primes are
/// `k·M + (65537^a mod M)`, so `n mod r` lies in the subgroup generated by 65537 modulo every
/// small prime `r` dividing M. A random modulus passes this test for all 38 primes below with
/// probability ≈ 2^-27.8, so a false refusal is negligible; Wycheproof's JWK vectors include
/// such a key.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let r = n
            .iter()
            .fold(0u32, |acc, &b| ((acc << 8) | u32::from(b)) % p);
        let g = 65537 % p;
        let mut x = 1u32;
        loop {
            if x == r {
                return true;
            }
            x = x * g % p;
            if x == 1 {
                return false;
            }
        }
    })
}

/// A verifier built once from a [`VerifyKey`]; cheap to clone and to share between lookups.
#[derive(Clone)]
pub struct PreparedKey {
    alg: Alg,
    verifier: std::sync::Arc<Verifier>,
}

enum Verifier {
    Public(ParsedPublicKey),
    Hmac(Box<aws_lc_rs::hmac::Key>),
    /// The key bytes were valid when stored but aws-lc refuses them now: nothing verifies.
    Invalid,
}

impl fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedKey")
            .field("alg", &self.alg)
            .finish()
    }
}

impl PreparedKey {
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Check `signature` over `signing_input` with exactly this key's algorithm.
    ///
    /// ECDSA signatures must be the fixed-width `r‖s` of RFC 7518 §3.4 (64 bytes for ES256,
    /// 96 for ES384) with neither half zero; DER signatures and other lengths are refused before
    /// any arithmetic.
    pub fn verify(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        if self.alg.family() == Family::Ec {
            let half = self.alg.ec_field_len();
            if signature.len() != 2 * half {
                return false;
            }
            let (r, s) = signature.split_at(half);
            if r.iter().all(|&b| b == 0) || s.iter().all(|&b| b == 0) {
                return false;
            }
        }
        match &*self.verifier {
            Verifier::Public(key) => key.verify_sig(signing_input, signature).is_ok(),
            // Constant-time comparison of the tag.
            Verifier::Hmac(key) => aws_lc_rs::hmac::verify(key, signing_input, signature).is_ok(),
            Verifier::Invalid => false,
        }
    }
}

/// The signing half of a key.
///
/// [`SigningKey::private_bytes`] is the storage form: PKCS#8 v1 DER for EC and Ed25519,
/// PKCS#1 `RSAPrivateKey` DER for RSA (what aws-lc-rs's RSA signer consumes directly), and the
/// raw secret for HMAC. [`SigningKey::from_private`] also accepts PKCS#8 for RSA and SEC1 for EC
/// and normalises them to the storage form.
#[derive(Clone)]
pub struct SigningKey {
    alg: Alg,
    private: Vec<u8>,
    verify: VerifyKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("private", &"[redacted]")
            .finish()
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        // Best effort, without `unsafe`: overwrite the private bytes before the allocation is
        // released; `black_box` keeps the compiler from eliding the dead store.
        self.private.fill(0);
        std::hint::black_box(&self.private);
    }
}

fn ec_signing_alg(alg: Alg) -> Option<&'static EcdsaSigningAlgorithm> {
    match alg {
        Alg::ES256 => Some(&ECDSA_P256_SHA256_FIXED_SIGNING),
        Alg::ES384 => Some(&ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}

impl SigningKey {
    /// A fresh key from aws-lc-rs's CSPRNG: ES256 (P-256), RS256 (2048-bit), EdDSA (Ed25519),
    /// HS256 (32 random bytes).
    pub fn generate(alg: Alg) -> Result<SigningKey, KeyError> {
        let failed = |_| KeyError::invalid("key generation failed");
        let private: Vec<u8> = match alg {
            Alg::HS256 => {
                let mut secret = vec![0u8; 32];
                aws_lc_rs::rand::fill(&mut secret).map_err(failed)?;
                secret
            }
            Alg::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Alg::EdDSA => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Alg::RS256 => {
                // A fresh modulus fails the ROCA test with probability 2^-27.8; try again then.
                let mut last = KeyError::invalid("key generation failed");
                for _ in 0..4 {
                    let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
                    match SigningKey::from_rsa_pair(alg, &kp) {
                        Ok(k) => return Ok(k),
                        Err(e) => last = e,
                    }
                }
                return Err(last);
            }
            _ => {
                return Err(KeyError::Unsupported(format!(
                    "keys made in the database use ES256, RS256, EdDSA or HS256, not {alg}"
                )))
            }
        };
        SigningKey::from_private(alg, &private)
    }

    /// Inverse of [`SigningKey::private_bytes`].
    pub fn from_private(alg: Alg, private: &[u8]) -> Result<SigningKey, KeyError> {
        match alg.family() {
            Family::Hmac => Ok(SigningKey {
                alg,
                verify: VerifyKey::from_parts(alg, private)?,
                private: private.to_vec(),
            }),
            Family::Ec => {
                let signing_alg =
                    ec_signing_alg(alg).ok_or_else(|| KeyError::invalid("not an EC algorithm"))?;
                let kp =
                    EcdsaKeyPair::from_private_key_der(signing_alg, private).map_err(|_| {
                        KeyError::Invalid(format!("not a valid {alg} private key (PKCS#8 or SEC1)"))
                    })?;
                SigningKey::from_ec_pair(alg, &kp)
            }
            Family::Ed => {
                let kp = Ed25519KeyPair::from_pkcs8(private)
                    .map_err(|_| KeyError::invalid("not a valid Ed25519 PKCS#8 private key"))?;
                SigningKey::from_ed_pair(&kp)
            }
            Family::Rsa => {
                let kp = RsaKeyPair::from_der(private)
                    .or_else(|_| RsaKeyPair::from_pkcs8(private))
                    .map_err(|_| {
                        KeyError::invalid("not a valid RSA private key (PKCS#1 or PKCS#8)")
                    })?;
                SigningKey::from_rsa_pair(alg, &kp)
            }
        }
    }

    /// An EC key from the JWK `d` and the public point; aws-lc checks they belong together.
    pub(crate) fn from_ec_components(
        alg: Alg,
        d: &[u8],
        point: &[u8],
    ) -> Result<SigningKey, KeyError> {
        let signing_alg =
            ec_signing_alg(alg).ok_or_else(|| KeyError::invalid("not an EC algorithm"))?;
        if d.len() != alg.ec_field_len() {
            return Err(KeyError::invalid("EC private key d has the wrong length"));
        }
        let kp = EcdsaKeyPair::from_private_key_and_public_key(signing_alg, d, point)
            .map_err(|_| KeyError::invalid("EC private key d does not match the public point"))?;
        SigningKey::from_ec_pair(alg, &kp)
    }

    /// An Ed25519 key from the JWK `d` (the RFC 8032 seed) and `x`.
    pub(crate) fn from_ed25519_seed(seed: &[u8], x: &[u8]) -> Result<SigningKey, KeyError> {
        if seed.len() != 32 {
            return Err(KeyError::invalid("Ed25519 private key d must be 32 bytes"));
        }
        let kp = Ed25519KeyPair::from_seed_and_public_key(seed, x)
            .map_err(|_| KeyError::invalid("Ed25519 private key d does not derive x"))?;
        SigningKey::from_ed_pair(&kp)
    }

    /// An RSA key from the JWK private members (RFC 7518 §6.3.2); aws-lc validates `d` and the
    /// CRT values against `n` and `e`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_rsa_components(
        alg: Alg,
        n: &[u8],
        e: &[u8],
        d: &[u8],
        p: &[u8],
        q: &[u8],
        dp: &[u8],
        dq: &[u8],
        qi: &[u8],
    ) -> Result<SigningKey, KeyError> {
        let components = KeyPairComponents {
            public_key: PublicKeyComponents {
                n: strip_zeros(n),
                e: strip_zeros(e),
            },
            d,
            p,
            q,
            dP: dp,
            dQ: dq,
            qInv: qi,
        };
        let kp = RsaKeyPair::from_components(&components)
            .map_err(|_| KeyError::invalid("RSA private key members are inconsistent"))?;
        SigningKey::from_rsa_pair(alg, &kp)
    }

    fn from_ec_pair(alg: Alg, kp: &EcdsaKeyPair) -> Result<SigningKey, KeyError> {
        let verify = VerifyKey::from_parts(alg, kp.public_key().as_ref())?;
        let pkcs8 = kp
            .to_pkcs8v1()
            .map_err(|_| KeyError::invalid("cannot encode EC private key"))?;
        Ok(SigningKey {
            alg,
            private: pkcs8.as_ref().to_vec(),
            verify,
        })
    }

    fn from_ed_pair(kp: &Ed25519KeyPair) -> Result<SigningKey, KeyError> {
        let verify = VerifyKey::from_parts(Alg::EdDSA, kp.public_key().as_ref())?;
        let pkcs8 = kp
            .to_pkcs8v1()
            .map_err(|_| KeyError::invalid("cannot encode Ed25519 private key"))?;
        Ok(SigningKey {
            alg: Alg::EdDSA,
            private: pkcs8.as_ref().to_vec(),
            verify,
        })
    }

    fn from_rsa_pair(alg: Alg, kp: &RsaKeyPair) -> Result<SigningKey, KeyError> {
        let public = PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
        let verify = VerifyKey::from_rsa(alg, &public.n, &public.e)?;
        let pkcs8: Pkcs8V1Der<'static> = kp
            .as_der()
            .map_err(|_| KeyError::invalid("cannot encode RSA private key"))?;
        let pkcs1 = der::pkcs8_private_key(pkcs8.as_ref())
            .ok_or_else(|| KeyError::invalid("cannot encode RSA private key"))?;
        Ok(SigningKey {
            alg,
            private: pkcs1.to_vec(),
            verify,
        })
    }

    /// The storage form (see the type's documentation). Secret: never log or return it.
    pub fn private_bytes(&self) -> &[u8] {
        &self.private
    }

    pub fn verify_key(&self) -> &VerifyKey {
        &self.verify
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Sign `signing_input` (the ASCII `header.payload` of a compact JWS).
    pub fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, KeyError> {
        let key = match self.alg.family() {
            Family::Hmac => EncodingKey::from_secret(&self.private),
            Family::Ec => EncodingKey::from_ec_der(&self.private),
            Family::Ed => EncodingKey::from_ed_der(&self.private),
            Family::Rsa => EncodingKey::from_rsa_der(&self.private),
        };
        let signer = (DEFAULT_PROVIDER.signer_factory)(&self.alg.to_jwt(), &key)
            .map_err(|_| KeyError::invalid("cannot use key for signing"))?;
        signer
            .try_sign(signing_input)
            .map_err(|_| KeyError::invalid("signing failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_exponent_rules() {
        let mut n = vec![0xffu8; 256];
        n[255] = 0xfb; // odd; arbitrary 2048-bit modulus
        assert!(check_rsa(&n, &[1]).is_err());
        assert!(check_rsa(&n, &[2]).is_err());
        assert!(check_rsa(&n, &[0x01, 0x00, 0x00]).is_err());
        assert!(check_rsa(&n, &[0x00, 0x03]).is_err());
        assert!(check_rsa(&n, &[2, 0, 0, 0, 1]).is_err());
        n[255] = 0xfa;
        assert!(check_rsa(&n, &[1, 0, 1]).is_err(), "even modulus");
        assert!(check_rsa(&n[1..], &[1, 0, 1]).is_err(), "2040 bits");
    }

    #[test]
    fn split_rsa_bounds() {
        assert_eq!(split_rsa(&[]), None);
        assert_eq!(split_rsa(&[0, 2, 1, 2]), None);
        assert_eq!(split_rsa(&[0, 1, 7, 3]), Some((&[7u8][..], &[3u8][..])));
        assert!(VerifyKey::from_parts(Alg::RS256, &[0xff, 0xff, 1]).is_err());
    }

    #[test]
    fn debug_redacts() {
        let k = SigningKey::from_private(Alg::HS256, &[0x41; 32]).unwrap();
        let s = format!("{k:?} {:?}", k.verify_key());
        assert!(
            !s.contains("65") && !s.contains("AAAA") && !s.contains("41"),
            "{s}"
        );
    }
}
