//! Hostile tokens and keys: every refusal is for the documented reason.

mod common;
use common::*;
use pg_auth_keys_core::*;
use serde_json::{json, Value};

fn hs256() -> SigningKey {
    SigningKey::from_private(Alg::HS256, &[7u8; 32]).unwrap()
}

fn es256_jwk() -> Value {
    // Wycheproof's ES256 key
    json!({"kty":"EC","crv":"P-256","alg":"ES256",
           "x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY",
           "y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw",
           "d":"yy49oPcINGK2ps0LmtxpB6UTEOiITghHBif6wDqmJ3c"})
}

fn err(token: &str) -> TokenError {
    parse_compact(token, MAX).unwrap_err()
}

const CLAIMS: &str = r#"{"sub":"x","exp":4000000000}"#;

#[test]
fn alg_none_in_every_spelling() {
    for alg in [
        "none", "None", "NONE", "nOnE", "", "hs256", "ES512", "A256GCM",
    ] {
        let t = compact(&format!(r#"{{"alg":"{alg}"}}"#), CLAIMS, b"sig");
        assert_eq!(err(&t), TokenError::UnsupportedAlg, "{alg}");
    }
    for header in [
        r#"{"typ":"JWT"}"#,
        r#"{"alg":null}"#,
        r#"{"alg":1}"#,
        r#"{"alg":["HS256"]}"#,
    ] {
        assert_eq!(
            err(&compact(header, CLAIMS, b"sig")),
            TokenError::UnsupportedAlg,
            "{header}"
        );
    }
}

#[test]
fn segments() {
    let good = signed(&hs256(), r#"{"alg":"HS256"}"#, CLAIMS);
    assert!(parse_compact(&good, MAX).is_ok());
    let parts: Vec<&str> = good.split('.').collect();
    let three = TokenError::Malformed("expected 3 segments");
    assert_eq!(err(&parts[..2].join(".")), three);
    assert_eq!(err(&format!("{good}.")), three);
    assert_eq!(err(&format!("{good}.{}", parts[2])), three);
    assert_eq!(err(""), three);
    assert_eq!(err("abc"), three);
    assert_eq!(
        err(&format!("{}.{}.", parts[0], parts[1])),
        TokenError::Malformed("empty signature")
    );
    assert_eq!(
        err(&format!(".{}.{}", parts[1], parts[2])),
        TokenError::Malformed("header is not a JSON object")
    );
}

#[test]
fn too_large_is_checked_first() {
    let garbage = "!".repeat(100);
    assert_eq!(
        parse_compact(&garbage, 99).unwrap_err(),
        TokenError::TooLarge
    );
    assert!(matches!(
        parse_compact(&garbage, 100).unwrap_err(),
        TokenError::Malformed(_)
    ));
    let good = signed(&hs256(), r#"{"alg":"HS256"}"#, CLAIMS);
    assert_eq!(
        parse_compact(&good, good.len() - 1).unwrap_err(),
        TokenError::TooLarge
    );
    assert!(parse_compact(&good, good.len()).is_ok());
}

#[test]
fn base64_must_be_canonical() {
    let key = hs256();
    let good = signed(&key, r#"{"alg":"HS256"}"#, CLAIMS);
    let parts: Vec<String> = good.split('.').map(String::from).collect();
    let nc = TokenError::Malformed("non-canonical base64url");
    for i in 0..3 {
        let mut p = parts.clone();
        p[i].push('=');
        assert_eq!(err(&p.join(".")), nc, "padding in segment {i}");
        let mut p = parts.clone();
        p[i].insert(2, ' ');
        assert_eq!(err(&p.join(".")), nc, "space in segment {i}");
    }
    // '+' and '/' are the standard alphabet, not base64url
    let sig = parts[2].replace('-', "+").replace('_', "/");
    if sig != parts[2] {
        assert_eq!(err(&format!("{}.{}.{sig}", parts[0], parts[1])), nc);
    }
    let plus = format!(
        "{}.{}.{}+",
        parts[0],
        parts[1],
        &parts[2][..parts[2].len() - 1]
    );
    assert_eq!(err(&plus), nc);
    let slash = format!(
        "{}.{}.{}/",
        parts[0],
        parts[1],
        &parts[2][..parts[2].len() - 1]
    );
    assert_eq!(err(&slash), nc);
    // non-canonical trailing bits: HS256 signatures are 32 bytes = 43 chars with 2 spare bits
    let last = parts[2].chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    assert_eq!(idx & 3, 0, "canonical encoder leaves the spare bits zero");
    let bumped = alphabet.as_bytes()[idx + 1] as char;
    let t = format!(
        "{}.{}.{}{bumped}",
        parts[0],
        parts[1],
        &parts[2][..parts[2].len() - 1]
    );
    assert_eq!(err(&t), nc);
}

#[test]
fn header_must_be_a_strict_object() {
    let not_obj = TokenError::Malformed("header is not a JSON object");
    for header in [
        "[]",
        "\"HS256\"",
        "123",
        "null",
        "{",
        "{\"alg\":\"HS256\"} x",
        "\u{feff}{}",
    ] {
        assert_eq!(err(&compact(header, CLAIMS, b"s")), not_obj, "{header}");
    }
    let dup = TokenError::Malformed("duplicate member name");
    assert_eq!(
        err(&compact(r#"{"alg":"ES256","alg":"none"}"#, CLAIMS, b"s")),
        dup
    );
    assert_eq!(
        err(&compact(r#"{"alg":"none","alg":"ES256"}"#, CLAIMS, b"s")),
        dup
    );
    assert_eq!(
        err(&compact(
            r#"{"alg":"HS256","x":{"a":1,"a":2}}"#,
            CLAIMS,
            b"s"
        )),
        dup
    );
    assert_eq!(
        err(&compact(r#"{"alg":"HS256","k":"\ud800"}"#, CLAIMS, b"s")),
        not_obj
    );
    // payload duplicates are found by claims()
    let t = signed(
        &hs256(),
        r#"{"alg":"HS256"}"#,
        r#"{"role":"anon","role":"service_role"}"#,
    );
    let parsed = parse_compact(&t, MAX).unwrap();
    assert_eq!(parsed.claims().unwrap_err(), dup);
    let t = signed(&hs256(), r#"{"alg":"HS256"}"#, "[1]");
    assert_eq!(
        parse_compact(&t, MAX).unwrap().claims().unwrap_err(),
        TokenError::Malformed("payload is not a JSON object")
    );
}

#[test]
fn crit_embedded_keys_and_b64() {
    let key = hs256();
    let crit = signed(&key, r#"{"alg":"HS256","crit":["exp"],"exp":1}"#, CLAIMS);
    assert_eq!(err(&crit), TokenError::CritUnsupported);
    let crit_empty = signed(&key, r#"{"alg":"HS256","crit":[]}"#, CLAIMS);
    assert_eq!(err(&crit_empty), TokenError::CritUnsupported);
    for member in [
        r#""jwk":{"kty":"oct","k":"AAAA"}"#,
        r#""jku":"https://evil.example/jwks""#,
        r#""x5u":"https://evil.example/cert""#,
        r#""x5c":["MIIB"]"#,
    ] {
        let t = signed(&key, &format!(r#"{{"alg":"HS256",{member}}}"#), CLAIMS);
        assert_eq!(err(&t), TokenError::EmbeddedKey, "{member}");
    }
    let b64 = signed(&key, r#"{"alg":"HS256","b64":true}"#, CLAIMS);
    assert_eq!(err(&b64), TokenError::Malformed("b64 header without crit"));
    // unknown non-critical members are fine (RFC 7515 section 4)
    let extra = signed(
        &key,
        r#"{"alg":"HS256","typ":"JWT","cty":"x","zzz":1}"#,
        CLAIMS,
    );
    assert!(parse_compact(&extra, MAX).is_ok());
}

#[test]
fn kid_rules() {
    let key = hs256();
    let long = "k".repeat(MAX_KID_BYTES + 1);
    for kid in [json!(""), json!(long), json!(5), json!(null), json!(["a"])] {
        let header = json!({"alg":"HS256","kid":kid}).to_string();
        assert!(
            matches!(
                err(&signed(&key, &header, CLAIMS)),
                TokenError::Malformed(_)
            ),
            "{kid}"
        );
    }
    let ok = "k".repeat(MAX_KID_BYTES);
    let t = signed(&key, &json!({"alg":"HS256","kid":ok}).to_string(), CLAIMS);
    assert_eq!(parse_compact(&t, MAX).unwrap().kid(), Some(ok.as_str()));
    assert!(sign_compact(&key, "", &Default::default()).is_err());
    assert!(sign_compact(&key, &long, &Default::default()).is_err());
}

#[test]
fn ecdsa_signature_shapes() {
    let imported = import_jwk(&es256_jwk()).unwrap();
    let signing = imported.signing.unwrap();
    let prepared = imported.verify.prepare();
    let good = signed(&signing, r#"{"alg":"ES256"}"#, CLAIMS);
    let parsed = parse_compact(&good, MAX).unwrap();
    parsed.verify_with(&prepared).unwrap();
    let input = parsed.signing_input();
    let sig = parsed.signature();
    assert_eq!(sig.len(), 64);
    assert!(prepared.verify(input, sig));
    let zero = [0u8; 64];
    let mut r_zero = sig.to_vec();
    r_zero[..32].fill(0);
    let mut s_zero = sig.to_vec();
    s_zero[32..].fill(0);
    let mut longer = sig.to_vec();
    longer.push(0);
    let mut leading = vec![0u8];
    leading.extend_from_slice(sig);
    for bad in [
        &[][..],
        &sig[..63],
        &longer,
        &leading,
        &zero,
        &r_zero,
        &s_zero,
    ] {
        assert!(!prepared.verify(input, bad), "len {}", bad.len());
        let t = format!(
            "{}.{}",
            std::str::from_utf8(input).unwrap(),
            b64url_encode(bad)
        );
        if !bad.is_empty() {
            assert_eq!(
                parse_compact(&t, MAX).unwrap().verify_with(&prepared),
                Err(TokenError::BadSignature)
            );
        }
    }
    // the same signature DER-encoded (as some libraries emit) is refused
    let der = der_signature(&sig[..32], &sig[32..]);
    assert!(!prepared.verify(input, &der));
}

fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    fn int(v: &[u8]) -> Vec<u8> {
        let mut v = v.to_vec();
        while v.len() > 1 && v[0] == 0 && v[1] < 0x80 {
            v.remove(0);
        }
        if v[0] >= 0x80 {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    }
    let body: Vec<u8> = int(r).into_iter().chain(int(s)).collect();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

#[test]
fn hs256_with_public_key_bytes_is_alg_mismatch() {
    // Classic confusion: sign HS256 using the public key's bytes as the HMAC secret.
    let ec = import_jwk(&es256_jwk()).unwrap().verify;
    let rsa = SigningKey::generate(Alg::RS256).unwrap();
    for (public, kid) in [(&ec, "ec"), (rsa.verify_key(), "rsa")] {
        let secret_bytes = public.bytes().to_vec();
        let forger = SigningKey::from_private(Alg::HS256, &secret_bytes).unwrap();
        let jwk_text = public.public_jwk(kid).unwrap().to_string();
        for secret in [secret_bytes.clone(), jwk_text.into_bytes()] {
            let forger = if secret.len() <= MAX_HMAC_KEY_BYTES {
                SigningKey::from_private(Alg::HS256, &secret).unwrap()
            } else {
                forger.clone()
            };
            let t = signed(
                &forger,
                &format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#),
                CLAIMS,
            );
            let parsed = parse_compact(&t, MAX).unwrap();
            assert_eq!(
                parsed.verify_with(&public.prepare()),
                Err(TokenError::AlgMismatch)
            );
        }
    }
    // ...and an RS256 token does not verify with an ES256 key either
    let t = sign_compact(&rsa, "rsa", &Default::default()).unwrap();
    assert_eq!(
        parse_compact(&t, MAX).unwrap().verify_with(&ec.prepare()),
        Err(TokenError::AlgMismatch)
    );
}

#[test]
fn bad_keys_refused() {
    // Ed25519 small-order and non-canonical points
    let identity = {
        let mut b = [0u8; 32];
        b[0] = 1;
        b
    };
    let mut p_plus_one = [0xffu8; 32]; // y = p + 1 ≡ 1 (non-canonical identity)
    p_plus_one[0] = 0xee;
    p_plus_one[31] = 0x7f;
    let mut minus_one = [0xffu8; 32]; // y = p - 1 = -1, a point of order 2
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    for x in [identity, [0u8; 32], p_plus_one, minus_one] {
        let jwk = json!({"kty":"OKP","crv":"Ed25519","x": b64url_encode(&x)});
        assert!(
            matches!(import_jwk(&jwk), Err(KeyError::Invalid(_))),
            "{jwk}"
        );
        assert!(VerifyKey::from_parts(Alg::EdDSA, &x).is_err());
    }
    assert!(import_jwk(&json!({"kty":"OKP","crv":"Ed25519","x":"AAAA"})).is_err());
    for crv in ["Ed448", "X25519", "X448"] {
        let jwk = json!({"kty":"OKP","crv":crv,"x": b64url_encode(&[9u8; 32])});
        assert!(
            matches!(import_jwk(&jwk), Err(KeyError::Unsupported(_))),
            "{crv}"
        );
    }

    // RSA: 1024-bit, e = 1, e even (Wycheproof keys)
    let doc = vectors("wycheproof/json_web_key_test.json");
    let group = |c: &str| -> Value {
        doc["testGroups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["comment"] == c)
            .unwrap()["public"]["keys"][0]
            .clone()
    };
    let small = group("keysize_too_small");
    assert!(import_jwk(&small).unwrap_err().to_string().contains("2048"));
    let e1 = group("exponentOne");
    assert!(import_jwk(&e1)
        .unwrap_err()
        .to_string()
        .contains("exponent"));
    let mut e_even = e1.clone();
    e_even["e"] = "AQAA".into(); // 65536
    assert!(import_jwk(&e_even).is_err());
    let mut e_ok = e1.clone();
    e_ok["e"] = "AQAB".into();
    assert!(
        import_jwk(&e_ok).is_ok(),
        "the same modulus with e = 65537 is fine"
    );

    // HMAC too short, per hash size
    for (alg, min) in [("HS256", 32), ("HS384", 48), ("HS512", 64)] {
        let short = json!({"kty":"oct","alg":alg,"k": b64url_encode(&vec![1u8; min - 1])});
        assert!(import_jwk(&short).is_err(), "{alg}");
        let ok = json!({"kty":"oct","alg":alg,"k": b64url_encode(&vec![1u8; min])});
        assert!(import_jwk(&ok).is_ok(), "{alg}");
    }
    assert!(import_jwk(&json!({"kty":"oct","k":""})).is_err());

    // use / key_ops
    let mut enc = es256_jwk();
    enc["use"] = "enc".into();
    assert_eq!(import_jwk(&enc).unwrap_err(), KeyError::NotForSigning);
    let mut ops = es256_jwk();
    ops["key_ops"] = json!(["sign"]);
    assert_eq!(import_jwk(&ops).unwrap_err(), KeyError::NotForSigning);
    ops["key_ops"] = json!(["sign", "verify"]);
    assert!(import_jwk(&ops).is_ok());
    ops["key_ops"] = json!("verify");
    assert!(matches!(import_jwk(&ops), Err(KeyError::Invalid(_))));

    // P-256 point off the curve
    let mut off = es256_jwk();
    off.as_object_mut().unwrap().remove("d");
    off["y"] = "UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgnw".into();
    assert!(import_jwk(&off).unwrap_err().to_string().contains("curve"));

    // crv / alg mismatches, unsupported curves, coordinate sizes
    let mut m = es256_jwk();
    m["crv"] = "P-384".into();
    assert!(import_jwk(&m).is_err());
    let mut m = es256_jwk();
    m["alg"] = "ES384".into();
    assert!(import_jwk(&m).is_err());
    let mut m = es256_jwk();
    m["alg"] = "RS256".into();
    assert!(import_jwk(&m).is_err());
    for crv in ["P-521", "secp256k1"] {
        let mut m = es256_jwk();
        m["crv"] = crv.into();
        m.as_object_mut().unwrap().remove("alg");
        assert!(
            matches!(import_jwk(&m), Err(KeyError::Unsupported(_))),
            "{crv}"
        );
    }
    let mut padded = es256_jwk();
    padded["x"] = b64url_encode(
        &[
            &[0u8][..],
            &b64url_decode("04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY").unwrap(),
        ]
        .concat(),
    )
    .into();
    assert!(import_jwk(&padded).is_err(), "33-byte x");

    // private part that does not match the public part
    let mut wrong_d = es256_jwk();
    wrong_d["d"] = b64url_encode(&[5u8; 32]).into();
    assert!(import_jwk(&wrong_d).is_err());
    let ed = json!({"kty":"OKP","crv":"Ed25519",
                    "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                    "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"});
    assert!(import_jwk(&ed).is_ok());
    let mut ed_bad = ed.clone();
    ed_bad["d"] = b64url_encode(&[1u8; 32]).into();
    assert!(import_jwk(&ed_bad).is_err());

    // kty, alg and encoding rules
    for jwk in [
        json!({"kty":"oct","alg":"A128KW","k": b64url_encode(&[1u8; 32])}),
        json!({"kty":"oct","alg":"A256GCM","k": b64url_encode(&[1u8; 32])}),
        json!({"kty":"oct","alg":"none","k": b64url_encode(&[1u8; 32])}),
        json!({"kty":"AES","k": b64url_encode(&[1u8; 32])}),
    ] {
        assert!(
            matches!(import_jwk(&jwk), Err(KeyError::Unsupported(_))),
            "{jwk}"
        );
    }
    for jwk in [
        json!({"kty":"oct","alg":"ES256","k": b64url_encode(&[1u8; 32])}),
        json!({"kty":"oct","k": format!("{}=", b64url_encode(&[1u8; 32]))}),
        json!({"kty":"oct","k": b64url_encode(&[1u8; 32]).replace('B', "+")}),
        json!({"k": b64url_encode(&[1u8; 32])}),
        json!({"kty":"oct","k": b64url_encode(&[1u8; 32]), "kid": ""}),
        json!({"kty":"oct","k": b64url_encode(&[1u8; 32]), "kid": 7}),
        json!({"kty":"oct","k": b64url_encode(&[1u8; 32]), "kid": "k".repeat(257)}),
        json!("not an object"),
    ] {
        assert!(
            matches!(import_jwk(&jwk), Err(KeyError::Invalid(_))),
            "{jwk}"
        );
    }
}

#[test]
fn key_sets() {
    let a = json!({"kty":"oct","kid":"a","k": b64url_encode(&[1u8; 32])});
    let b = json!({"kty":"oct","kid":"b","k": b64url_encode(&[2u8; 32])});
    let no_kid = json!({"kty":"oct","k": b64url_encode(&[3u8; 32])});
    let keys = import_jwks(&json!({"keys":[a, b, no_kid.clone(), no_kid]})).unwrap();
    assert_eq!(keys.len(), 4);
    assert_eq!(keys[2].kid, None);
    assert_eq!(
        import_jwks(&json!({"keys":[a, a]})).unwrap_err(),
        KeyError::Duplicate("a".into())
    );
    // all or nothing: one bad key refuses the set
    let bad = json!({"kty":"oct","kid":"c","k": b64url_encode(&[2u8; 8])});
    assert!(import_jwks(&json!({"keys":[a, bad]})).is_err());
    assert!(import_jwks(&json!({"keys":[]})).is_err());
    assert!(import_jwks(&json!([a])).is_err());
    // mixing public keys with secrets
    let mut public = es256_jwk();
    public.as_object_mut().unwrap().remove("d");
    assert!(import_jwks(&json!({"keys":[a, public]}))
        .unwrap_err()
        .to_string()
        .contains("mixes"));
    assert!(
        import_jwks(&json!({"keys":[es256_jwk(), a]})).is_ok(),
        "all private is fine"
    );
}

#[test]
fn error_strings_and_codes() {
    assert_eq!(
        TokenError::Malformed("expected 3 segments").to_string(),
        "malformed token: expected 3 segments"
    );
    assert_eq!(
        TokenError::BadClaimType("exp").to_string(),
        "bad claim type: exp"
    );
    assert_eq!(TokenError::KeyRevoked.to_string(), "key revoked");
    assert_eq!(TokenError::UnknownKid.to_string(), "unknown kid");
    assert_eq!(TokenError::Disabled.to_string(), "legacy api key disabled");
    assert_eq!(
        TokenError::KeyUnavailable.to_string(),
        "key unavailable: key-encryption key missing"
    );
    assert_eq!(TokenError::Revoked.to_string(), "token revoked");
    assert_eq!(TokenError::IssuerKeysStale.to_string(), "issuer keys stale");
    let all = [
        TokenError::TooLarge,
        TokenError::Malformed("x"),
        TokenError::UnsupportedAlg,
        TokenError::MissingKid,
        TokenError::UnknownKid,
        TokenError::KeyRevoked,
        TokenError::AlgMismatch,
        TokenError::CritUnsupported,
        TokenError::EmbeddedKey,
        TokenError::BadSignature,
        TokenError::Expired,
        TokenError::NotYetValid,
        TokenError::IssuedInFuture,
        TokenError::MissingExp,
        TokenError::BadClaimType("aud"),
        TokenError::BadAudience,
        TokenError::BadIssuer,
        TokenError::RoleNotAllowed,
        TokenError::Disabled,
        TokenError::KeyUnavailable,
        TokenError::ApiKeyRevoked,
        TokenError::Revoked,
        TokenError::LifetimeTooLong,
        TokenError::IssuerKeysStale,
    ];
    let codes: Vec<&str> = all.iter().map(TokenError::reason_code).collect();
    assert_eq!(codes, TokenError::REASON_CODES);
    assert_eq!(
        KeyError::NotForSigning.to_string(),
        "key cannot verify signatures (use/key_ops)"
    );
}

/// Every single-character change and every truncation of valid tokens is refused without a
/// panic, and nothing but the original verifies.
#[test]
fn mutations_never_verify_or_panic() {
    let keys = [
        hs256(),
        SigningKey::generate(Alg::EdDSA).unwrap(),
        import_jwk(&es256_jwk()).unwrap().signing.unwrap(),
    ];
    let replacements = [
        'A', 'B', 'a', 'z', '0', '-', '_', '.', '=', '+', ' ', '\u{e9}',
    ];
    for key in &keys {
        let prepared = key.verify_key().prepare();
        let token = sign_compact(key, "kid", &serde_json::from_str(CLAIMS).unwrap()).unwrap();
        let accepts = |t: &str| {
            parse_compact(t, MAX).is_ok_and(|p| {
                let _ = p.claims();
                p.verify_with(&prepared).is_ok()
            })
        };
        assert!(accepts(&token));
        for i in 0..token.len() {
            assert!(!accepts(&token[..i]), "truncated at {i}");
            for r in replacements {
                if token[i..].starts_with(r) {
                    continue;
                }
                let mut m = token.clone();
                m.replace_range(i..i + 1, &r.to_string());
                assert!(!accepts(&m), "{} at {i}", r);
            }
        }
    }
}

/// Found while writing the `json` fuzz target, which panics on it
/// (fuzz/corpus/json/regress-exponent-overflow): a valid JSON number whose decimal exponent,
/// shifted by its leading zeros, overflowed i64 in `numbers_survive_doubles` (a panic in debug
/// builds, wrapping in release). Such a number is no double's exact value.
#[test]
fn numbers_survive_doubles_with_extreme_exponents() {
    for text in [
        r#"{"a":0.01e-9223372036854775808}"#,
        r#"{"a":-0.0001E-9223372036854775807}"#,
        r#"{"a":[1,0.5e9223372036854775807]}"#,
        r#"{"a":1e-9223372036854775808}"#,
        r#"{"a":1e99999999999999999999}"#,
    ] {
        assert!(!numbers_survive_doubles(text), "{text}");
    }
    assert!(numbers_survive_doubles(
        r#"{"a":0e-9223372036854775808,"b":0.0e9223372036854775807}"#
    ));
}

/// Found by the `issuer` fuzz target (corpus/issuer/regress-url-percent-growth): a URL within
/// the length limit as text but longer once parsed (non-ASCII percent-encoded, a host in
/// punycode) was accepted, and the fetch, which checks the stored URL again, refused it.
#[test]
fn issuer_urls_are_checked_as_stored() {
    let text = format!("https://a.example/{}", "é".repeat(1000));
    assert!(text.len() <= MAX_URL_BYTES);
    let e = check_url(&text).unwrap_err();
    assert!(e.to_string().contains("once encoded"), "{e}");
    let fits = format!("https://a.example/{}", "é".repeat(300));
    let url = check_url(&fits).unwrap();
    assert_eq!(check_url(url.as_str()).unwrap(), url);
}

/// Found by the `issuer` fuzz target (corpus/issuer/regress-discovery-query): the discovery path
/// appended to an issuer with a query landed in the query.
#[test]
fn discovery_refuses_an_issuer_with_a_query() {
    for issuer in ["https://a.example/tenant?x=1", "https://a.example/?"] {
        let e = discovery_url(issuer).unwrap_err();
        assert!(e.to_string().contains("query"), "{issuer}: {e}");
    }
    // Such an issuer is still a URL that may be fetched (with its jwks_uri given).
    assert!(check_url("https://a.example/tenant?x=1").is_ok());
}
