//! `#[pg_test]`s: one transaction each, inside a server with the library preloaded.
//! Multi-session behaviour (revocation seen by other sessions, restarts, replicas) is tested by
//! the cluster tests in `tests/cluster`.

use pgrx::prelude::*;

/// Run `sql` in a DO block and assert it fails with exactly `sqlstate`.
fn expect_sqlstate(sql: &str, sqlstate: &str) {
    let block = format!(
        "DO $t$ BEGIN {sql}; RAISE EXCEPTION 'expected SQLSTATE {sqlstate}, nothing was raised' \
         USING ERRCODE = 'XX999'; EXCEPTION WHEN SQLSTATE '{sqlstate}' THEN NULL; END $t$"
    );
    Spi::run(&block).unwrap_or_else(|e| panic!("{sql}: wrong outcome: {e}"));
}

fn one<T: IntoDatum + FromDatum>(sql: &str) -> T {
    Spi::get_one::<T>(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: NULL"))
}

fn text(sql: &str) -> String {
    one::<String>(sql)
}

/// A standby key rotated in (forced past the JWKS-cache guard, as a fresh install would).
fn in_use_key(alg: &str) -> String {
    let kid = text(&format!("SELECT auth.create_key('{alg}')"));
    text(&format!("SELECT auth.rotate_key('{kid}', force => true)"));
    kid
}

#[pg_schema]
mod tests {
    use super::*;

    #[pg_test]
    fn version_matches_cargo() {
        assert_eq!(text("SELECT auth.version()"), env!("CARGO_PKG_VERSION"));
    }

    #[pg_test]
    fn create_key_defaults_to_es256_standby_and_audits() {
        let kid = text("SELECT auth.create_key()");
        assert_eq!(kid.len(), 36, "a new kid is a uuid");
        let row = text(&format!(
            "SELECT alg || ' ' || state || ' ' || can_sign FROM auth.keys WHERE kid = '{kid}'"
        ));
        assert_eq!(row, "ES256 standby true");
        let events = one::<i64>(&format!(
            "SELECT count(*) FROM auth.key_events WHERE kid = '{kid}' AND action = 'create' \
             AND actor = session_user"
        ));
        assert_eq!(events, 1);
    }

    #[pg_test]
    fn every_creatable_alg_signs_and_verifies() {
        for alg in ["ES256", "RS256", "EdDSA", "HS256"] {
            let kid = in_use_key(alg);
            let sub = text(
                "SELECT auth.verify_jwt(auth.sign_jwt('{\"sub\":\"a\",\"role\":\"authenticated\"}')) ->> 'sub'",
            );
            assert_eq!(sub, "a", "{alg}");
            let header_kid =
                text("SELECT (auth.inspect_jwt(auth.sign_jwt('{}')) -> 'header' ->> 'kid')");
            assert_eq!(header_kid, kid, "{alg}");
        }
    }

    #[pg_test]
    fn rotate_guard_refuses_a_young_standby_key_unless_forced() {
        let kid = text("SELECT auth.create_key()");
        expect_sqlstate(&format!("PERFORM auth.rotate_key('{kid}')"), "55000");
        assert_eq!(
            text(&format!(
                "SELECT state::text FROM auth.keys WHERE kid = '{kid}'"
            )),
            "standby"
        );
        text(&format!("SELECT auth.rotate_key('{kid}', force => true)"));
        assert_eq!(
            text(&format!(
                "SELECT state::text FROM auth.keys WHERE kid = '{kid}'"
            )),
            "in_use"
        );
        let forced = one::<i64>(&format!(
            "SELECT count(*) FROM auth.key_events WHERE kid = '{kid}' AND action = 'forced_transition'"
        ));
        assert_eq!(forced, 1);
        // With no guard time, rotation needs no force.
        Spi::run("SET LOCAL auth.jwks_cache_ttl = 0").unwrap();
        let second = text("SELECT auth.create_key()");
        assert_eq!(text("SELECT auth.rotate_key()"), second);
        assert_eq!(
            text(&format!(
                "SELECT state::text FROM auth.keys WHERE kid = '{kid}'"
            )),
            "previously_used"
        );
    }

    #[pg_test]
    fn refused_transitions_change_nothing() {
        Spi::run("SET LOCAL auth.jwks_cache_ttl = 0").unwrap();
        let used = in_use_key("ES256");
        let standby = text("SELECT auth.create_key()");
        expect_sqlstate(&format!("PERFORM auth.revoke_key('{used}')"), "55000");
        expect_sqlstate(&format!("PERFORM auth.revoke_key('{standby}')"), "55000");
        expect_sqlstate(&format!("PERFORM auth.delete_key('{used}')"), "55000");
        expect_sqlstate(
            &format!("PERFORM auth.move_key('{used}', 'standby')"),
            "55000",
        );
        expect_sqlstate(
            &format!("PERFORM auth.move_key('{standby}', 'in_use')"),
            "55000",
        );
        expect_sqlstate(
            &format!("PERFORM auth.move_key('{standby}', 'revoked')"),
            "55000",
        );
        expect_sqlstate("PERFORM auth.revoke_key('no-such-kid')", "22023");
        expect_sqlstate("PERFORM auth.create_key('none')", "22023");
        expect_sqlstate("PERFORM auth.create_key('RS512')", "22023");
        let states = text("SELECT string_agg(state::text, ',' ORDER BY state) FROM auth.keys");
        assert_eq!(states, "standby,in_use");
    }

    #[pg_test]
    fn revoke_guard_and_full_lifecycle() {
        Spi::run("SET LOCAL auth.jwks_cache_ttl = 0").unwrap();
        let old = in_use_key("ES256");
        let token = text("SELECT auth.sign_jwt('{\"sub\":\"u\"}')");
        in_use_key("ES256");
        // Tokens of a previously_used key are still trusted.
        assert_eq!(
            text(&format!("SELECT auth.verify_jwt('{token}') ->> 'sub'")),
            "u"
        );
        // It left in_use just now: revoking would sign users out.
        expect_sqlstate(&format!("PERFORM auth.revoke_key('{old}')"), "55000");
        Spi::run(&format!("SELECT auth.revoke_key('{old}', force => true)")).unwrap();
        expect_sqlstate(&format!("PERFORM auth.verify_jwt('{token}')"), "28000");
        let reason = text(&format!("SELECT auth.inspect_jwt('{token}') ->> 'reason'"));
        assert_eq!(reason, "key revoked");
        assert!(
            Spi::get_one::<pgrx::JsonB>(&format!("SELECT auth.try_verify_jwt('{token}')"))
                .unwrap()
                .is_none()
        );
        // revoked -> standby -> previously_used -> revoked -> deleted
        Spi::run(&format!("SELECT auth.move_key('{old}', 'standby')")).unwrap();
        assert_eq!(
            text(&format!("SELECT auth.verify_jwt('{token}') ->> 'sub'")),
            "u"
        );
        Spi::run(&format!("SELECT auth.move_key('{old}', 'previously_used')")).unwrap();
        // Tokens it signed while in use may still be valid: the guard still applies.
        expect_sqlstate(&format!("PERFORM auth.revoke_key('{old}')"), "55000");
        // Two hours later (simulated), tokens it signed have expired.
        Spi::run(&format!(
            "UPDATE auth_private._keys SET left_in_use_at = now() - interval '2 hours' WHERE kid = '{old}'"
        ))
        .unwrap();
        Spi::run(&format!("SELECT auth.revoke_key('{old}')")).unwrap();
        Spi::run(&format!("SELECT auth.delete_key('{old}')")).unwrap();
        assert_eq!(
            one::<i64>(&format!(
                "SELECT count(*) FROM auth_private._keys WHERE kid = '{old}'"
            )),
            0
        );
        let reason = text(&format!("SELECT auth.inspect_jwt('{token}') ->> 'reason'"));
        assert_eq!(reason, "unknown kid");
    }

    #[pg_test]
    fn verify_only_keys_never_become_in_use() {
        let kid = text("SELECT auth.create_key('ES256')");
        let jwk = text(&format!(
            "SELECT public_jwk::text FROM auth.keys WHERE kid = '{kid}'"
        ));
        let jwk = jwk.replace(&kid, "third-party-1");
        let imported = text(&format!("SELECT auth.import_key('{jwk}'::jsonb)"));
        assert_eq!(imported, "third-party-1");
        assert_eq!(
            text("SELECT can_sign::text FROM auth.keys WHERE kid = 'third-party-1'"),
            "false"
        );
        expect_sqlstate(
            "PERFORM auth.rotate_key('third-party-1', force => true)",
            "55000",
        );
        expect_sqlstate(&format!("PERFORM auth.import_key('{jwk}'::jsonb)"), "42710");
    }

    #[pg_test]
    fn jwks_lists_trusted_asymmetric_public_keys_only() {
        Spi::run("SET LOCAL auth.jwks_cache_ttl = 0").unwrap();
        let es = text("SELECT auth.create_key('ES256')");
        text("SELECT auth.create_key('HS256')");
        let jwks = text("SELECT auth.jwks()::text");
        assert!(jwks.contains(&es));
        assert!(
            !jwks.contains("\"oct\""),
            "no HMAC secret in the JWKS: {jwks}"
        );
        assert!(
            !jwks.contains("\"d\""),
            "no private parameter in the JWKS: {jwks}"
        );
        assert_eq!(
            one::<i64>("SELECT jsonb_array_length(auth.jwks() -> 'keys')::bigint"),
            1
        );
    }

    #[pg_test]
    fn legacy_secret_migration() {
        let secret = "super-secret-jwt-token-with-at-least-32-characters-long";
        let legacy = text(&format!(
            "SELECT legacy_kid FROM auth.migrate_legacy_secret('{secret}')"
        ));
        assert_eq!(
            text("SELECT string_agg(alg || ':' || state || ':' || is_legacy, ',' ORDER BY alg) FROM auth.keys"),
            "ES256:standby:false,HS256:in_use:true"
        );
        // A legacy token (HS256, no kid), as GoTrue made them, verifies against the secret.
        let token = legacy_hs256_token(secret);
        assert_eq!(
            text(&format!("SELECT auth.verify_jwt('{token}') ->> 'role'")),
            "anon"
        );
        expect_sqlstate(
            "PERFORM auth.migrate_legacy_secret('another-secret-of-at-least-32-bytes!!')",
            "55000",
        );
        expect_sqlstate(&format!("PERFORM auth.delete_key('{legacy}')"), "55000");
    }

    #[pg_test]
    fn legacy_api_key_without_kid_is_disabled_with_the_switch() {
        let secret = "super-secret-jwt-token-with-at-least-32-characters-long";
        Spi::run(&format!("SELECT auth.migrate_legacy_secret('{secret}')")).unwrap();
        // The hosted platform's legacy anon key: HS256, no kid.
        let anon = legacy_hs256_token(secret);
        text(&format!(
            "SELECT auth.import_legacy_api_key('{anon}')::text"
        ));
        assert_eq!(
            text(&format!(
                "SELECT kind || ':' || role FROM auth.verify_api_key('{anon}')"
            )),
            "legacy:anon"
        );
        Spi::run("SELECT auth.set_legacy_api_keys_enabled(false)").unwrap();
        expect_sqlstate(&format!("PERFORM auth.verify_jwt('{anon}')"), "28000");
        expect_sqlstate(
            &format!("PERFORM * FROM auth.verify_api_key('{anon}')"),
            "28000",
        );
        // Disabling is transactional: undone by a rolled-back savepoint.
        Spi::run(
            "DO $$ BEGIN PERFORM auth.set_legacy_api_keys_enabled(true); RAISE EXCEPTION 'undo'; \
             EXCEPTION WHEN raise_exception THEN NULL; END $$",
        )
        .unwrap();
        expect_sqlstate(&format!("PERFORM auth.verify_jwt('{anon}')"), "28000");
    }

    #[pg_test]
    fn api_key_checks_are_counted() {
        let counter =
            |name: &str| one::<i64>(&format!("SELECT (auth.stats() ->> '{name}')::bigint"));
        let (ok, failed) = (counter("api_key_ok"), counter("api_key_failed"));
        let key = text("SELECT auth.create_api_key('publishable', 'counted')");
        text(&format!("SELECT kind FROM auth.verify_api_key('{key}')"));
        expect_sqlstate(
            "PERFORM * FROM auth.verify_api_key('sb_secret_nope')",
            "28000",
        );
        assert_eq!(counter("api_key_ok"), ok + 1);
        assert_eq!(counter("api_key_failed"), failed + 1);
    }

    #[pg_test]
    fn short_legacy_secret_is_refused() {
        expect_sqlstate("PERFORM auth.migrate_legacy_secret('too-short')", "22023");
        assert_eq!(one::<i64>("SELECT count(*) FROM auth_private._keys"), 0);
    }

    #[pg_test]
    fn hostile_tokens_are_refused_with_28000() {
        in_use_key("ES256");
        let good = text("SELECT auth.sign_jwt('{\"sub\":\"x\"}')");
        let parts: Vec<&str> = good.split('.').collect();
        let cases = [
            String::new(),
            "a.b".to_string(),
            format!("{good}.x"),
            format!("{}.{}.", parts[0], parts[1]),
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            // {"alg":"none"}
            format!("eyJhbGciOiJub25lIn0.{}.", parts[1]),
            "x".repeat(20000),
            format!("{}.{}.{}", parts[0], "eyJzdWIiOiJ4In0", parts[2]),
        ];
        for token in cases {
            expect_sqlstate(&format!("PERFORM auth.verify_jwt('{token}')"), "28000");
            let valid = text(&format!("SELECT (auth.inspect_jwt('{token}') ->> 'valid')"));
            assert_eq!(valid, "false");
        }
    }

    #[pg_test]
    fn expired_tokens_are_refused() {
        in_use_key("ES256");
        let token = text("SELECT auth.sign_jwt('{\"sub\":\"x\",\"exp\":1000}')");
        let reason = text(&format!("SELECT auth.inspect_jwt('{token}') ->> 'reason'"));
        assert_eq!(reason, "expired");
        let token = text("SELECT auth.sign_jwt('{\"sub\":\"x\",\"role\":\"postgres\"}')");
        expect_sqlstate(&format!("PERFORM auth.verify_jwt('{token}')"), "28000");
    }

    #[pg_test]
    fn admin_functions_are_not_executable_by_public() {
        Spi::run("CREATE ROLE pak_nobody").unwrap();
        Spi::run("SET LOCAL ROLE pak_nobody").unwrap();
        for call in [
            "PERFORM auth.create_key()",
            "PERFORM auth.rotate_key()",
            "PERFORM auth.revoke_key('x')",
            "PERFORM auth.move_key('x', 'standby')",
            "PERFORM auth.delete_key('x')",
            "PERFORM auth.import_key('{}')",
            "PERFORM auth.import_jwks('{}')",
            "PERFORM auth.import_pem('', 'ES256')",
            "PERFORM auth.migrate_legacy_secret('x')",
            "PERFORM auth.sign_jwt('{}')",
            "PERFORM auth_private._generate_key('ES256')",
            "PERFORM * FROM auth_private._keys",
            "PERFORM * FROM auth.keys",
            "PERFORM * FROM auth.key_events",
            "PERFORM auth.create_api_key('secret', 'x')",
            "PERFORM auth.revoke_api_key(gen_random_uuid())",
            "PERFORM auth.delete_api_key(gen_random_uuid())",
            "PERFORM auth.reveal_api_key(gen_random_uuid())",
            "PERFORM auth.import_legacy_api_key('x')",
            "PERFORM auth.set_legacy_api_keys_enabled(false)",
            "PERFORM auth_private._new_api_key('secret')",
            "PERFORM auth_private._open_api_key(gen_random_uuid(), '')",
            "PERFORM * FROM auth_private._api_keys",
            "PERFORM * FROM auth_private._switches",
            "PERFORM * FROM auth.api_keys",
        ] {
            expect_sqlstate(call, "42501");
        }
        // Verification and the public JWKS are for everyone.
        one::<pgrx::JsonB>("SELECT auth.jwks()");
        Spi::run("RESET ROLE").unwrap();
    }

    #[pg_test]
    fn a_rolled_back_savepoint_undoes_a_revocation_for_this_transaction_too() {
        Spi::run("SET LOCAL auth.jwks_cache_ttl = 0").unwrap();
        let old = in_use_key("ES256");
        let token = text("SELECT auth.sign_jwt('{\"sub\":\"u\"}')");
        in_use_key("ES256");
        Spi::run(&format!(
            "DO $$ BEGIN PERFORM auth.revoke_key('{old}', force => true); \
             IF auth.try_verify_jwt('{token}') IS NOT NULL THEN RAISE 'still trusted' USING ERRCODE = 'XX999'; END IF; \
             RAISE EXCEPTION 'roll back'; EXCEPTION WHEN raise_exception THEN NULL; END $$"
        ))
        .unwrap();
        assert_eq!(
            text(&format!("SELECT auth.verify_jwt('{token}') ->> 'sub'")),
            "u"
        );
    }

    #[pg_test]
    fn grant_admin_gives_a_role_the_key_lifecycle() {
        Spi::run("CREATE ROLE pak_admin").unwrap();
        Spi::run("SELECT auth.grant_admin('pak_admin')").unwrap();
        Spi::run("SET LOCAL auth.jwks_cache_ttl = 0").unwrap();
        Spi::run("SET LOCAL ROLE pak_admin").unwrap();
        let kid = text("SELECT auth.create_key()");
        assert_eq!(text("SELECT auth.rotate_key()"), kid);
        let row = text(&format!(
            "SELECT state || ' ' || (public_jwk ->> 'kid') FROM auth.keys WHERE kid = '{kid}'"
        ));
        assert_eq!(row, format!("in_use {kid}"));
        assert_eq!(
            text("SELECT auth.verify_jwt(auth.sign_jwt('{\"sub\":\"s\"}')) ->> 'sub'"),
            "s"
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM auth.key_events WHERE actor = session_user"),
            2
        );
        // Still no access to the private material or the internals.
        expect_sqlstate("PERFORM * FROM auth_private._keys", "42501");
        expect_sqlstate("PERFORM auth_private._generate_key('ES256')", "42501");
        Spi::run("RESET ROLE").unwrap();
    }

    #[pg_test]
    fn stats_count_outcomes() {
        in_use_key("ES256");
        let counter =
            |path: &str| one::<i64>(&format!("SELECT (auth.stats() #>> '{path}')::bigint"));
        let (failed, malformed, ok) = (
            counter("{verify_failed}"),
            counter("{verify_failed_by_reason,malformed}"),
            counter("{verify_ok}"),
        );
        assert!(
            Spi::get_one::<pgrx::JsonB>("SELECT auth.try_verify_jwt('garbage')")
                .unwrap()
                .is_none()
        );
        text("SELECT auth.verify_jwt(auth.sign_jwt('{}'))::text");
        assert_eq!(counter("{verify_failed}"), failed + 1);
        assert_eq!(
            counter("{verify_failed_by_reason,malformed}"),
            malformed + 1
        );
        assert_eq!(counter("{verify_ok}"), ok + 1);
    }

    const EC_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgOWwOGms2NLrnVdBI
rePd7I0ejeZGAMw8srxMgbaLUOahRANCAAQ+4WGr2W5W7cAzQbylMhSBPiLtM6Qk
RgPTE0QKzl1ibsri0pabu5ATQgbDptH2dTc/UJOPJ9OEs5sUgwTB804Y
-----END PRIVATE KEY-----";
    const ED25519_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAbd2R/aoOkK2udQjI9L0mjsJy8+E3r7Gnbe0HcEyhEJo=
-----END PUBLIC KEY-----";
    const RSA1024_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDK5K51wiwqyAA2stQPXTy8z/5B
sygHLWmtuC83hse+Iqd/L1SQgOhrGTJ+SVwHFhf6jbp4DZCsJx1EuNHcAl/k2NYW
rS7Abo8jeeCbJIpDt82i/5sHuE0U6Gm0UVBPaOSQypjn9UQANCRljcwyHcAPtvAH
AX15SvYoPTkvSkBD6QIDAQAB
-----END PUBLIC KEY-----";

    #[pg_test]
    fn import_pem_private_and_public_keys() {
        let signer = text(&format!(
            "SELECT auth.import_pem('{EC_PRIVATE_PEM}', 'ES256', 'from pem')"
        ));
        assert_eq!(
            text(&format!(
                "SELECT alg || ' ' || can_sign || ' ' || description FROM auth.keys WHERE kid = '{signer}'"
            )),
            "ES256 true from pem"
        );
        text(&format!(
            "SELECT auth.rotate_key('{signer}', force => true)"
        ));
        assert_eq!(
            text("SELECT auth.verify_jwt(auth.sign_jwt('{\"sub\":\"pem\"}')) ->> 'sub'"),
            "pem"
        );
        let verifier = text(&format!(
            "SELECT auth.import_pem('{ED25519_PUBLIC_PEM}', 'EdDSA')"
        ));
        assert_eq!(
            text(&format!(
                "SELECT can_sign::text FROM auth.keys WHERE kid = '{verifier}'"
            )),
            "false"
        );
        let before = one::<i64>("SELECT count(*) FROM auth.key_events");
        // The key type must match alg; weak and malformed keys are refused.
        expect_sqlstate(
            &format!("PERFORM auth.import_pem('{EC_PRIVATE_PEM}', 'RS256')"),
            "22023",
        );
        expect_sqlstate(
            &format!("PERFORM auth.import_pem('{EC_PRIVATE_PEM}', 'ES384')"),
            "22023",
        );
        expect_sqlstate(
            &format!("PERFORM auth.import_pem('{RSA1024_PUBLIC_PEM}', 'RS256')"),
            "22023",
        );
        expect_sqlstate("PERFORM auth.import_pem('not a pem', 'ES256')", "22023");
        expect_sqlstate(
            &format!("PERFORM auth.import_pem('{EC_PRIVATE_PEM}', 'none')"),
            "22023",
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM auth.key_events"), before);
    }

    #[pg_test]
    fn import_jwks_is_all_or_nothing() {
        let a = text("SELECT auth.create_key('ES256')");
        let jwk = text(&format!(
            "SELECT public_jwk::text FROM auth.keys WHERE kid = '{a}'"
        ));
        let one_key = jwk.replace(&a, "set-1");
        let two_key = jwk.replace(&a, "set-2");
        let imported = one::<i64>(&format!(
            "SELECT count(*) FROM auth.import_jwks('{{\"keys\":[{one_key},{two_key}]}}')"
        ));
        assert_eq!(imported, 2);
        // A duplicate kid inside the set, or one already stored: nothing is imported.
        let three = jwk.replace(&a, "set-3");
        expect_sqlstate(
            &format!("PERFORM auth.import_jwks('{{\"keys\":[{three},{three}]}}')"),
            "22023",
        );
        expect_sqlstate(
            &format!("PERFORM auth.import_jwks('{{\"keys\":[{three},{one_key}]}}')"),
            "42710",
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM auth.keys WHERE kid = 'set-3'"),
            0
        );
    }

    /// Private material is sealed wherever it is stored or returned: no table, view or
    /// argument-less function of the extension, and none of the functions that make key
    /// material, yields a private key or an HMAC secret in any common encoding.
    #[pg_test]
    fn nothing_stores_or_returns_private_material() {
        use base64::Engine;
        use pg_auth_keys_core::{self as auth_core, Alg, SigningKey};
        let engines = [
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let encodings = |secret: &[u8]| -> Vec<String> {
            let mut out: Vec<String> = engines.iter().map(|e| e.encode(secret)).collect();
            out.push(secret.iter().map(|b| format!("{b:02x}")).collect());
            out
        };

        // Keys made here, imported as PEM and as a JWK, and the legacy secret.
        let legacy = "legacy secret of the sealing pg_test, 32+ bytes";
        let mut secrets: Vec<Vec<u8>> = vec![legacy.as_bytes().to_vec()];
        Spi::run(&format!("SELECT auth.migrate_legacy_secret('{legacy}')")).unwrap();
        for alg in ["ES256", "RS256", "EdDSA", "HS256"] {
            text(&format!("SELECT auth.create_key('{alg}')"));
        }
        for alg in [Alg::ES256, Alg::EdDSA] {
            let key = SigningKey::generate(alg).unwrap();
            let b64 = base64::engine::general_purpose::STANDARD.encode(key.private_bytes());
            let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
            text(&format!("SELECT auth.import_pem('{pem}', '{alg}')"));
            secrets.push(key.private_bytes().to_vec());
        }
        let oct = b"an imported HS256 secret for the pg_test, 32+ bytes".to_vec();
        let jwk = serde_json::json!({"kty": "oct", "alg": "HS256", "kid": "pg-test-oct",
                                     "k": auth_core::b64url_encode(&oct)});
        text(&format!("SELECT auth.import_key('{jwk}')"));
        secrets.push(oct.clone());
        // Every stored private key, opened here (only the Rust side can), is a secret too.
        let stored: Vec<(String, String, Vec<u8>)> = Spi::connect(|c| {
            c.select(
                "SELECT kid, alg, private_key FROM auth_private._keys WHERE private_key IS NOT NULL",
                None,
                &[],
            )
            .unwrap()
            .map(|r| {
                (
                    r.get::<String>(1).unwrap().unwrap(),
                    r.get::<String>(2).unwrap().unwrap(),
                    r.get::<Vec<u8>>(3).unwrap().unwrap(),
                )
            })
            .collect()
        });
        // The legacy secret and migrate_legacy_secret's standby key, four made, three imported.
        assert_eq!(stored.len(), 9);
        for (kid, alg, sealed) in &stored {
            let alg = Alg::parse(alg).unwrap();
            assert!(
                auth_core::sealed_by(sealed).is_ok(),
                "{kid} is stored sealed"
            );
            if !alg.is_hmac() {
                assert!(SigningKey::from_private(alg, sealed).is_err());
            }
            let key = crate::keys::open_signing_key(alg, kid, sealed).unwrap();
            secrets.push(key.private_bytes().to_vec());
        }

        // What SQL can see: every table and view of the extension's schemas, every function of
        // them that takes no argument, and what the key-material functions return.
        Spi::run(
            "CREATE TEMP TABLE pak_seen (what text, output text);
             DO $$
             DECLARE
                 r record;
                 out text;
             BEGIN
                 FOR r IN SELECT format('SELECT string_agg(row_to_json(x)::text, '','') FROM %s x', c.oid::regclass) AS q
                          FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND c.relkind IN ('r', 'v')
                          UNION ALL
                          SELECT format('SELECT string_agg(x::text, '','') FROM %I.%I() x', p.pronamespace::regnamespace, p.proname)
                          FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                          WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND p.pronargs = 0
                            AND p.prokind = 'f' AND p.prorettype NOT IN ('void'::regtype, 'internal'::regtype, 'trigger'::regtype)
                          UNION ALL
                          SELECT format('SELECT string_agg(x::text, '','') FROM auth_private._generate_key(%L) x', a)
                          FROM unnest(ARRAY['ES256', 'RS256', 'EdDSA', 'HS256']) a
                 LOOP
                     BEGIN
                         EXECUTE r.q INTO out;
                         INSERT INTO pak_seen VALUES (r.q, coalesce(out, ''));
                     EXCEPTION WHEN OTHERS THEN
                         INSERT INTO pak_seen VALUES (r.q, 'error: ' || SQLERRM);
                     END;
                 END LOOP;
             END $$",
        )
        .unwrap();
        for (name, call) in [
            ("jwk", format!("auth_private._parse_jwk('{jwk}')")),
            (
                "jwks",
                format!("auth_private._parse_jwks('{{\"keys\":[{jwk}]}}')"),
            ),
            (
                "secret",
                format!("auth_private._parse_legacy_secret(convert_to('{legacy}', 'UTF8'))"),
            ),
        ] {
            Spi::run(&format!(
                "INSERT INTO pak_seen SELECT '{name}', string_agg(x::text, ',') FROM {call} x"
            ))
            .unwrap();
        }
        let seen: Vec<(String, String)> = Spi::connect(|c| {
            c.select("SELECT what, output FROM pak_seen", None, &[])
                .unwrap()
                .map(|r| (r.get(1).unwrap().unwrap(), r.get(2).unwrap().unwrap()))
                .collect()
        });
        assert!(seen.len() > 20, "too little was looked at: {}", seen.len());
        assert!(
            seen.iter()
                .any(|(what, out)| what.contains("_keys x") && out.contains("\\x02")),
            "the key table was read"
        );
        for secret in &secrets {
            for encoded in encodings(secret) {
                for (what, output) in &seen {
                    assert!(
                        !output.contains(&encoded),
                        "{what} returns private material ({} bytes)",
                        secret.len()
                    );
                }
            }
        }
    }

    fn legacy_hs256_token(secret: &str) -> String {
        // HS256 over header {"alg":"HS256","typ":"JWT"} with pgcrypto-free SQL is not possible,
        // so sign with the JOSE core directly, as GoTrue would.
        use pg_auth_keys_core::{Alg, SigningKey};
        let key = SigningKey::from_private(Alg::HS256, secret.as_bytes()).unwrap();
        let exp = crate::clock::now_secs() + 600;
        let claims = serde_json::json!({"role": "anon", "iss": "supabase", "exp": exp});
        let serde_json::Value::Object(claims) = claims else {
            unreachable!()
        };
        let header = pg_auth_keys_core::b64url_encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload =
            pg_auth_keys_core::b64url_encode(serde_json::to_string(&claims).unwrap().as_bytes());
        let input = format!("{header}.{payload}");
        let sig = key.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", pg_auth_keys_core::b64url_encode(&sig))
    }
}
