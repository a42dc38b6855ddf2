//! The extension installed into a schema `auth` that another, non-superuser role owns (as in
//! Supabase or PostgREST set-ups): that role can create objects in `auth`, rename it and make a
//! look-alike, but nothing it makes is ever called or read by the extension with elevated rights.

use pg_auth_keys_cluster_tests::{text, Client, Cluster};
use pg_auth_keys_core::{self as auth_core, Alg, SigningKey};

/// A cluster where role `svc` (LOGIN, not a superuser) owns schema `auth`, then a superuser
/// installs the extension into it. Returns the superuser's and svc's sessions.
fn with_schema_owned_by_svc(cluster: &Cluster) -> (Client, Client) {
    let mut admin = cluster.connect();
    admin
        .batch_execute(
            "CREATE ROLE svc LOGIN;
             CREATE SCHEMA auth AUTHORIZATION svc;
             CREATE EXTENSION pg_auth_keys;
             CREATE TABLE public.planted_calls (who text, as_user text);
             GRANT INSERT ON public.planted_calls TO PUBLIC;",
        )
        .expect("install into a schema svc owns");
    let mut config = cluster.config("postgres");
    config.user("svc");
    let svc = config.connect(pg_auth_keys_cluster_tests::NoTls).unwrap();
    (admin, svc)
}

fn is_superuser(admin: &mut Client, role: &str) -> bool {
    admin
        .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = $1", &[&role])
        .unwrap()
        .get(0)
}

#[test]
fn functions_planted_in_auth_are_never_called_by_the_extension() {
    let cluster = Cluster::start("schema-owner-plant");
    let (mut admin, mut svc) = with_schema_owned_by_svc(&cluster);
    // Overloads that match the extension's own helper calls better than its helpers do, and
    // look-alikes of every internal name: each records who ran it and tries to escalate.
    let body = "BEGIN
        INSERT INTO public.planted_calls VALUES (current_query(), current_user);
        EXECUTE 'ALTER ROLE svc SUPERUSER';
    EXCEPTION WHEN insufficient_privilege THEN NULL; END";
    for signature in [
        "_required(v text, n text) RETURNS void",
        "_audit(a text, k text, d jsonb) RETURNS void",
        "_audit(a text, k text, d text) RETURNS void",
        "_lock_keys() RETURNS void",
        "_shown(v text) RETURNS text",
        "_check_new_kid(k text) RETURNS void",
        "_keys_changed() RETURNS void",
        "_api_keys_changed() RETURNS void",
        "_lock_api_keys() RETURNS void",
        "jwks() RETURNS jsonb",
    ] {
        let returns_text = signature.ends_with("text") || signature.ends_with("jsonb");
        let sql = format!(
            "CREATE OR REPLACE FUNCTION auth.{signature} LANGUAGE plpgsql AS $f$ {} $f$",
            if returns_text {
                body.replace("END", "RETURN NULL; END")
            } else {
                body.to_string()
            }
        );
        // jwks() exists already (the extension's); svc cannot replace it, which is fine.
        let _ = svc.batch_execute(&sql);
    }

    // An administrator uses every administrative path.
    admin
        .batch_execute(
            "SELECT auth.create_key('ES256', 'planted?');
             SELECT auth.rotate_key(force => true);
             SELECT auth.migrate_legacy_secret('a-legacy-secret-of-at-least-32-bytes') WHERE false;
             SELECT auth.create_api_key('secret', 'k');
             SELECT auth.revoke_api_key(id) FROM auth.api_keys;
             SELECT auth.sign_jwt('{\"sub\":\"x\"}');
             SELECT auth.postgrest_pre_config();
             SELECT auth.grant_admin('svc');",
        )
        .expect("administrative calls");

    assert!(
        !is_superuser(&mut admin, "svc"),
        "a function planted in auth ran as a superuser"
    );
    let calls = text(
        &mut admin,
        "SELECT coalesce(string_agg(as_user || ': ' || left(who, 60), '; '), '') FROM public.planted_calls",
    );
    assert_eq!(calls, "", "planted functions were called");
}

#[test]
fn nobody_else_can_create_in_the_private_schema_and_a_look_alike_auth_is_never_read() {
    let cluster = Cluster::start("schema-owner-rename");
    let (mut admin, mut svc) = with_schema_owned_by_svc(&cluster);
    let kid = text(
        &mut admin,
        "SELECT auth.rotate_key(auth.create_key('ES256'), force => true)",
    );
    let token = text(
        &mut admin,
        r#"SELECT auth.sign_jwt('{"sub":"11111111-1111-1111-1111-111111111111","role":"authenticated"}')"#,
    );

    let refused = svc
        .batch_execute("CREATE FUNCTION auth_private.x() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        .expect_err("svc created an object in auth_private");
    assert_eq!(refused.code().map(|c| c.code()), Some("42501"));

    // The schema owner (here also allowed to create schemas, as hosted set-ups often allow their
    // service roles) renames the real schema away and builds a look-alike with its own key table
    // (an HS256 key it knows, under the real kid) and its own audit table.
    admin
        .batch_execute("GRANT CREATE ON DATABASE postgres TO svc")
        .unwrap();
    svc.batch_execute(&format!(
        "ALTER SCHEMA auth RENAME TO auth_moved;
         CREATE SCHEMA auth;
         CREATE TABLE auth._keys AS SELECT '{kid}'::text AS kid, 'HS256'::text AS alg,
             'in_use'::text AS state, false AS is_legacy,
             convert_to('attacker-secret-of-at-least-32-bytes', 'UTF8') AS verify_key;
         CREATE TABLE auth.key_events (id int, at timestamptz, actor name, action text,
                                       kid text, detail jsonb);"
    ))
    .unwrap();

    // A fresh session of a plain role verifies with the real keys only.
    let mut user = cluster.connect();
    user.batch_execute("CREATE ROLE app; SET ROLE app").unwrap();
    let sub = text(
        &mut user,
        &format!("SELECT auth_moved.verify_jwt('{token}') ->> 'sub'"),
    );
    assert_eq!(sub, "11111111-1111-1111-1111-111111111111");
    // A token signed with the look-alike's secret under the real kid is refused.
    let forged = hs256_token(&kid, "attacker-secret-of-at-least-32-bytes");
    let err = user
        .query_one("SELECT auth_moved.verify_jwt($1)", &[&forged])
        .expect_err("a token of the look-alike table verified");
    assert_eq!(err.code().map(|c| c.code()), Some("28000"));

    // Administrative calls keep writing the real tables, never the look-alike.
    admin
        .batch_execute("SELECT auth_moved.create_key('EdDSA')")
        .unwrap();
    assert_eq!(
        text(&mut admin, "SELECT count(*)::text FROM auth.key_events"),
        "0"
    );
    assert!(!is_superuser(&mut admin, "svc"));
}

#[test]
fn create_extension_refuses_a_schema_auth_where_public_may_create() {
    let cluster = Cluster::start("schema-public-create");
    let mut admin = cluster.connect();
    admin
        .batch_execute("CREATE SCHEMA auth; GRANT CREATE ON SCHEMA auth TO PUBLIC")
        .unwrap();
    let err = admin
        .batch_execute("CREATE EXTENSION pg_auth_keys")
        .expect_err("installed into a schema where PUBLIC may create");
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err:?}");
    let db = err.as_db_error().expect("a server error");
    assert!(
        db.message().contains("PUBLIC may create"),
        "{}",
        db.message()
    );
    admin
        .batch_execute("REVOKE CREATE ON SCHEMA auth FROM PUBLIC; CREATE EXTENSION pg_auth_keys")
        .expect("installs once PUBLIC may not create");
}

/// An HS256 token `{"sub":"forged","exp":<far future>}` with header kid `kid`, signed with
/// `secret` by the JOSE core (not with pgcrypto's HMAC in SQL: the PostgreSQL 18 build has no
/// pgcrypto).
fn hs256_token(kid: &str, secret: &str) -> String {
    let key = SigningKey::from_private(Alg::HS256, secret.as_bytes()).expect("an HS256 key");
    let claims = serde_json::json!({"sub": "forged", "exp": 4102444800u64});
    auth_core::sign_compact(&key, kid, claims.as_object().unwrap()).expect("sign")
}
