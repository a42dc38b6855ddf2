//! Claim rules (contract §2, §6).

use pg_auth_keys_core::*;
use serde_json::{json, Map, Value};

const NOW: i64 = 1_700_000_000;

fn rules() -> ClaimRules {
    ClaimRules::with_defaults(NOW)
}

fn check(claims: Value, rules: &ClaimRules) -> Result<(), TokenError> {
    let map: Map<String, Value> = claims.as_object().unwrap().clone();
    check_claims(&map, rules)
}

#[test]
fn exp_is_required_and_numeric() {
    let r = rules();
    assert_eq!(check(json!({}), &r), Err(TokenError::MissingExp));
    assert_eq!(
        check(json!({"exp": null}), &r),
        Err(TokenError::BadClaimType("exp"))
    );
    assert_eq!(
        check(json!({"exp": "4000000000"}), &r),
        Err(TokenError::BadClaimType("exp"))
    );
    assert_eq!(
        check(json!({"exp": true}), &r),
        Err(TokenError::BadClaimType("exp"))
    );
    assert_eq!(
        check(json!({"exp": [4000000000u64]}), &r),
        Err(TokenError::BadClaimType("exp"))
    );
    assert_eq!(
        check(json!({"exp": NOW + 60, "nbf": "0"}), &r),
        Err(TokenError::BadClaimType("nbf"))
    );
    assert_eq!(
        check(json!({"exp": NOW + 60, "iat": {}}), &r),
        Err(TokenError::BadClaimType("iat"))
    );
}

#[test]
fn time_boundaries_with_leeway() {
    let r = rules(); // leeway 30
    assert_eq!(check(json!({"exp": NOW - 30}), &r), Ok(()));
    assert_eq!(
        check(json!({"exp": NOW - 31}), &r),
        Err(TokenError::Expired)
    );
    assert_eq!(
        check(json!({"exp": NOW as f64 - 30.5}), &r),
        Err(TokenError::Expired)
    );
    assert_eq!(check(json!({"exp": NOW + 60, "nbf": NOW + 30}), &r), Ok(()));
    assert_eq!(
        check(json!({"exp": NOW + 60, "nbf": NOW + 31}), &r),
        Err(TokenError::NotYetValid)
    );
    assert_eq!(check(json!({"exp": NOW + 60, "iat": NOW + 30}), &r), Ok(()));
    assert_eq!(
        check(json!({"exp": NOW + 60, "iat": NOW + 31}), &r),
        Err(TokenError::IssuedInFuture)
    );
    let strict = ClaimRules {
        leeway: -100,
        ..rules()
    };
    assert_eq!(
        check(json!({"exp": NOW - 1}), &strict),
        Err(TokenError::Expired),
        "negative leeway is 0"
    );
    assert_eq!(check(json!({"exp": NOW}), &strict), Ok(()));
}

#[test]
fn extreme_numbers_do_not_overflow() {
    let r = rules();
    assert_eq!(check(json!({"exp": u64::MAX}), &r), Ok(()));
    assert_eq!(check(json!({"exp": 1e300}), &r), Ok(()));
    assert_eq!(check(json!({"exp": -1e300}), &r), Err(TokenError::Expired));
    assert_eq!(
        check(json!({"exp": i64::MIN}), &r),
        Err(TokenError::Expired)
    );
    assert_eq!(
        check(json!({"exp": 1e300, "nbf": 1e300}), &r),
        Err(TokenError::NotYetValid)
    );
    assert_eq!(
        check(json!({"exp": 1e300, "iat": u64::MAX}), &r),
        Err(TokenError::IssuedInFuture)
    );
    let big = ClaimRules {
        now: i64::MAX,
        leeway: i64::MAX,
        ..rules()
    };
    assert_eq!(
        check(json!({"exp": 0, "nbf": u64::MAX, "iat": u64::MAX}), &big),
        Ok(())
    );
    let small = ClaimRules {
        now: i64::MIN,
        leeway: i64::MAX,
        ..rules()
    };
    assert_eq!(check(json!({"exp": i64::MIN}), &small), Ok(()));
    // payload numbers beyond f64 are refused by the JSON parser before they reach here
    assert!(parse_json_object(br#"{"exp":1e999}"#).is_err());
    let huge_int = parse_json_object(br#"{"exp":123456789012345678901234567890}"#).unwrap();
    assert_eq!(check_claims(&huge_int, &r), Ok(()));
}

#[test]
fn audience() {
    let r = ClaimRules {
        audience: Some("api".into()),
        ..rules()
    };
    let exp = NOW + 60;
    assert_eq!(check(json!({"exp": exp, "aud": "api"}), &r), Ok(()));
    assert_eq!(check(json!({"exp": exp, "aud": ["x", "api"]}), &r), Ok(()));
    assert_eq!(
        check(json!({"exp": exp, "aud": "API"}), &r),
        Err(TokenError::BadAudience)
    );
    assert_eq!(
        check(json!({"exp": exp, "aud": "api "}), &r),
        Err(TokenError::BadAudience)
    );
    assert_eq!(
        check(json!({"exp": exp, "aud": []}), &r),
        Err(TokenError::BadAudience)
    );
    assert_eq!(check(json!({"exp": exp}), &r), Err(TokenError::BadAudience));
    assert_eq!(
        check(json!({"exp": exp, "aud": 5}), &r),
        Err(TokenError::BadClaimType("aud"))
    );
    assert_eq!(
        check(json!({"exp": exp, "aud": ["api", 5]}), &r),
        Err(TokenError::BadClaimType("aud"))
    );
    assert_eq!(
        check(json!({"exp": exp, "aud": {"api": true}}), &r),
        Err(TokenError::BadClaimType("aud"))
    );
    // without a configured audience aud is only type-checked
    assert_eq!(
        check(json!({"exp": exp, "aud": "anything"}), &rules()),
        Ok(())
    );
    assert_eq!(
        check(json!({"exp": exp, "aud": 5}), &rules()),
        Err(TokenError::BadClaimType("aud"))
    );
}

#[test]
fn issuer() {
    let r = ClaimRules {
        issuer: Some("https://issuer.example".into()),
        ..rules()
    };
    let exp = NOW + 60;
    assert_eq!(
        check(json!({"exp": exp, "iss": "https://issuer.example"}), &r),
        Ok(())
    );
    assert_eq!(
        check(json!({"exp": exp, "iss": "https://issuer.example/"}), &r),
        Err(TokenError::BadIssuer)
    );
    assert_eq!(check(json!({"exp": exp}), &r), Err(TokenError::BadIssuer));
    assert_eq!(
        check(json!({"exp": exp, "iss": ["https://issuer.example"]}), &r),
        Err(TokenError::BadClaimType("iss"))
    );
    assert_eq!(
        check(json!({"exp": exp, "iss": ["x"]}), &rules()),
        Err(TokenError::BadClaimType("iss"))
    );
    assert_eq!(check(json!({"exp": exp, "iss": "x"}), &rules()), Ok(()));
}

#[test]
fn roles() {
    let r = rules();
    let exp = NOW + 60;
    for ok in ["anon", "authenticated", "service_role"] {
        assert_eq!(check(json!({"exp": exp, "role": ok}), &r), Ok(()), "{ok}");
    }
    assert_eq!(
        check(json!({"exp": exp}), &r),
        Ok(()),
        "absent role is anonymous-by-default"
    );
    for bad in [
        json!("postgres"),
        json!("pg_read_server_files"),
        json!("Anon"),
        json!(""),
        json!(null),
        json!(1),
        json!(["anon"]),
    ] {
        assert_eq!(
            check(json!({"exp": exp, "role": bad}), &r),
            Err(TokenError::RoleNotAllowed),
            "{bad}"
        );
    }
    let custom = ClaimRules {
        role_claim: RoleClaim::parse("app_role").unwrap(),
        allowed_roles: RoleList::parse("reader"),
        ..rules()
    };
    assert_eq!(
        check(
            json!({"exp": exp, "app_role": "reader", "role": "postgres"}),
            &custom
        ),
        Ok(())
    );
    assert_eq!(
        check(json!({"exp": exp, "app_role": "anon"}), &custom),
        Err(TokenError::RoleNotAllowed)
    );
    let none_allowed = ClaimRules {
        allowed_roles: RoleList::default(),
        ..rules()
    };
    assert_eq!(
        check(json!({"exp": exp, "role": "anon"}), &none_allowed),
        Err(TokenError::RoleNotAllowed)
    );
}

/// auth.role_claim paths (PostgREST's jwt-role-claim-key): auth.allowed_roles applies to whatever
/// the path selects. Before paths were parsed, `.app_metadata.role` named a top-level member
/// that no token has, so a token naming postgres there verified.
#[test]
fn role_claim_paths() {
    let exp = NOW + 60;
    let at = |path: &str| ClaimRules {
        role_claim: RoleClaim::parse(path).unwrap(),
        ..rules()
    };
    let nested = at(".app_metadata.role");
    assert_eq!(
        check(
            json!({"exp": exp, "app_metadata": {"role": "postgres"}}),
            &nested
        ),
        Err(TokenError::RoleNotAllowed)
    );
    assert_eq!(
        check(
            json!({"exp": exp, "app_metadata": {"role": "authenticated"}, "role": "postgres"}),
            &nested
        ),
        Ok(()),
        "the top-level role is not the role claim any more"
    );
    assert_eq!(
        check(json!({"exp": exp, "app_metadata": {"role": 1}}), &nested),
        Err(TokenError::RoleNotAllowed)
    );
    assert_eq!(
        check(json!({"exp": exp, "app_metadata": "postgres"}), &nested),
        Ok(()),
        "nothing at the path: no role claim"
    );
    let quoted = at(r#"."https://example.com/role""#);
    assert_eq!(
        check(
            json!({"exp": exp, "https://example.com/role": "pg_read_server_files"}),
            &quoted
        ),
        Err(TokenError::RoleNotAllowed)
    );
    assert_eq!(
        check(
            json!({"exp": exp, "https://example.com/role": "anon"}),
            &quoted
        ),
        Ok(())
    );
    let first = at(".roles[0]");
    assert_eq!(
        check(json!({"exp": exp, "roles": ["postgres", "anon"]}), &first),
        Err(TokenError::RoleNotAllowed)
    );
    assert_eq!(
        check(json!({"exp": exp, "roles": ["anon", "postgres"]}), &first),
        Ok(())
    );
    assert_eq!(check(json!({"exp": exp, "roles": []}), &first), Ok(()));
    assert_eq!(
        check(json!({"exp": exp, "role": "postgres"}), &at(".role")),
        Err(TokenError::RoleNotAllowed)
    );
}
