//! Hostile input too large for a golden file (tests/pg_regress/sql/hostile.sql has the rest):
//! 10 MB arguments to every function, a key set larger than `auth.max_keys`, the legacy
//! secret's migration with NULL and oversized secrets on a fresh database, and numbers a
//! double cannot hold in signed claims.
//!
//! Every call must answer with the documented SQLSTATE (28000 tokens, 22023 bad arguments,
//! 53400 a configured limit) or NULL, with a short message (an error must not echo megabytes
//! back), leave the server up (same postmaster, connection still usable) and, when refused,
//! leave `auth_private._keys` and `auth.key_events` exactly as they were.

use pg_auth_keys_cluster_tests::hostile::{self, assert_no_failures, Guard, Want, MB10};

const GUARD: Guard = Guard {
    fingerprint: "SELECT md5(coalesce((SELECT string_agg(kid || ':' || state || ':' || md5(coalesce(description, '')), ',' ORDER BY kid)
                                  FROM auth_private._keys), '') || '|' ||
                       coalesce((SELECT max(id)::text FROM auth.key_events), ''))",
    state: "the keys or the audit log",
    secrets: &[],
};

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 4);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn ten_megabyte_arguments_everywhere() {
    let (cluster, mut c, mut failures) =
        hostile::start("hostile-10mb", &["auth.jwks_cache_ttl = 0"]);

    // On a fresh database (no key in use yet), the legacy secret's migration: NULL and 10 MB.
    let huge = "a".repeat(MB10);
    let null_text: Option<String> = None;
    hostile::check(
        &mut failures,
        &mut c,
        &GUARD,
        "migrate_legacy_secret(NULL)",
        "SELECT * FROM auth.migrate_legacy_secret($1)",
        &[&null_text],
        Want::Refused("22023"),
    );
    hostile::check(
        &mut failures,
        &mut c,
        &GUARD,
        "migrate_legacy_secret(10 MB)",
        "SELECT * FROM auth.migrate_legacy_secret($1)",
        &[&huge],
        Want::Refused("22023"),
    );
    hostile::check(
        &mut failures,
        &mut c,
        &GUARD,
        "migrate_legacy_secret(short)",
        "SELECT * FROM auth.migrate_legacy_secret('short')",
        &[],
        Want::Refused("22023"),
    );

    let kid: String = c.query_one("SELECT auth.create_key()", &[]).unwrap().get(0);
    c.execute("SELECT auth.rotate_key($1)", &[&kid]).unwrap();
    let token: String = c
        .query_one(
            "SELECT auth.sign_jwt('{\"sub\":\"x\",\"role\":\"anon\"}')",
            &[],
        )
        .unwrap()
        .get(0);

    // 10 MB in every shape.
    let huge_token = format!(
        "{}.{}.{}",
        b64url(b"{\"alg\":\"ES256\"}"),
        "a".repeat(MB10),
        "AAAA"
    );
    let huge_kid_token = format!(
        "{}.e30.AAAA",
        b64url(format!("{{\"alg\":\"ES256\",\"kid\":\"{}\"}}", "k".repeat(MB10)).as_bytes())
    );
    let huge_bytes = vec![0xffu8; MB10];
    let huge_secret = format!("{{\"kty\":\"oct\",\"k\":\"{}\"}}", b64url(&vec![7u8; MB10]));
    let huge_kid_jwk = format!(
        "{{\"kty\":\"oct\",\"kid\":\"{}\",\"k\":\"{}\"}}",
        "k".repeat(MB10),
        b64url(&[7u8; 32])
    );
    let huge_member_jwk = format!(
        "{{\"kty\":\"oct\",\"k\":\"{}\",\"x\":\"{}\"}}",
        b64url(&[7u8; 32]),
        "x".repeat(MB10)
    );
    let huge_jwks = format!("{{\"keys\":[{huge_secret}]}}");
    let huge_claims = format!("{{\"sub\":\"x\",\"pad\":\"{}\"}}", "p".repeat(MB10));
    let huge_pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        "QUFB".repeat(MB10 / 4)
    );
    let huge_headers = format!("{{\"authorization\":\"Bearer {huge_token}\"}}");
    let huge_headers_junk = format!("{{\"x\":\"{}\"}}", "j".repeat(MB10));

    // Tokens and claims: what anyone can call.
    for (what, t) in [
        ("10 MB token", &huge_token),
        ("10 MB kid in a token", &huge_kid_token),
        ("10 MB of text", &huge),
    ] {
        hostile::check(
            &mut failures,
            &mut c,
            &GUARD,
            &format!("verify_jwt({what})"),
            "SELECT auth.verify_jwt($1)::text",
            &[t],
            Want::Refused("28000"),
        );
        hostile::check(
            &mut failures,
            &mut c,
            &GUARD,
            &format!("try_verify_jwt({what})"),
            "SELECT auth.try_verify_jwt($1)::text",
            &[t],
            Want::Null,
        );
        hostile::check(
            &mut failures,
            &mut c,
            &GUARD,
            &format!("verify_jws({what})"),
            "SELECT encode(auth.verify_jws($1), 'hex')",
            &[t],
            Want::Refused("28000"),
        );
        hostile::check(
            &mut failures,
            &mut c,
            &GUARD,
            &format!("authenticate({what})"),
            "SELECT auth.authenticate($1)::text",
            &[t],
            Want::Refused("28000"),
        );
        hostile::check(
            &mut failures,
            &mut c,
            &GUARD,
            &format!("inspect_jwt({what})"),
            "SELECT auth.inspect_jwt($1) ->> 'reason'",
            &[t],
            Want::Value,
        );
    }
    let reason: String = c
        .query_one("SELECT auth.inspect_jwt($1) ->> 'reason'", &[&huge_token])
        .unwrap()
        .get(0);
    assert_eq!(reason, "token too large");
    for (what, h) in [
        ("10 MB bearer token", &huge_headers),
        ("10 MB headers", &huge_headers_junk),
        ("10 MB non-JSON headers", &huge),
    ] {
        hostile::check(
            &mut failures,
            &mut c,
            &GUARD,
            &format!("claims() with {what}"),
            "SELECT (set_config('request.headers', $1, true) IS NULL OR auth.claims() IS NULL)::text",
            &[h],
            Want::Value,
        );
        let anonymous: bool = c
            .query_one(
                "SELECT set_config('request.headers', $1, true) IS NULL OR auth.claims() IS NULL",
                &[h],
            )
            .unwrap()
            .get(0);
        assert!(anonymous, "claims() with {what}");
    }
    hostile::check(
        &mut failures,
        &mut c,
        &GUARD,
        "_public_jwk(10 MB key)",
        "SELECT auth_private._public_jwk('RS256', $1, 'k')::text",
        &[&huge_bytes],
        Want::Null,
    );
    hostile::check(
        &mut failures,
        &mut c,
        &GUARD,
        "_public_jwk(10 MB alg)",
        "SELECT auth_private._public_jwk($1, '\\x00', 'k')::text",
        &[&huge],
        Want::Null,
    );

    // Administrative functions: refused with 22023, a short message, nothing written.
    for (what, sql, param) in [
        ("create_key(10 MB alg)", "SELECT auth.create_key($1)", &huge),
        (
            "import_key(10 MB secret)",
            "SELECT auth.import_key($1::text::jsonb)",
            &huge_secret,
        ),
        (
            "import_key(10 MB kid)",
            "SELECT auth.import_key($1::text::jsonb)",
            &huge_kid_jwk,
        ),
        (
            "import_key(10 MB text)",
            "SELECT auth.import_key(to_jsonb($1::text))",
            &huge,
        ),
        (
            "import_jwks(10 MB secret)",
            "SELECT auth.import_jwks($1::text::jsonb)",
            &huge_jwks,
        ),
        (
            "import_pem(10 MB PEM)",
            "SELECT auth.import_pem($1, 'ES256')",
            &huge_pem,
        ),
        (
            "import_pem(10 MB text)",
            "SELECT auth.import_pem($1, 'ES256')",
            &huge,
        ),
        (
            "import_pem(10 MB alg)",
            "SELECT auth.import_pem('x', $1)",
            &huge,
        ),
        (
            "rotate_key(10 MB kid)",
            "SELECT auth.rotate_key($1, true)",
            &huge,
        ),
        (
            "revoke_key(10 MB kid)",
            "SELECT auth.revoke_key($1, true)::text",
            &huge,
        ),
        (
            "move_key(10 MB kid)",
            "SELECT auth.move_key($1, 'standby')::text",
            &huge,
        ),
        (
            "delete_key(10 MB kid)",
            "SELECT auth.delete_key($1)::text",
            &huge,
        ),
        (
            "sign_jwt(10 MB kid)",
            "SELECT auth.sign_jwt('{}', $1)",
            &huge,
        ),
        (
            "migrate_legacy_secret(10 MB)",
            "SELECT legacy_kid FROM auth.migrate_legacy_secret($1)",
            &huge,
        ),
    ] {
        hostile::check(
            &mut failures,
            &mut c,
            &GUARD,
            what,
            sql,
            &[param],
            Want::Refused(if what.starts_with("migrate") {
                "55000"
            } else {
                "22023"
            }),
        );
    }
    // A JWK with a 10 MB member it does not use is still one key: accepted (inside a transaction
    // rolled back here), and so is a 10 MB description, which is only text.
    c.batch_execute("BEGIN").unwrap();
    c.execute(
        "SELECT auth.import_key($1::text::jsonb)",
        &[&huge_member_jwk],
    )
    .unwrap();
    c.execute("SELECT auth.create_key('ES256', $1)", &[&huge])
        .unwrap();
    c.batch_execute("ROLLBACK").unwrap();
    // Signing 10 MB of claims works; the token is then too large to verify.
    let big: String = c
        .query_one("SELECT auth.sign_jwt($1::text::jsonb)", &[&huge_claims])
        .unwrap()
        .get(0);
    hostile::check(
        &mut failures,
        &mut c,
        &GUARD,
        "verify_jwt(10 MB signed token)",
        "SELECT auth.verify_jwt($1)::text",
        &[&big],
        Want::Refused("28000"),
    );

    // At the largest auth.max_token_bytes, a megabyte of nesting or of kid is refused as such.
    c.batch_execute("SET auth.max_token_bytes = '1MB'").unwrap();
    let nested = format!(
        "{}.{}.AAAA",
        b64url(format!("{{\"alg\":\"ES256\",\"kid\":\"{kid}\"}}").as_bytes()),
        b64url(format!("{}{}", "[".repeat(300_000), "]".repeat(300_000)).as_bytes())
    );
    let nested_header = format!(
        "{}.e30.AAAA",
        b64url(format!("{}{}", "[".repeat(300_000), "]".repeat(300_000)).as_bytes())
    );
    for (what, t) in [
        ("300000 nested arrays in the payload", &nested),
        ("300000 nested arrays in the header", &nested_header),
    ] {
        hostile::check(
            &mut failures,
            &mut c,
            &GUARD,
            what,
            "SELECT auth.verify_jwt($1)::text",
            &[t],
            Want::Refused("28000"),
        );
        hostile::check(
            &mut failures,
            &mut c,
            &GUARD,
            what,
            "SELECT auth.inspect_jwt($1) ->> 'valid'",
            &[t],
            Want::Value,
        );
    }
    c.batch_execute("RESET auth.max_token_bytes").unwrap();

    // Still working for good tokens, in this session and a new one.
    let sub: String = c
        .query_one("SELECT auth.verify_jwt($1) ->> 'sub'", &[&token])
        .unwrap()
        .get(0);
    assert_eq!(sub, "x");
    let mut other = cluster.connect();
    let sub: String = other
        .query_one("SELECT auth.verify_jwt($1) ->> 'sub'", &[&token])
        .unwrap()
        .get(0);
    assert_eq!(sub, "x");
    assert_no_failures(&failures);
}

/// More keys than shared memory has slots for: the import that would exceed `auth.max_keys` is
/// refused (53400) and writes nothing, rather than committing a key set that no session can
/// load, which would make every verification in the database fail until keys are deleted.
#[test]
fn a_key_set_larger_than_max_keys_is_refused_at_import() {
    let (cluster, mut c, mut failures) = hostile::start("hostile-max-keys", &["auth.max_keys = 8"]);
    let kid: String = c.query_one("SELECT auth.create_key()", &[]).unwrap().get(0);
    c.execute("SELECT auth.rotate_key($1, force => true)", &[&kid])
        .unwrap();
    let token: String = c
        .query_one("SELECT auth.sign_jwt('{\"sub\":\"x\"}')", &[])
        .unwrap()
        .get(0);
    let jwks = format!(
        "{{\"keys\":[{}]}}",
        (0..12)
            .map(|i| format!(
                "{{\"kty\":\"oct\",\"kid\":\"many-{i}\",\"k\":\"{}\"}}",
                b64url(&[i as u8 + 1; 32])
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    hostile::check(
        &mut failures,
        &mut c,
        &GUARD,
        "import_jwks(12 keys, auth.max_keys = 8)",
        "SELECT count(*)::text FROM auth.import_jwks($1::text::jsonb)",
        &[&jwks],
        Want::Refused("53400"),
    );
    // One key at a time: the ninth is refused the same way.
    let mut refused = None;
    for i in 0..9 {
        let r = c.query_one("SELECT auth.create_key('HS256')", &[]);
        if let Err(e) = r {
            refused = Some((i, e.as_db_error().map(|d| d.code().code().to_string())));
            break;
        }
    }
    if refused != Some((7, Some("53400".to_string()))) {
        failures.push(format!(
            "create_key past auth.max_keys (8 slots, one key already there): refused at {refused:?}"
        ));
    }
    // Verification keeps working for everybody.
    let mut other = cluster.connect();
    match other.query_one("SELECT auth.try_verify_jwt($1) ->> 'sub'", &[&token]) {
        Ok(row) => assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("x")),
        Err(e) => failures.push(format!(
            "verification fails for everybody once there are too many keys: {:?}",
            e.as_db_error().map(|d| (d.code().code(), d.message()))
        )),
    }
    assert_no_failures(&failures);
}

/// `sign_jwt` signs exactly the claims it was given, or refuses them (22023): numbers that jsonb
/// holds exactly but a double cannot (beyond 2^64, 30 digits, 1e-400) must not come back changed
/// under a valid signature.
#[test]
fn sign_jwt_never_changes_a_claim() {
    let (_cluster, mut c, mut failures) =
        hostile::start("hostile-numbers", &["auth.jwks_cache_ttl = 0"]);
    c.query_one("SELECT auth.rotate_key(auth.create_key())", &[])
        .unwrap();
    for n in [
        "18446744073709551616",
        "123456789012345678901234567890",
        "0.1000000000000000000001",
        "1e-400",
        "12345678901234567",
        "-0",
    ] {
        let claims = format!("{{\"sub\":\"x\",\"n\":{n}}}");
        let signed = c.query_one(
            "SELECT (auth.verify_jwt(auth.sign_jwt($1::text::jsonb)) -> 'n')::text,
                    ($1::text::jsonb -> 'n')::text",
            &[&claims],
        );
        match signed {
            Ok(row) => {
                let (got, given): (String, String) = (row.get(0), row.get(1));
                if got != given {
                    failures.push(format!("claim {n}: signed as {got} (jsonb holds {given})"));
                }
            }
            Err(e) => match e.as_db_error() {
                Some(db) if db.code().code() == "22023" => {}
                other => failures.push(format!(
                    "claim {n}: {:?}",
                    other.map(|d| (d.code().code(), d.message()))
                )),
            },
        }
    }
    assert!(
        failures.is_empty(),
        "claims changed by signing:\n{}",
        failures.join("\n")
    );
}
