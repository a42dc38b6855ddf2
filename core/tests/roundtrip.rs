//! Keys made here: generate, sign, parse, verify, store, reload, publish, re-import; and PEM.

mod common;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use common::*;
use pg_auth_keys_core::*;
use serde_json::{json, Map, Value};

fn claims() -> Map<String, Value> {
    json!({"sub":"6f1d3c4e-0000-4000-8000-000000000001","role":"authenticated","exp":4000000000u64,
           "nested":{"a":[1,2,3]},"unicode":"h\u{e9}llo \u{1f600}"})
    .as_object()
    .unwrap()
    .clone()
}

#[test]
fn creatable_algs_round_trip() {
    for alg in Alg::ALL.into_iter().filter(|a| a.can_create()) {
        let key = SigningKey::generate(alg).unwrap();
        assert_eq!(key.alg(), alg);
        let expected_len = match alg {
            Alg::ES256 => 65,
            Alg::EdDSA | Alg::HS256 => 32,
            Alg::RS256 => 2 + 256 + 3,
            _ => unreachable!(),
        };
        assert_eq!(key.verify_key().bytes().len(), expected_len, "{alg}");
        assert!(key.verify_key().bytes().len() <= MAX_VERIFY_KEY_BYTES);

        let token = sign_compact(&key, "kid-1", &claims()).unwrap();
        let parsed = parse_compact(&token, MAX).unwrap();
        assert_eq!(parsed.alg(), alg);
        assert_eq!(parsed.kid(), Some("kid-1"));
        assert_eq!(parsed.header()["typ"], "JWT");
        let prepared = key.verify_key().prepare();
        assert_eq!(prepared.alg(), alg);
        parsed.verify_with(&prepared).unwrap();
        assert_eq!(parsed.claims().unwrap(), claims());
        check_claims(
            &parsed.claims().unwrap(),
            &ClaimRules::with_defaults(1_700_000_000),
        )
        .unwrap();

        // storage form reloads to the same key, and from shared-memory bytes too
        let reloaded = SigningKey::from_private(alg, key.private_bytes()).unwrap();
        assert_eq!(reloaded.verify_key(), key.verify_key(), "{alg}");
        assert_eq!(
            reloaded.private_bytes(),
            key.private_bytes(),
            "{alg}: storage form is canonical"
        );
        let from_parts = VerifyKey::from_parts(alg, key.verify_key().bytes()).unwrap();
        assert_eq!(&from_parts, key.verify_key());
        parsed.verify_with(&from_parts.prepare()).unwrap();

        // published JWK re-imports to an equal key (none for HMAC)
        match key.verify_key().public_jwk("kid-1") {
            None => assert_eq!(alg, Alg::HS256),
            Some(jwk) => {
                assert_eq!(jwk["use"], "sig");
                assert_eq!(jwk["alg"], alg.as_str());
                assert!(jwk.get("d").is_none() && jwk.get("k").is_none());
                let imported = import_jwk(&jwk).unwrap();
                assert_eq!(imported.kid.as_deref(), Some("kid-1"));
                assert_eq!(&imported.verify, key.verify_key());
                assert!(imported.signing.is_none());
            }
        }

        // tampering and a different key of the same alg fail
        let other = SigningKey::generate(alg).unwrap();
        assert_eq!(
            parsed.verify_with(&other.verify_key().prepare()),
            Err(TokenError::BadSignature)
        );
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut tampered = claims();
        tampered.insert("role".into(), "service_role".into());
        parts[1] = b64url_encode(&serde_json::to_vec(&tampered).unwrap());
        let forged_text = parts.join(".");
        let forged = parse_compact(&forged_text, MAX).unwrap();
        assert_eq!(forged.verify_with(&prepared), Err(TokenError::BadSignature));
        // a wrong-alg key is refused before any cryptography
        let mismatch = if alg == Alg::ES256 {
            Alg::EdDSA
        } else {
            Alg::ES256
        };
        let wrong = SigningKey::generate(mismatch).unwrap();
        assert_eq!(
            parsed.verify_with(&wrong.verify_key().prepare()),
            Err(TokenError::AlgMismatch)
        );
    }
}

#[test]
fn only_four_algs_are_generated() {
    for alg in Alg::ALL.into_iter().filter(|a| !a.can_create()) {
        assert!(
            matches!(SigningKey::generate(alg), Err(KeyError::Unsupported(_))),
            "{alg}"
        );
    }
}

#[test]
fn imported_verify_only_algs_sign_and_verify() {
    // RS384/RS512/PS*/ES384/HS384/HS512 keys can come from imports; they work end to end.
    let rsa = SigningKey::generate(Alg::RS256).unwrap();
    for alg in [Alg::RS384, Alg::RS512, Alg::PS256, Alg::PS384, Alg::PS512] {
        let key = SigningKey::from_private(alg, rsa.private_bytes()).unwrap();
        let token = sign_compact(&key, "k", &claims()).unwrap();
        parse_compact(&token, MAX)
            .unwrap()
            .verify_with(&key.verify_key().prepare())
            .unwrap();
    }
    for (alg, len) in [(Alg::HS384, 48), (Alg::HS512, 64)] {
        let key = SigningKey::from_private(alg, &vec![9u8; len]).unwrap();
        let token = sign_compact(&key, "k", &claims()).unwrap();
        parse_compact(&token, MAX)
            .unwrap()
            .verify_with(&key.verify_key().prepare())
            .unwrap();
    }
    let p384 = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
    )
    .unwrap();
    let key = SigningKey::from_private(Alg::ES384, p384.to_pkcs8v1().unwrap().as_ref()).unwrap();
    assert_eq!(key.verify_key().bytes().len(), 97);
    let token = sign_compact(&key, "k", &claims()).unwrap();
    let parsed = parse_compact(&token, MAX).unwrap();
    assert_eq!(parsed.signature().len(), 96);
    parsed.verify_with(&key.verify_key().prepare()).unwrap();
    let jwk = key.verify_key().public_jwk("k").unwrap();
    assert_eq!(jwk["crv"], "P-384");
    assert_eq!(&import_jwk(&jwk).unwrap().verify, key.verify_key());
    // a P-384 key is not an ES256 key
    assert!(SigningKey::from_private(Alg::ES256, key.private_bytes()).is_err());
}

#[test]
fn from_private_refuses_garbage() {
    for alg in Alg::ALL {
        assert!(SigningKey::from_private(alg, &[]).is_err(), "{alg}");
        assert!(
            SigningKey::from_private(alg, b"0123456789").is_err(),
            "{alg}"
        );
        assert!(VerifyKey::from_parts(alg, &[]).is_err(), "{alg}");
    }
    let ed = SigningKey::generate(Alg::EdDSA).unwrap();
    assert!(SigningKey::from_private(Alg::ES256, ed.private_bytes()).is_err());
    assert!(SigningKey::from_private(Alg::RS256, ed.private_bytes()).is_err());
    let ec = SigningKey::generate(Alg::ES256).unwrap();
    assert!(SigningKey::from_private(Alg::EdDSA, ec.private_bytes()).is_err());
    let mut point = ec.verify_key().bytes().to_vec();
    point[64] ^= 1;
    assert!(
        VerifyKey::from_parts(Alg::ES256, &point).is_err(),
        "off-curve point"
    );
    point[0] = 0x02;
    assert!(
        VerifyKey::from_parts(Alg::ES256, &point[..33]).is_err(),
        "compressed point"
    );
}

#[test]
fn pem_import() {
    // PKCS#8 EC / Ed25519, PKCS#1 RSA, SEC1 EC, SPKI, PKCS#1 public
    let ec = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    )
    .unwrap();
    let ec_key = SigningKey::from_private(Alg::ES256, ec.to_pkcs8v1().unwrap().as_ref()).unwrap();
    let sec1 = ec.private_key().as_der().unwrap();
    let ec_spki = ec.public_key().as_der().unwrap();
    let ed = SigningKey::generate(Alg::EdDSA).unwrap();
    let ed_pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(ed.private_bytes()).unwrap();
    let ed_spki = ed_pair.public_key().as_der().unwrap();
    let rsa = SigningKey::generate(Alg::RS256).unwrap();
    let rsa_pair = aws_lc_rs::signature::RsaKeyPair::from_der(rsa.private_bytes()).unwrap();
    let rsa_pkcs8 = rsa_pair.as_der().unwrap();
    let rsa_pkcs1_public = rsa_pair.public_key().as_ref().to_vec();
    let rsa_spki = rsa_pair.public_key().as_der().unwrap();

    let cases: Vec<(String, Alg, &VerifyKey, bool)> = vec![
        (
            pem("PRIVATE KEY", ec_key.private_bytes()),
            Alg::ES256,
            ec_key.verify_key(),
            true,
        ),
        (
            pem("EC PRIVATE KEY", sec1.as_ref()),
            Alg::ES256,
            ec_key.verify_key(),
            true,
        ),
        (
            pem("PUBLIC KEY", ec_spki.as_ref()),
            Alg::ES256,
            ec_key.verify_key(),
            false,
        ),
        (
            pem("PRIVATE KEY", ed.private_bytes()),
            Alg::EdDSA,
            ed.verify_key(),
            true,
        ),
        (
            pem("PUBLIC KEY", ed_spki.as_ref()),
            Alg::EdDSA,
            ed.verify_key(),
            false,
        ),
        (
            pem("RSA PRIVATE KEY", rsa.private_bytes()),
            Alg::RS256,
            rsa.verify_key(),
            true,
        ),
        (
            pem("PRIVATE KEY", rsa_pkcs8.as_ref()),
            Alg::RS256,
            rsa.verify_key(),
            true,
        ),
        (
            pem("RSA PUBLIC KEY", &rsa_pkcs1_public),
            Alg::RS256,
            rsa.verify_key(),
            false,
        ),
        (
            pem("PUBLIC KEY", rsa_spki.as_ref()),
            Alg::RS256,
            rsa.verify_key(),
            false,
        ),
    ];
    for (text, alg, want, private) in &cases {
        let got = import_pem(text, *alg).unwrap_or_else(|e| panic!("{alg} {e}\n{text}"));
        assert_eq!(&got.verify, *want, "{alg}");
        assert_eq!(got.signing.is_some(), *private, "{alg}");
        assert_eq!(got.kid, None);
        // with CRLF line endings and surrounding text, as pasted from a file
        let crlf = format!("key follows\r\n{}\r\ntrailing", text.replace('\n', "\r\n"));
        assert_eq!(&import_pem(&crlf, *alg).unwrap().verify, *want);
    }
    // RSA PEM can be imported for any RSA alg (e.g. PS256)
    assert_eq!(
        import_pem(&cases[8].0, Alg::PS256).unwrap().verify.alg(),
        Alg::PS256
    );

    // the key type must match alg
    assert!(import_pem(&cases[0].0, Alg::RS256).is_err());
    assert!(import_pem(&cases[0].0, Alg::ES384).is_err());
    assert!(import_pem(&cases[2].0, Alg::ES384).is_err());
    assert!(import_pem(&cases[2].0, Alg::EdDSA).is_err());
    assert!(import_pem(&cases[4].0, Alg::ES256).is_err());
    assert!(import_pem(&cases[5].0, Alg::ES256).is_err());
    assert!(import_pem(&cases[8].0, Alg::ES256).is_err());
    assert!(matches!(
        import_pem(&cases[0].0, Alg::HS256),
        Err(KeyError::Unsupported(_))
    ));
    // structure
    assert!(import_pem("", Alg::ES256).is_err());
    assert!(
        import_pem(&format!("{}{}", cases[0].0, cases[2].0), Alg::ES256).is_err(),
        "two keys"
    );
    assert!(import_pem(
        &cases[0].0.replace("-----END PRIVATE KEY-----\n", ""),
        Alg::ES256
    )
    .is_err());
    assert!(import_pem(&cases[0].0.replace("END PRIVATE", "END PUBLIC"), Alg::ES256).is_err());
    assert!(import_pem(&pem("PRIVATE KEY", b"garbage"), Alg::ES256).is_err());
    assert!(import_pem(&pem("CERTIFICATE", b"x"), Alg::ES256).is_err());
    assert!(matches!(
        import_pem(&pem("ENCRYPTED PRIVATE KEY", b"x"), Alg::ES256),
        Err(KeyError::Unsupported(_))
    ));
    let legacy_encrypted = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END EC PRIVATE KEY-----\n";
    assert!(matches!(
        import_pem(legacy_encrypted, Alg::ES256),
        Err(KeyError::Unsupported(_))
    ));
    // a small RSA key in PEM is refused like any other
    let small = vectors("wycheproof/json_web_key_test.json")["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["comment"] == "keysize_too_small")
        .unwrap()["public"]["keys"][0]
        .clone();
    let n = b64url_decode(small["n"].as_str().unwrap()).unwrap();
    let components = aws_lc_rs::rsa::PublicKeyComponents {
        n: n.as_slice(),
        e: &[1u8, 0, 1][..],
    };
    let spki = components.as_der().unwrap();
    assert!(import_pem(&pem("PUBLIC KEY", spki.as_ref()), Alg::RS256)
        .unwrap_err()
        .to_string()
        .contains("2048"));
}

#[test]
fn key_errors_never_echo_secrets() {
    let secret = b64url_encode(b"short-secret-value");
    let err = import_jwk(&json!({"kty":"oct","k": secret}))
        .unwrap_err()
        .to_string();
    assert!(
        !err.contains(&secret) && !err.contains("short-secret"),
        "{err}"
    );
    let ec = json!({"kty":"EC","crv":"P-256","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY",
                    "y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw","d": b64url_encode(&[5u8; 32])});
    let err = import_jwk(&ec).unwrap_err().to_string();
    assert!(!err.contains(&b64url_encode(&[5u8; 32])), "{err}");
}
