//! Hostile input to the API-key and PostgREST functions that is too large for a golden file
//! (tests/pg_regress/sql/hostile_api_keys.sql has the rest): 10 MB arguments to every function,
//! 10 MB `request.headers` for `auth.pre_request()`, a 10 MB root key a session tries to set, and
//! the legacy-key registration with NULL and 10 MB before and after the legacy secret exists.
//!
//! Every call must answer with the documented SQLSTATE (28000 refused keys and tokens, 22023 bad
//! arguments, 55000 refused state, PT401 from pre_request) or NULL, with a short message that
//! holds no key, no secret and not the apikey header sent, leave the server up (same postmaster,
//! connection still usable) and, when refused, leave `auth_private._keys`, `auth_private._api_keys`,
//! `auth_private._switches` and `auth.key_events` exactly as they were.

use pg_auth_keys_cluster_tests::hostile::{self, assert_no_failures, Guard, Want, MB10};
use pg_auth_keys_cluster_tests::{text, Client};
use postgres::types::ToSql;

const ROOT_KEY: &str = "hostile root key: at least thirty-two bytes long";
const LEGACY_SECRET: &str = "hostile legacy secret, at least 32 characters";

/// Set (None: reset) auth.root_key, a server setting, and wait until this session sees it: a
/// reload reaches a session between statements.
fn set_root_key(client: &mut Client, value: Option<&str>) {
    match value {
        Some(v) => client.batch_execute(&format!("ALTER SYSTEM SET auth.root_key = '{v}'")),
        None => client.batch_execute("ALTER SYSTEM RESET auth.root_key"),
    }
    .unwrap();
    client.batch_execute("SELECT pg_reload_conf()").unwrap();
    for _ in 0..3000 {
        if text(client, "SHOW auth.root_key") == value.unwrap_or("") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("auth.root_key was not reloaded");
}

const FINGERPRINT: &str = "SELECT md5(coalesce((SELECT string_agg(k::text, ',' ORDER BY k.kid) FROM auth_private._keys k), '') || '|' ||
                       coalesce((SELECT string_agg(a::text, ',' ORDER BY a.id) FROM auth_private._api_keys a), '') || '|' ||
                       coalesce((SELECT string_agg(s::text, ',' ORDER BY s.name) FROM auth_private._switches s), '') || '|' ||
                       coalesce((SELECT max(id)::text FROM auth.key_events), ''))";

/// What a refused call must leave alone here, and the `secrets` no error may hold.
fn guard<'a>(secrets: &'a [&'a str]) -> Guard<'a> {
    Guard {
        fingerprint: FINGERPRINT,
        state: "the keys, the API keys, the legacy switch or the audit log",
        secrets,
    }
}

/// A JSON string literal of `s` (quotes and backslashes escaped; nothing else is needed here).
fn json_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn ten_megabyte_arguments_to_api_key_and_postgrest_functions() {
    let (cluster, mut c, mut failures) =
        hostile::start("hostile-api-keys", &["auth.jwks_cache_ttl = 0"]);
    // A key-only request switches to the key's role, which must exist.
    c.batch_execute("CREATE ROLE anon NOLOGIN; CREATE ROLE service_role NOLOGIN")
        .unwrap();
    // auth.pre_request() as db-pre-request runs it: request.headers set for the transaction.
    c.batch_execute(
        "CREATE FUNCTION pg_temp.pre_request_with(headers text) RETURNS text LANGUAGE plpgsql AS $$
         BEGIN
             PERFORM set_config('request.headers', headers, true);
             PERFORM auth.pre_request();
             RETURN NULL;
         END $$",
    )
    .unwrap();
    let huge = "a".repeat(MB10);
    let null_text: Option<String> = None;

    // Before the legacy secret exists: registering a legacy key is refused for the state (55000),
    // and NULL as a bad argument (22023), whatever its size.
    hostile::check(
        &mut failures,
        &mut c,
        &guard(&[]),
        "import_legacy_api_key(NULL), no legacy secret",
        "SELECT auth.import_legacy_api_key($1)::text",
        &[&null_text],
        Want::Refused("22023"),
    );
    hostile::check(
        &mut failures,
        &mut c,
        &guard(&[]),
        "import_legacy_api_key(10 MB), no legacy secret",
        "SELECT auth.import_legacy_api_key($1)::text",
        &[&huge],
        Want::Refused("55000"),
    );

    // Fixtures: the legacy secret and its anon key, an ES256 key in use, a publishable key, a
    // secret key sealed under the root key, a revoked key.
    let legacy_kid = text(
        &mut c,
        &format!("SELECT legacy_kid FROM auth.migrate_legacy_secret('{LEGACY_SECRET}')"),
    );
    let anon_jwt = text(
        &mut c,
        "SELECT auth.sign_jwt('{\"role\":\"anon\",\"exp\":4102444800}')",
    );
    c.execute("SELECT auth.import_legacy_api_key($1)", &[&anon_jwt])
        .unwrap();
    c.query_one(
        "SELECT auth.rotate_key(auth.create_key(), force => true)",
        &[],
    )
    .unwrap();
    let alice = text(
        &mut c,
        "SELECT auth.sign_jwt('{\"sub\":\"11111111-1111-1111-1111-111111111111\",\"role\":\"authenticated\"}')",
    );
    let pk = text(&mut c, "SELECT auth.create_api_key('publishable', 'web')");
    set_root_key(&mut c, Some(ROOT_KEY));
    let sk = text(&mut c, "SELECT auth.create_api_key('secret', 'server')");
    set_root_key(&mut c, None);
    let revoked = text(&mut c, "SELECT auth.create_api_key('publishable', 'old')");
    c.execute(
        "SELECT auth.revoke_api_key(id) FROM auth.api_keys WHERE name = 'old'",
        &[],
    )
    .unwrap();
    let sk_id = text(
        &mut c,
        "SELECT id::text FROM auth.api_keys WHERE name = 'server'",
    );
    let bob = text(
        &mut c,
        "SELECT auth.sign_jwt('{\"sub\":\"22222222-2222-2222-2222-222222222222\",\"role\":\"authenticated\"}')",
    );
    // Alice's header and claims under Bob's signature.
    let forged = format!(
        "{}.{}",
        alice.rsplit_once('.').unwrap().0,
        bob.rsplit_once('.').unwrap().1
    );
    let secrets: Vec<&str> = vec![
        pk.as_str(),
        sk.as_str(),
        revoked.as_str(),
        anon_jwt.as_str(),
        alice.as_str(),
        forged.as_str(),
        ROOT_KEY,
        LEGACY_SECRET,
        &sk[sk.len() - 38..],
        anon_jwt.rsplit('.').next().unwrap(),
    ];

    // 10 MB in every shape.
    let huge_publishable = format!("sb_publishable_{}", "A".repeat(MB10));
    let huge_secret_key = format!("sb_secret_{}", "A".repeat(MB10));
    let huge_jwt = format!("eyJ{}.e30.AAAA", "a".repeat(MB10));
    let huge_unicode = "é".repeat(MB10 / 2);
    let huge_rtl = "\u{202E}".repeat(MB10 / 3);
    let huge_key_suffix = format!("{pk}{}", "x".repeat(MB10));

    // verify_api_key and _verify_api_key, which anyone can call: 28000, refused before hashing.
    for (what, key) in [
        ("10 MB of text", &huge),
        ("10 MB publishable-looking key", &huge_publishable),
        ("10 MB secret-looking key", &huge_secret_key),
        ("10 MB legacy-looking JWT", &huge_jwt),
        ("10 MB of é", &huge_unicode),
        ("10 MB of RTL overrides", &huge_rtl),
        ("a valid key and 10 MB more", &huge_key_suffix),
    ] {
        for f in ["auth.verify_api_key", "auth_private._verify_api_key"] {
            hostile::check(
                &mut failures,
                &mut c,
                &guard(&secrets),
                &format!("{f}({what})"),
                &format!("SELECT kind FROM {f}($1)"),
                &[key],
                Want::Refused("28000"),
            );
        }
    }

    // Administrative functions: 22023 (bad argument) or 28000 (a legacy key that is no token),
    // a short message, nothing written.
    let unknown_id = "00000000-0000-0000-0000-000000000000".to_string();
    for (what, sql, params, code) in [
        (
            "create_api_key(10 MB kind)",
            "SELECT auth.create_api_key($1, 'x')",
            vec![&huge as &(dyn ToSql + Sync)],
            "22023",
        ),
        (
            "create_api_key(10 MB name)",
            "SELECT auth.create_api_key('secret', $1)",
            vec![&huge],
            "22023",
        ),
        (
            "create_api_key(10 MB name of é)",
            "SELECT auth.create_api_key('secret', $1)",
            vec![&huge_unicode],
            "22023",
        ),
        (
            "create_api_key(10 MB role)",
            "SELECT auth.create_api_key('secret', 'x', $1::text::name)",
            vec![&huge],
            "22023",
        ),
        (
            "revoke_api_key(unknown id, 10 MB reason)",
            "SELECT auth.revoke_api_key($1::text::uuid, $2, true)::text",
            vec![&unknown_id, &huge],
            "22023",
        ),
        (
            "delete_api_key(unknown id, 10 MB reason)",
            "SELECT auth.delete_api_key($1::text::uuid, $2)::text",
            vec![&unknown_id, &huge],
            "22023",
        ),
        (
            "import_legacy_api_key(10 MB)",
            "SELECT auth.import_legacy_api_key($1)::text",
            vec![&huge],
            "28000",
        ),
        (
            "import_legacy_api_key(10 MB JWT)",
            "SELECT auth.import_legacy_api_key($1)::text",
            vec![&huge_jwt],
            "28000",
        ),
        (
            "import_legacy_api_key(a legacy key and 10 MB more)",
            "SELECT auth.import_legacy_api_key($1)::text",
            vec![&huge_key_suffix],
            "28000",
        ),
    ] {
        hostile::check(
            &mut failures,
            &mut c,
            &guard(&secrets),
            what,
            sql,
            &params,
            Want::Refused(code),
        );
    }
    // A 10 MB reason is only text: accepted and audited (inside a transaction rolled back here).
    c.batch_execute("BEGIN").unwrap();
    c.execute(
        "SELECT auth.revoke_api_key($1::text::uuid, $2, true)",
        &[&sk_id, &huge],
    )
    .unwrap();
    c.batch_execute("ROLLBACK").unwrap();

    // A 10 MB root key from a session: refused (55P02, it is a server setting) without echoing it;
    // reveal_api_key without the root key that sealed: 55000.
    let huge_root_key = format!("{ROOT_KEY}{}", "r".repeat(MB10));
    let mut with_huge_root = secrets.clone();
    with_huge_root.push(&huge_root_key[..64]);
    for sql in [
        "SELECT set_config('auth.root_key', $1, false)",
        "SELECT set_config('auth.previous_root_key', $1, true)",
    ] {
        hostile::check(
            &mut failures,
            &mut c,
            &guard(&with_huge_root),
            &format!("{sql} with a 10 MB root key"),
            sql,
            &[&huge_root_key],
            Want::Refused("55P02"),
        );
    }
    hostile::check(
        &mut failures,
        &mut c,
        &guard(&with_huge_root),
        "reveal_api_key without its root key",
        "SELECT auth.reveal_api_key($1::text::uuid)",
        &[&sk_id],
        Want::Refused("55000"),
    );

    // pre_request with 10 MB request.headers: PT401, or accepted when the headers are right.
    let many_headers = format!(
        "{{{}\"apikey\":{}}}",
        (0..MB10 / 32)
            .map(|i| format!("\"x-hostile-{i:08}\":\"{:08}\",", i))
            .collect::<String>(),
        json_str(&pk)
    );
    let many_apikeys = format!(
        "{{{}\"apikey\":{}}}",
        "\"apikey\":\"garbage\",".repeat(MB10 / 19),
        json_str(&pk)
    );
    let huge_case_variants = format!(
        "{{\"apikey\":{},{}\"authorization\":{}}}",
        json_str(&pk),
        "\"Authorization\":5,".repeat(MB10 / 18),
        json_str(&format!("Bearer {forged}"))
    );
    for (what, headers, apikey, want) in [
        ("10 MB of text", huge.clone(), None, Want::Refused("PT401")),
        (
            "10 MB of nested arrays",
            format!("{}{}", "[".repeat(MB10 / 2), "]".repeat(MB10 / 2)),
            None,
            Want::Refused("PT401"),
        ),
        (
            "a 10 MB apikey",
            format!("{{\"apikey\":{}}}", json_str(&huge_publishable)),
            Some(&huge_publishable[..64]),
            Want::Refused("PT401"),
        ),
        (
            "a valid apikey and 10 MB more",
            format!("{{\"apikey\":{}}}", json_str(&huge_key_suffix)),
            Some(&huge_key_suffix[..64]),
            Want::Refused("PT401"),
        ),
        (
            "a 10 MB legacy-looking apikey",
            format!("{{\"apikey\":{}}}", json_str(&huge_jwt)),
            Some(&huge_jwt[..64]),
            Want::Refused("PT401"),
        ),
        (
            "a 10 MB apikey of RTL overrides",
            format!("{{\"apikey\":{}}}", json_str(&huge_rtl)),
            Some(&huge_rtl[..63]),
            Want::Refused("PT401"),
        ),
        (
            "a 10 MB bearer token",
            format!(
                "{{\"apikey\":{},\"authorization\":{}}}",
                json_str(&pk),
                json_str(&format!("Bearer {huge_jwt}"))
            ),
            None,
            Want::Refused("PT401"),
        ),
        (
            "a 10 MB authorization header without a scheme",
            format!(
                "{{\"apikey\":{},\"authorization\":{}}}",
                json_str(&pk),
                json_str(&huge)
            ),
            None,
            Want::Refused("PT401"),
        ),
        (
            "a secret key and a 10 MB origin",
            format!(
                "{{\"apikey\":{},\"origin\":{}}}",
                json_str(&sk),
                json_str(&huge)
            ),
            None,
            Want::Refused("PT401"),
        ),
        (
            "a revoked key and 10 MB of other headers",
            format!(
                "{{\"apikey\":{},\"x\":{}}}",
                json_str(&revoked),
                json_str(&huge)
            ),
            None,
            Want::Refused("PT401"),
        ),
        (
            "a valid apikey and a 10 MB other header",
            format!("{{\"apikey\":{},\"x\":{}}}", json_str(&pk), json_str(&huge)),
            None,
            Want::Null,
        ),
        (
            "a valid apikey, its bearer, and a 10 MB other header",
            format!(
                "{{\"apikey\":{},\"authorization\":{},\"x\":{}}}",
                json_str(&pk),
                json_str(&format!("Bearer {pk}")),
                json_str(&huge)
            ),
            None,
            Want::Null,
        ),
        (
            "a valid apikey among 10 MB of other headers",
            many_headers,
            None,
            Want::Null,
        ),
        (
            // Duplicate member names are refused (core/src/request.rs), whichever comes last.
            "10 MB of duplicate apikey members, the valid one last",
            many_apikeys,
            None,
            Want::Refused("PT401"),
        ),
        (
            "a forged token behind 10 MB of Authorization members that are numbers",
            huge_case_variants,
            None,
            Want::Refused("PT401"),
        ),
    ] {
        let mut no_echo = secrets.clone();
        no_echo.extend(apikey);
        hostile::check(
            &mut failures,
            &mut c,
            &guard(&no_echo),
            &format!("pre_request with {what}"),
            "SELECT pg_temp.pre_request_with($1)",
            &[&headers],
            want,
        );
    }

    // Still working, in this session and a new one: keys verify, pre_request and pre_config answer.
    for client in [&mut c, &mut cluster.connect()] {
        let kind: String = client
            .query_one("SELECT kind FROM auth.verify_api_key($1)", &[&pk])
            .unwrap()
            .get(0);
        assert_eq!(kind, "publishable");
        let kind: String = client
            .query_one("SELECT kind FROM auth.verify_api_key($1)", &[&anon_jwt])
            .unwrap()
            .get(0);
        assert_eq!(kind, "legacy");
        client.batch_execute("BEGIN").unwrap();
        client
            .execute(
                "SELECT set_config('request.headers', $1, true)",
                &[&format!(
                    "{{\"apikey\":{},\"authorization\":{}}}",
                    json_str(&pk),
                    json_str(&format!("Bearer {alice}"))
                )],
            )
            .unwrap();
        client.execute("SELECT auth.pre_request()", &[]).unwrap();
        client
            .execute("SELECT auth.postgrest_pre_config()", &[])
            .unwrap();
        let published: bool = client
            .query_one(
                "SELECT current_setting('pgrst.jwt_secret')::jsonb = auth.jwks()",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(published, "postgrest_pre_config publishes the JWKS");
        client.batch_execute("COMMIT").unwrap();
    }
    let legacy_trusted: bool = c
        .query_one(
            "SELECT state <> 'revoked' FROM auth.keys WHERE kid = $1",
            &[&legacy_kid],
        )
        .unwrap()
        .get(0);
    assert!(legacy_trusted);
    let leaked: i64 = c
        .query_one(
            "SELECT count(*) FROM auth.key_events WHERE position($1 IN detail::text) > 0
                 OR position($2 IN detail::text) > 0",
            &[&pk, &sk],
        )
        .unwrap()
        .get(0);
    assert_eq!(leaked, 0, "the audit log holds a key");
    assert_no_failures(&failures);
}
