//! Microseconds per verification, outside PostgreSQL, for each algorithm the project makes keys
//! for, along four paths over the same distinct tokens:
//!
//! - `core`: the JOSE core's whole path for one token (parse, signature, claims, claim rules);
//! - `aws_lc`: the core's signature check alone (`PreparedKey::verify`, jsonwebtoken's aws_lc_rs
//!   provider: what the extension uses);
//! - `rust_crypto`: the same check through jsonwebtoken's rust_crypto provider;
//! - `parsed_once`: aws-lc-rs with the public key parsed once (`ParsedPublicKey`, `hmac::Key`).
//!
//! Output: one line per (alg, path): `<alg> <path> <µs per verification>`, the best of `PASSES`
//! passes; each pass runs every path once, in turn, so that a disturbance hits them alike.
//! Usage: bench-crypto [tokens per algorithm [algorithms, comma-separated]]
//!
//! `bench-crypto hmac FILE SECRET_HEX` (bench item 10): the raw HS256 check, HMAC-SHA256 with the
//! key parsed once, over the tokens of FILE (one per line, made by the extension); the text is
//! split and the signature decoded before timing. Output: `hmac_raw <µs per token>`,
//! `hmac_core <µs per token>` (the JOSE core's parse, signature check and whole claims map over
//! the same tokens) and `hmac_core_keeping` (the same keeping only the members the extension
//! keeps, as it verifies).

use std::time::Instant;

use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER as RUST_CRYPTO;
use jsonwebtoken::DecodingKey;
use pg_auth_keys_core::{self as auth_core, Alg, ClaimRules, ParsedToken, SigningKey};
use serde_json::{json, Map, Value};

const PASSES: usize = 5;

enum Once {
    Public(ParsedPublicKey),
    Hmac(Box<aws_lc_rs::hmac::Key>),
}

impl Once {
    fn verify(&self, input: &[u8], sig: &[u8]) -> bool {
        match self {
            Once::Public(k) => k.verify_sig(input, sig).is_ok(),
            Once::Hmac(k) => aws_lc_rs::hmac::verify(k, input, sig).is_ok(),
        }
    }
}

type Path<'a> = (&'static str, Box<dyn FnMut(usize) -> bool + 'a>);

/// Best time of `PASSES` passes over `n` tokens for each path, in µs per token, the paths
/// interleaved pass by pass; every verification must succeed.
fn best_us(n: usize, paths: &mut [Path<'_>]) -> Vec<f64> {
    let mut best = vec![f64::INFINITY; paths.len()];
    for _ in 0..PASSES {
        for (b, (_, f)) in best.iter_mut().zip(paths.iter_mut()) {
            let t0 = Instant::now();
            for i in 0..n {
                assert!(f(i), "a valid token did not verify");
            }
            *b = b.min(t0.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
    }
    best
}

/// `hmac FILE SECRET_HEX`: see the module documentation.
fn hmac_file(file: &str, secret_hex: &str) {
    let secret: Vec<u8> = (0..secret_hex.len() / 2)
        .map(|i| u8::from_str_radix(&secret_hex[2 * i..2 * i + 2], 16).expect("hex secret"))
        .collect();
    let text = std::fs::read_to_string(file).expect("token file");
    let tokens: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let split: Vec<(&[u8], Vec<u8>)> = tokens
        .iter()
        .map(|t| {
            let dot = t.rfind('.').expect("a compact JWS");
            let sig = auth_core::b64url_decode(&t[dot + 1..]).expect("base64url signature");
            (&t.as_bytes()[..dot], sig)
        })
        .collect();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
    let prepared = auth_core::VerifyKey::from_parts(Alg::HS256, &secret)
        .expect("HS256 secret")
        .prepare();
    let n = tokens.len();
    let mut paths: Vec<Path<'_>> = vec![
        (
            "hmac_raw",
            Box::new(|i| aws_lc_rs::hmac::verify(&key, split[i].0, &split[i].1).is_ok()),
        ),
        (
            "hmac_core",
            Box::new(|i| {
                auth_core::parse_compact(tokens[i], 16384)
                    .is_ok_and(|p| p.verify_with(&prepared).is_ok() && p.claims().is_ok())
            }),
        ),
        (
            "hmac_core_keeping",
            Box::new(|i| {
                auth_core::parse_compact(tokens[i], 16384).is_ok_and(|p| {
                    p.verify_with(&prepared).is_ok() && p.claims_keeping(&KEPT).is_ok()
                })
            }),
        ),
    ];
    let best = best_us(n, &mut paths);
    for ((path, _), us) in paths.iter().zip(best) {
        println!("{path} {us:.3}");
    }
}

/// The members the extension keeps of a verified token's claims (src/verified.rs, `KEPT`).
const KEPT: [&str; 10] = [
    "exp", "nbf", "iat", "aud", "iss", "sub", "api_key_id", "role", "session_id", "jti",
];

fn main() {
    if std::env::args().nth(1).as_deref() == Some("hmac") {
        let arg = |i| std::env::args().nth(i).expect("usage: hmac FILE SECRET_HEX");
        return hmac_file(&arg(2), &arg(3));
    }
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let only = std::env::args().nth(2);
    let rules = ClaimRules::with_defaults(now);
    for alg in [Alg::ES256, Alg::RS256, Alg::EdDSA, Alg::HS256] {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|a| a == alg.as_str()))
        {
            continue;
        }
        let key = SigningKey::generate(alg).expect("key generation");
        let vk = key.verify_key();
        let prepared = vk.prepare();
        let texts: Vec<String> = (0..n)
            .map(|i| {
                let Value::Object(claims) = json!({
                    "sub": format!("00000000-0000-4000-8000-{i:012}"), "role": "authenticated",
                    "aud": "authenticated", "email": format!("user{i}@example.com"),
                    "iat": now, "exp": now + 3600, "aal": "aal1", "is_anonymous": false,
                    "app_metadata": {"provider": "email", "providers": ["email"]},
                }) else {
                    unreachable!()
                };
                auth_core::sign_compact(&key, "bench-kid", &claims).expect("signing")
            })
            .collect();
        let parsed: Vec<ParsedToken> = texts
            .iter()
            .map(|t| auth_core::parse_compact(t, 16384).expect("parse"))
            .collect();

        // The same DecodingKey the core builds (VerifyKey::prepare), through rust_crypto.
        let dk = match alg {
            Alg::HS256 => DecodingKey::from_secret(vk.bytes()),
            Alg::ES256 => DecodingKey::from_ec_der(vk.bytes()),
            Alg::EdDSA => DecodingKey::from_ed_der(vk.bytes()),
            _ => {
                let (n, e) = vk.rsa_components().expect("RSA key");
                DecodingKey::from_rsa_raw_components(n, e)
            }
        };
        let jwt_alg = match alg {
            Alg::HS256 => jsonwebtoken::Algorithm::HS256,
            Alg::ES256 => jsonwebtoken::Algorithm::ES256,
            Alg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            _ => jsonwebtoken::Algorithm::RS256,
        };
        let once = match alg {
            Alg::HS256 => Once::Hmac(Box::new(aws_lc_rs::hmac::Key::new(
                aws_lc_rs::hmac::HMAC_SHA256,
                vk.bytes(),
            ))),
            Alg::ES256 => Once::Public(
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, vk.bytes()).expect("EC key"),
            ),
            Alg::EdDSA => Once::Public(ParsedPublicKey::new(&ED25519, vk.bytes()).expect("Ed key")),
            _ => {
                let (n, e) = vk.rsa_components().expect("RSA key");
                Once::Public(
                    aws_lc_rs::rsa::PublicKeyComponents { n, e }
                        .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
                        .expect("RSA key"),
                )
            }
        };
        let mut paths: Vec<Path<'_>> = vec![
            (
                "core",
                Box::new(|i| {
                    let Ok(p) = auth_core::parse_compact(&texts[i], 16384) else {
                        return false;
                    };
                    p.verify_with(&prepared).is_ok()
                        && p.claims()
                            .map(|c: Map<String, Value>| auth_core::check_claims(&c, &rules).is_ok())
                            .unwrap_or(false)
                }),
            ),
            (
                "aws_lc",
                Box::new(|i| prepared.verify(parsed[i].signing_input(), parsed[i].signature())),
            ),
            (
                "rust_crypto",
                Box::new(|i| {
                    let p = &parsed[i];
                    (RUST_CRYPTO.verifier_factory)(&jwt_alg, &dk)
                        .map(|v| v.verify(p.signing_input(), &p.signature().to_vec()).is_ok())
                        .unwrap_or(false)
                }),
            ),
            (
                "parsed_once",
                Box::new(|i| once.verify(parsed[i].signing_input(), parsed[i].signature())),
            ),
        ];
        let best = best_us(n, &mut paths);
        for ((path, _), us) in paths.iter().zip(best) {
            println!("{} {} {:.2}", alg.as_str(), path, us);
        }
    }
}
