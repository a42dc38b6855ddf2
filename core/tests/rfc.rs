//! RFC 7515 Appendix A, RFC 8037 Appendix A and the RFC 7520 cookbook (signature only: the
//! RFC 7515 examples expired in 2011).

mod common;
use common::*;
use pg_auth_keys_core::*;
use serde_json::Value;

fn example(id: &str) -> Value {
    let doc = vectors("rfc/rfc7515_appendixA_rfc8037.json");
    doc["examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap()
        .clone()
}

#[test]
fn rfc7515_appendix_a_verifies() {
    for id in [
        "rfc7515_A1_HS256",
        "rfc7515_A2_RS256",
        "rfc7515_A3_ES256",
        "rfc8037_A4_EdDSA_Ed25519",
    ] {
        let e = example(id);
        let key = import_jwk(&e["jwk"]).unwrap();
        let token = verify_jws(e["compact"].as_str().unwrap(), std::slice::from_ref(&key))
            .unwrap_or_else(|err| panic!("{id}: {err}"));
        assert_eq!(
            token.payload(),
            e["payload_utf8"].as_str().unwrap().as_bytes(),
            "{id}"
        );
        assert_eq!(token.alg().as_str(), e["alg"], "{id}");
        // A private JWK yields a signing key; its public JWK re-imports to the same key.
        if let Some(public) = e.get("public_jwk") {
            assert_eq!(import_jwk(public).unwrap().verify, key.verify, "{id}");
            assert!(key.signing.is_some(), "{id}");
        }
        // HMAC and Ed25519 are deterministic: we reproduce the RFC's signature bytes.
        if id.contains("HS256") || id.contains("EdDSA") {
            let signing = key.signing.as_ref().unwrap();
            assert_eq!(
                signing.sign(token.signing_input()).unwrap(),
                token.signature(),
                "{id}"
            );
        }
    }
}

#[test]
fn rfc7515_a1_claims_are_expired_but_well_formed() {
    let e = example("rfc7515_A1_HS256");
    let key = import_jwk(&e["jwk"]).unwrap();
    let token = verify_jws(e["compact"].as_str().unwrap(), &[key]).unwrap();
    let claims = token.claims().unwrap();
    assert_eq!(claims["exp"], 1300819380);
    let rules = ClaimRules::with_defaults(1_700_000_000);
    assert_eq!(check_claims(&claims, &rules), Err(TokenError::Expired));
    let then = ClaimRules::with_defaults(1300819380);
    assert_eq!(check_claims(&claims, &then), Ok(()));
}

#[test]
fn rfc7515_refusals() {
    // A.4 ES512 (P-521) is outside the contract.
    let a4 = example("rfc7515_A4_ES512");
    assert!(matches!(
        import_jwk(&a4["jwk"]),
        Err(KeyError::Unsupported(_))
    ));
    assert!(matches!(
        import_jwk(&a4["public_jwk"]),
        Err(KeyError::Unsupported(_))
    ));
    assert_eq!(
        parse_compact(a4["compact"].as_str().unwrap(), MAX).unwrap_err(),
        TokenError::UnsupportedAlg
    );
    // A.5 alg "none".
    let a5 = example("rfc7515_A5_unsecured_none");
    let err = parse_compact(a5["compact"].as_str().unwrap(), MAX).unwrap_err();
    // The unsecured JWS has an empty signature segment, refused before the header is read.
    assert!(
        matches!(err, TokenError::Malformed(_) | TokenError::UnsupportedAlg),
        "{err:?}"
    );
    let with_sig = format!("{}AA", a5["compact"].as_str().unwrap());
    assert_eq!(
        parse_compact(&with_sig, MAX).unwrap_err(),
        TokenError::UnsupportedAlg
    );
    // Appendix E: crit with an unknown extension (and alg none).
    let doc = vectors("rfc/rfc7515_appendixA_rfc8037.json");
    let e = doc["rfc7515_E_negative_crit"]["compact"].as_str().unwrap();
    assert!(parse_compact(e, MAX).is_err());
}

fn cookbook(path: &str) -> Value {
    vectors(&format!("rfc/rfc7520_cookbook/{path}"))
}

#[test]
fn rfc7520_cookbook_signatures() {
    for (file, alg) in [
        ("jws/4_1.rsa_v15_signature.json", None),
        ("jws/4_2.rsa-pss_signature.json", Some("PS384")),
        ("jws/4_4.hmac-sha2_integrity_protection.json", None),
        ("curve25519/jws.json", None),
    ] {
        let c = cookbook(file);
        let mut jwk = c["input"]["key"].clone();
        // The cookbook key carries no alg; RSA would be inferred as RS256. Declare PS384 as an
        // issuer's JWKS would.
        if let Some(alg) = alg {
            jwk["alg"] = alg.into();
        }
        let key = import_jwk(&jwk).unwrap_or_else(|e| panic!("{file}: {e}"));
        let compact = c["output"]["compact"].as_str().unwrap();
        let token = verify_jws(compact, std::slice::from_ref(&key))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            token.payload(),
            c["input"]["payload"].as_str().unwrap().as_bytes()
        );
        assert!(
            key.signing.is_some(),
            "{file}: private members give a signing key"
        );
    }
    // Without the declared alg the PS384 token does not verify with the inferred RS256 key.
    let c = cookbook("jws/4_2.rsa-pss_signature.json");
    let key = import_jwk(&c["input"]["key"]).unwrap();
    assert_eq!(key.verify.alg(), Alg::RS256);
    let err = verify_jws(c["output"]["compact"].as_str().unwrap(), &[key]).unwrap_err();
    assert_eq!(err, TokenError::AlgMismatch);
    // ES512 is out of scope.
    let c = cookbook("jws/4_3.ecdsa_signature.json");
    assert!(matches!(
        import_jwk(&c["input"]["key"]),
        Err(KeyError::Unsupported(_))
    ));
}

#[test]
fn rfc7520_cookbook_keys() {
    assert!(matches!(
        import_jwk(&cookbook("jwk/3_1.ec_public_key.json")),
        Err(KeyError::Unsupported(_))
    ));
    assert!(matches!(
        import_jwk(&cookbook("jwk/3_2.ec_private_key.json")),
        Err(KeyError::Unsupported(_))
    ));
    let public = import_jwk(&cookbook("jwk/3_3.rsa_public_key.json")).unwrap();
    assert!(public.signing.is_none());
    let private = import_jwk(&cookbook("jwk/3_4.rsa_private_key.json")).unwrap();
    assert_eq!(private.verify, public.verify);
    assert!(private.signing.is_some());
    assert_eq!(
        public.kid.as_deref(),
        Some("bilbo.baggins@hobbiton.example")
    );
    let mac = import_jwk(&cookbook("jwk/3_5.symmetric_key_mac_computation.json")).unwrap();
    assert_eq!(mac.verify.alg(), Alg::HS256);
    // A256GCM with use "enc": never a signature key.
    assert!(import_jwk(&cookbook("jwk/3_6.symmetric_key_encryption.json")).is_err());
}

#[test]
fn rfc7797_b64_false() {
    // Header {"alg":"HS256","b64":false} without crit is malformed (RFC 7797 section 6) and with
    // crit ["b64"] is an extension we do not implement.
    let c = cookbook("rfc7797/4.2.hmac-sha2_b64_false.json");
    let key = import_jwk(&c["input"]["key"]).unwrap();
    let signing = key.signing.unwrap();
    let payload = c["input"]["payload"].as_str().unwrap();
    let no_crit = signed(&signing, r#"{"alg":"HS256","b64":false}"#, payload);
    assert_eq!(
        parse_compact(&no_crit, MAX).unwrap_err(),
        TokenError::Malformed("b64 header without crit")
    );
    let crit = signed(
        &signing,
        r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
        payload,
    );
    assert_eq!(
        parse_compact(&crit, MAX).unwrap_err(),
        TokenError::CritUnsupported
    );
}
