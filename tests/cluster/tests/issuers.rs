//! Third-party issuers (contract §5b) against a real HTTPS server (tests/cluster/src/https.rs,
//! a CA and certificates made at test time): discovery and JWKS fetched by `auth.add_issuer`,
//! tokens of the issuer's keys (core and PyJWT) verified, rotation picked up on first use of a
//! kid, removal refused after the next refresh in every session, a flood of unknown kids held to
//! one fetch per cooldown, outage then staleness, unsafe servers refused, provider-shaped
//! tokens mapped to roles, and a standby verifying with what the primary fetched.

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use pg_auth_keys_cluster_tests::https::{HttpsServer, Reply, TestCa};
use pg_auth_keys_cluster_tests::keys::{
    begin_parallel_repeatable_read, count_verified, create_count_table, db_error,
    end_parallel_repeatable_read, rotate_in_new_key, sqlstate,
};
use pg_auth_keys_cluster_tests::pyjwt::{run_python, scratch};
use pg_auth_keys_cluster_tests::{text, Client, Cluster};
use pg_auth_keys_core::{sign_compact, Alg, SigningKey};
use serde_json::{json, Value};

/// A provider's signing key.
struct ProviderKey {
    key: SigningKey,
    kid: String,
}

impl ProviderKey {
    fn new(alg: Alg, kid: &str) -> ProviderKey {
        ProviderKey {
            key: SigningKey::generate(alg).expect("generate"),
            kid: kid.into(),
        }
    }
    fn jwk(&self) -> Value {
        self.key
            .verify_key()
            .public_jwk(&self.kid)
            .expect("public jwk")
    }
    fn sign(&self, claims: Value) -> String {
        sign_compact(&self.key, &self.kid, claims.as_object().expect("object")).expect("sign")
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Fixture {
    server: HttpsServer,
    cluster: Cluster,
    admin: Client,
    dir: PathBuf,
}

/// A server with a test CA, and a cluster that trusts that CA and may fetch from loopback.
fn start(name: &str, conf: &[&str]) -> Fixture {
    let ca = TestCa::new(name);
    let dir = std::env::temp_dir().join(format!("pak-issuers-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = ca.write_pem(&dir, "ca.pem");
    let server = HttpsServer::start(&ca);
    let mut lines = vec![
        "auth.issuer_allow_private = on".to_string(),
        format!("auth.issuer_ca_file = '{}'", ca_file.display()),
        "auth.issuer_fetch_timeout = 3".to_string(),
    ];
    lines.extend(conf.iter().map(|s| s.to_string()));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let cluster = Cluster::start_with_conf(name, &lines);
    let admin = cluster.connect_with_extension();
    Fixture {
        server,
        cluster,
        admin,
        dir,
    }
}

/// Serve an OIDC issuer at `prefix`: its discovery document and `keys` as its JWKS.
fn serve_issuer(server: &HttpsServer, prefix: &str, keys: &[Value], cache_control: &str) -> String {
    let issuer = server.url(prefix);
    server.set(
        &format!("{prefix}/.well-known/openid-configuration"),
        Reply::json(&json!({"issuer": issuer, "jwks_uri": server.url(&format!("{prefix}/jwks"))})),
    );
    set_jwks(server, prefix, keys, cache_control);
    issuer
}

fn set_jwks(server: &HttpsServer, prefix: &str, keys: &[Value], cache_control: &str) {
    let mut reply = Reply::json(&json!({ "keys": keys }));
    if !cache_control.is_empty() {
        reply = reply.header("Cache-Control", cache_control);
    }
    server.set(&format!("{prefix}/jwks"), reply);
}

fn jwks_count(server: &HttpsServer, prefix: &str) -> usize {
    server.count(&format!("{prefix}/jwks"))
}

/// auth.verify_jwt: the claims, or `SQLSTATE: message`.
fn verify(c: &mut Client, token: &str) -> Result<Value, String> {
    c.query_one("SELECT auth.verify_jwt($1)::text", &[&token])
        .map(|r| serde_json::from_str(&r.get::<_, String>(0)).unwrap())
        .map_err(|e| db_error(&e))
}

fn add_issuer(c: &mut Client, issuer: &str, audience: Option<&str>, role: &str) {
    c.execute(
        "SELECT auth.add_issuer($1, audience => $2, default_role => $3)",
        &[&issuer, &audience, &role],
    )
    .unwrap_or_else(|e| panic!("add_issuer({issuer}): {}", db_error(&e)));
}

fn claims(issuer: &str, sub: &str) -> Value {
    json!({"iss": issuer, "sub": sub, "iat": now(), "exp": now() + 600})
}

/// add_issuer refused: (SQLSTATE, `SQLSTATE: message`).
fn refused(admin: &mut Client, issuer: &str, jwks_uri: Option<&str>) -> (String, String) {
    let e = admin
        .execute("SELECT auth.add_issuer($1, $2)", &[&issuer, &jwks_uri])
        .expect_err("refused");
    (sqlstate(&e).to_string(), db_error(&e))
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(200));
    }
}

fn events(c: &mut Client, action: &str) -> i64 {
    c.query_one(
        "SELECT count(*) FROM auth.key_events WHERE action = $1",
        &[&action],
    )
    .unwrap()
    .get(0)
}

fn stat(c: &mut Client, name: &str) -> i64 {
    c.query_one("SELECT (auth.stats() ->> $1)::bigint", &[&name])
        .unwrap()
        .get::<_, Option<i64>>(0)
        .unwrap_or(-1)
}

#[test]
fn an_issuer_added_by_discovery_verifies_its_tokens_and_only_its_tokens() {
    let mut f = start("iss-basic", &[]);
    let k1 = ProviderKey::new(Alg::ES256, "p-es");
    let k2 = ProviderKey::new(Alg::RS256, "p-rs");
    let issuer = serve_issuer(&f.server, "/t", &[k1.jwk(), k2.jwk()], "max-age=3600");
    add_issuer(&mut f.admin, &issuer, None, "authenticated");
    assert_eq!(jwks_count(&f.server, "/t"), 1);

    let row = f
        .admin
        .query_one(
            "SELECT jwks_uri, key_count, last_success_at IS NOT NULL, last_error,
                    next_refresh_at - last_fetch_at > interval '59 minutes'
               FROM auth.issuers WHERE issuer = $1",
            &[&issuer],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), f.server.url("/t/jwks"));
    assert_eq!(row.get::<_, i32>(1), 2);
    assert!(row.get::<_, bool>(2));
    assert_eq!(row.get::<_, Option<String>>(3), None);
    assert!(
        row.get::<_, bool>(4),
        "Cache-Control max-age=3600 sets the schedule"
    );
    let shown: i64 = f
        .admin
        .query_one(
            "SELECT count(*) FROM auth.keys WHERE issuer = $1 AND NOT can_sign AND state IS NULL
                AND public_jwk ->> 'kid' IN ('p-es', 'p-rs')",
            &[&issuer],
        )
        .unwrap()
        .get(0);
    assert_eq!(shown, 2);
    assert_eq!(events(&mut f.admin, "add_issuer"), 1);
    assert_eq!(events(&mut f.admin, "issuer_fetch"), 1);
    assert!(stat(&mut f.admin, "issuer_fetches") >= 1);

    let mut user = f.cluster.connect();
    for k in [&k1, &k2] {
        let c = verify(&mut user, &k.sign(claims(&issuer, "user-1"))).unwrap();
        assert_eq!(c["sub"], "user-1");
        assert_eq!(c["role"], "authenticated", "the issuer's default role");
    }
    // A PyJWT token of a key the issuer publishes.
    let dir = scratch("issuers-pyjwt");
    std::fs::write(
        dir.join("claims.json"),
        json!([claims(&issuer, "py-user")]).to_string(),
    )
    .unwrap();
    run_python(&[
        "sign",
        dir.to_str().unwrap(),
        dir.join("claims.json").to_str().unwrap(),
    ]);
    let py_keys: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("keys.json")).unwrap()).unwrap();
    let py_tokens: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tokens.json")).unwrap()).unwrap();
    let mut keys = py_keys.as_array().unwrap().clone();
    keys.push(k1.jwk());
    set_jwks(&f.server, "/t", &keys, "");
    assert_eq!(
        f.admin
            .query_one("SELECT auth.refresh_issuer($1)", &[&issuer])
            .unwrap()
            .get::<_, i32>(0),
        2
    );
    assert_eq!(verify(&mut user, &py_tokens[0]).unwrap()["sub"], "py-user");
    assert_eq!(
        events(&mut f.admin, "issuer_keys_changed"),
        2,
        "the refresh removed p-rs and added pyjwt-claims"
    );

    // Our own keys never verify an issuer's token, and its keys never verify ours.
    rotate_in_new_key(&mut f.admin);
    let ours_as_issuer = text(
        &mut f.admin,
        &format!(
            "SELECT auth.sign_jwt(jsonb_build_object('iss', '{issuer}', 'sub', 'x', 'role', 'authenticated'))"
        ),
    );
    assert_eq!(
        verify(&mut user, &ours_as_issuer).unwrap_err(),
        "28000: unknown kid"
    );
    let no_iss = k1.sign(json!({"sub": "x", "exp": now() + 600}));
    assert_eq!(
        verify(&mut user, &no_iss).unwrap_err(),
        "28000: unknown kid"
    );
    let other_iss = k1.sign(claims("https://elsewhere.example", "x"));
    assert_eq!(
        verify(&mut user, &other_iss).unwrap_err(),
        "28000: unknown kid"
    );

    // remove_issuer: its keys stop verifying at commit, in every session.
    let token = k1.sign(claims(&issuer, "user-2"));
    assert!(verify(&mut user, &token).is_ok());
    f.admin.batch_execute("BEGIN").unwrap();
    f.admin
        .execute("SELECT auth.remove_issuer($1)", &[&issuer])
        .unwrap();
    assert!(verify(&mut user, &token).is_ok(), "not before commit");
    f.admin.batch_execute("COMMIT").unwrap();
    assert_eq!(verify(&mut user, &token).unwrap_err(), "28000: unknown kid");
    assert_eq!(
        text(
            &mut f.admin,
            "SELECT count(*)::text FROM auth.keys WHERE issuer IS NOT NULL"
        ),
        "0"
    );
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[test]
fn unusable_servers_are_refused_with_clear_errors_and_change_nothing() {
    let mut f = start("iss-refused", &[]);
    let k = ProviderKey::new(Alg::ES256, "k");
    let good = serve_issuer(&f.server, "/good", &[k.jwk()], "");
    add_issuer(&mut f.admin, &good, None, "authenticated");
    let before = |c: &mut Client| {
        text(
            c,
            "SELECT count(*) || '/' || (SELECT count(*) FROM auth.key_events) FROM auth.issuers",
        )
    };
    let snapshot = before(&mut f.admin);

    // Oversize JWKS.
    let big = json!({"keys": [k.jwk()], "pad": "x".repeat(1_100_000)});
    f.server.set("/big/jwks", Reply::json(&big));
    let (code, msg) = refused(
        &mut f.admin,
        &f.server.url("/big"),
        Some(&f.server.url("/big/jwks")),
    );
    assert_eq!(code, "58000", "{msg}");
    assert!(msg.contains("larger than 1048576 bytes"), "{msg}");

    // Slow server (auth.issuer_fetch_timeout = 3).
    let mut slow = Reply::json(&json!({"keys": [k.jwk()]}));
    slow.delay = Duration::from_secs(6);
    f.server.set("/slow/jwks", slow);
    let t = Instant::now();
    let (code, msg) = refused(
        &mut f.admin,
        &f.server.url("/slow"),
        Some(&f.server.url("/slow/jwks")),
    );
    assert_eq!(code, "58000", "{msg}");
    assert!(
        msg.contains("timed out") || msg.contains("timeout"),
        "{msg}"
    );
    assert!(t.elapsed() < Duration::from_secs(6));

    // A redirect to another origin is refused; within the origin it is followed.
    f.server
        .set("/redir/jwks", Reply::redirect("https://localhost:1/jwks"));
    let (code, msg) = refused(
        &mut f.admin,
        &f.server.url("/redir"),
        Some(&f.server.url("/redir/jwks")),
    );
    assert_eq!(code, "58000", "{msg}");
    assert!(msg.contains("redirect to another origin"), "{msg}");
    f.server.set("/moved/jwks", Reply::redirect("/good/jwks"));
    f.admin
        .execute(
            "SELECT auth.add_issuer($1, $2)",
            &[&f.server.url("/moved"), &f.server.url("/moved/jwks")],
        )
        .expect("a same-origin redirect is followed");
    f.admin
        .execute("SELECT auth.remove_issuer($1)", &[&f.server.url("/moved")])
        .unwrap();
    let snapshot = {
        let _ = snapshot;
        before(&mut f.admin)
    };

    // A server whose certificate another CA signed.
    let other = HttpsServer::start(&TestCa::new("other"));
    let k2 = ProviderKey::new(Alg::ES256, "k2");
    let wrong = serve_issuer(&other, "/w", &[k2.jwk()], "");
    let (code, msg) = refused(&mut f.admin, &wrong, None);
    assert_eq!(code, "58000", "{msg}");
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");
    assert_eq!(other.count("/w/jwks"), 0);

    // Discovery naming another issuer; a JWKS with no usable key; HTTP errors; plain http.
    f.server.set(
        "/liar/.well-known/openid-configuration",
        Reply::json(
            &json!({"issuer": "https://someone.else", "jwks_uri": f.server.url("/good/jwks")}),
        ),
    );
    let (code, msg) = refused(&mut f.admin, &f.server.url("/liar"), None);
    assert_eq!(code, "58000", "{msg}");
    assert!(msg.contains("names another issuer"), "{msg}");
    f.server.set(
        "/sym/jwks",
        Reply::json(
            &json!({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0c2VjcmV0c2VjcmV0"}]}),
        ),
    );
    let (code, msg) = refused(
        &mut f.admin,
        &f.server.url("/sym"),
        Some(&f.server.url("/sym/jwks")),
    );
    assert_eq!(code, "58000", "{msg}");
    assert!(msg.contains("no usable key"), "{msg}");
    let (code, msg) = refused(&mut f.admin, &f.server.url("/none"), None);
    assert_eq!(code, "58000", "{msg}");
    assert!(msg.contains("HTTP status 404"), "{msg}");
    let (code, msg) = refused(&mut f.admin, "http://127.0.0.1/x", None);
    assert_eq!(code, "22023", "{msg}");

    // Loopback refused unless auth.issuer_allow_private.
    f.admin
        .batch_execute("SET auth.issuer_allow_private = off")
        .unwrap();
    let (code, msg) = refused(
        &mut f.admin,
        &f.server.url("/good2"),
        Some(&f.server.url("/good/jwks")),
    );
    assert_eq!(code, "58000", "{msg}");
    assert!(msg.contains("non-public address 127.0.0.1"), "{msg}");
    let e = f
        .admin
        .query_one("SELECT auth.refresh_issuer($1)", &[&good])
        .expect_err("refresh refused too");
    assert_eq!(sqlstate(&e), "58000");
    f.admin
        .batch_execute("RESET auth.issuer_allow_private")
        .unwrap();

    // Nothing changed: the same issuers, keys and audit trail; the good issuer still verifies.
    assert_eq!(before(&mut f.admin), snapshot);
    assert!(verify(&mut f.admin, &k.sign(claims(&good, "u"))).is_ok());
    assert!(stat(&mut f.admin, "issuer_fetch_failures") >= 9);
}

#[test]
fn provider_shaped_tokens_map_to_roles_as_documented() {
    let mut f = start("iss-providers", &[]);
    // Firebase: iss https://securetoken.google.com/<project>, aud <project>, no role.
    let fb = ProviderKey::new(Alg::RS256, "fb-1");
    let firebase = serve_issuer(
        &f.server,
        "/securetoken.google.com/my-project",
        &[fb.jwk()],
        "",
    );
    add_issuer(&mut f.admin, &firebase, Some("my-project"), "authenticated");
    // Clerk: no aud, azp and sid, no role.
    let ck = ProviderKey::new(Alg::RS256, "ins_2abc");
    let clerk = serve_issuer(&f.server, "/clerk.example.com", &[ck.jwk()], "");
    add_issuer(&mut f.admin, &clerk, None, "authenticated");
    // Auth0: issuer with a trailing slash, aud an array with the API identifier.
    let a0 = ProviderKey::new(Alg::RS256, "a0-1");
    let auth0_prefix = "/tenant.auth0.com";
    serve_issuer(&f.server, auth0_prefix, &[a0.jwk()], "");
    let auth0 = format!("{}/", f.server.url(auth0_prefix));
    f.server.set(
        &format!("{auth0_prefix}/.well-known/openid-configuration"),
        Reply::json(
            &json!({"issuer": auth0, "jwks_uri": f.server.url(&format!("{auth0_prefix}/jwks"))}),
        ),
    );
    add_issuer(
        &mut f.admin,
        &auth0,
        Some("https://api.example.com"),
        "anon",
    );
    // Cognito: access tokens carry no aud (client_id instead), token_use and cognito:groups.
    let cg = ProviderKey::new(Alg::RS256, "cg-1");
    let cognito = serve_issuer(
        &f.server,
        "/cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf",
        &[cg.jwk()],
        "",
    );
    add_issuer(&mut f.admin, &cognito, None, "authenticated");

    let mut user = f.cluster.connect();
    let t = now();
    let cognito_token = cg.sign(json!({
        "sub": "a1b2c3d4-0000-4000-8000-000000000001", "cognito:groups": ["admins"],
        "iss": cognito, "version": 2, "client_id": "3n4b5urk1ft4fl3mg5e62d9ado",
        "origin_jti": "8f1c", "event_id": "5e0a", "token_use": "access",
        "scope": "aws.cognito.signin.user.admin", "auth_time": t, "exp": t + 3600, "iat": t,
        "jti": "c0ffee", "username": "alice"
    }));
    let c = verify(&mut user, &cognito_token).unwrap();
    assert_eq!(
        (
            c["sub"].as_str(),
            c["role"].as_str(),
            c["username"].as_str()
        ),
        (
            Some("a1b2c3d4-0000-4000-8000-000000000001"),
            Some("authenticated"),
            Some("alice")
        ),
        "a Cognito access token gets the default role (its groups are not a role claim)"
    );
    let firebase_token = fb.sign(json!({
        "iss": firebase, "aud": "my-project", "auth_time": t, "user_id": "fbuser",
        "sub": "fbuser", "iat": t, "exp": t + 3600, "email": "a@example.com",
        "email_verified": true,
        "firebase": {"identities": {"email": ["a@example.com"]}, "sign_in_provider": "password"}
    }));
    let c = verify(&mut user, &firebase_token).unwrap();
    assert_eq!(
        (c["sub"].as_str(), c["role"].as_str()),
        (Some("fbuser"), Some("authenticated"))
    );
    let wrong_aud = fb.sign(json!({"iss": firebase, "aud": "other-project", "sub": "x",
                                   "iat": t, "exp": t + 3600}));
    assert_eq!(
        verify(&mut user, &wrong_aud).unwrap_err(),
        "28000: bad audience"
    );

    let clerk_token = ck.sign(json!({
        "azp": "https://app.example.com", "exp": t + 60, "iat": t, "iss": clerk, "nbf": t - 5,
        "sid": "sess_2abc", "sub": "user_2abc", "v": 2, "fva": [0, -1]
    }));
    let c = verify(&mut user, &clerk_token).unwrap();
    assert_eq!(
        (c["sub"].as_str(), c["role"].as_str()),
        (Some("user_2abc"), Some("authenticated"))
    );
    // The session claim works with auth.uid()-style helpers: auth.claims() sees the role.
    user.execute("SELECT auth.authenticate($1)", &[&clerk_token])
        .unwrap();

    let auth0_token = a0.sign(json!({
        "iss": auth0, "sub": "auth0|abc", "aud": ["https://api.example.com", format!("{auth0}userinfo")],
        "iat": t, "exp": t + 86400, "scope": "openid profile", "azp": "client-id"
    }));
    let c = verify(&mut user, &auth0_token).unwrap();
    assert_eq!(c["role"], "anon", "the default_role given to add_issuer");
    // A role claim present is used when allowed, refused when not.
    let with_role = a0.sign(
        json!({"iss": auth0, "sub": "s", "aud": "https://api.example.com",
                                   "iat": t, "exp": t + 600, "role": "service_role"}),
    );
    assert_eq!(
        verify(&mut user, &with_role).unwrap()["role"],
        "service_role"
    );
    let bad_role = a0.sign(
        json!({"iss": auth0, "sub": "s", "aud": "https://api.example.com",
                                  "iat": t, "exp": t + 600, "role": "postgres"}),
    );
    assert_eq!(
        verify(&mut user, &bad_role).unwrap_err(),
        "28000: role not allowed"
    );
    // auth.audience is for our own tokens: an issuer's tokens use its audience.
    f.admin
        .batch_execute("ALTER SYSTEM SET auth.audience = 'ours'")
        .unwrap();
    f.admin.batch_execute("SELECT pg_reload_conf()").unwrap();
    thread::sleep(Duration::from_millis(300));
    let mut user = f.cluster.connect();
    assert!(verify(&mut user, &clerk_token).is_ok());
    // A default role outside auth.allowed_roles is refused at add_issuer.
    let e = f
        .admin
        .execute(
            "SELECT auth.add_issuer('https://x.example', default_role => 'postgres')",
            &[],
        )
        .unwrap_err();
    assert_eq!(sqlstate(&e), "22023", "{}", db_error(&e));
}

#[test]
fn rotation_is_picked_up_on_first_use_and_a_flood_of_unknown_kids_fetches_once() {
    let mut f = start("iss-rotate", &["auth.issuer_refetch_cooldown = 60"]);
    let old = ProviderKey::new(Alg::ES256, "old");
    let issuer = serve_issuer(&f.server, "/r", &[old.jwk()], "max-age=86400");
    add_issuer(&mut f.admin, &issuer, None, "authenticated");
    let mut user = f.cluster.connect();
    // The worker runs for this database.
    wait_until("the issuer worker", Duration::from_secs(30), || {
        text(
            &mut f.admin,
            "SELECT count(*)::text FROM pg_stat_activity WHERE backend_type = 'pg_auth_keys issuer worker'",
        ) == "1"
    });

    // The provider rotates: the first token of the new kid verifies (its statement waits for
    // the worker's refetch).
    let new = ProviderKey::new(Alg::ES256, "new");
    set_jwks(&f.server, "/r", &[old.jwk(), new.jwk()], "max-age=86400");
    let before = jwks_count(&f.server, "/r");
    let c = verify(&mut user, &new.sign(claims(&issuer, "rotated"))).unwrap();
    assert_eq!(c["sub"], "rotated");
    assert_eq!(jwks_count(&f.server, "/r"), before + 1);
    assert_eq!(
        text(&mut f.admin, "SELECT detail ->> 'origin' FROM auth.key_events WHERE action = 'issuer_fetch' ORDER BY id DESC LIMIT 1"),
        "unknown_kid"
    );

    // A flood of forged kids from several sessions: at most one fetch per cooldown.
    let forger = ProviderKey::new(Alg::ES256, "x");
    let before = jwks_count(&f.server, "/r");
    let handles: Vec<_> = (0..4)
        .map(|s| {
            let mut c = f.cluster.connect();
            let issuer = issuer.clone();
            let forged: Vec<String> = (0..25)
                .map(|i| {
                    ProviderKey {
                        key: SigningKey::generate(Alg::ES256).unwrap(),
                        kid: format!("forged-{s}-{i}"),
                    }
                    .sign(claims(&issuer, "evil"))
                })
                .collect();
            thread::spawn(move || {
                for t in forged {
                    assert_eq!(verify(&mut c, &t).unwrap_err(), "28000: unknown kid");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(forger);
    assert!(
        jwks_count(&f.server, "/r") <= before + 1,
        "{} fetches for 100 forged kids",
        jwks_count(&f.server, "/r") - before
    );
    assert!(stat(&mut f.admin, "issuer_refetches_suppressed") >= 99);
}

#[test]
fn a_removed_key_is_refused_after_the_next_refresh_in_every_session_and_on_a_standby() {
    let mut f = start("iss-remove", &["auth.issuer_min_refresh = 1"]);
    let a = ProviderKey::new(Alg::ES256, "a");
    let b = ProviderKey::new(Alg::ES256, "b");
    let issuer = serve_issuer(&f.server, "/x", &[a.jwk(), b.jwk()], "max-age=2");
    add_issuer(&mut f.admin, &issuer, None, "authenticated");
    let replica = f.cluster.replica();
    f.cluster.wait_for_replica(&replica);
    let mut on_standby = replica.connect();
    let mut s1 = f.cluster.connect();
    let mut s2 = f.cluster.connect();
    let tb = b.sign(claims(&issuer, "b-user"));
    let ta = a.sign(claims(&issuer, "a-user"));
    for c in [&mut s1, &mut s2, &mut on_standby] {
        assert!(verify(c, &tb).is_ok());
        assert!(verify(c, &ta).is_ok());
    }
    // The provider drops b; the worker's next scheduled refresh (max-age=2) removes it.
    set_jwks(&f.server, "/x", &[a.jwk()], "max-age=2");
    wait_until("the scheduled refresh", Duration::from_secs(30), || {
        text(
            &mut f.admin,
            &format!("SELECT key_count::text FROM auth.issuers WHERE issuer = '{issuer}'"),
        ) == "1"
    });
    assert_eq!(
        text(&mut f.admin, "SELECT detail ->> 'removed' FROM auth.key_events WHERE action = 'issuer_keys_changed' ORDER BY id DESC LIMIT 1"),
        "[\"b\"]"
    );
    f.cluster.wait_for_replica(&replica);
    for c in [&mut s1, &mut s2, &mut on_standby] {
        assert_eq!(verify(c, &tb).unwrap_err(), "28000: unknown kid");
        assert!(verify(c, &ta).is_ok());
    }
    // A standby never fetches: an unknown kid there asks nothing of the provider.
    let fetches = jwks_count(&f.server, "/x");
    let c = ProviderKey::new(Alg::ES256, "c");
    assert_eq!(
        verify(&mut on_standby, &c.sign(claims(&issuer, "c"))).unwrap_err(),
        "28000: unknown kid"
    );
    let e = on_standby
        .query_one("SELECT auth.refresh_issuer($1)", &[&issuer])
        .unwrap_err();
    assert_eq!(sqlstate(&e), "25006", "{}", db_error(&e));
    assert!(
        jwks_count(&f.server, "/x") <= fetches + 1,
        "only the primary's schedule"
    );
}

#[test]
fn an_outage_keeps_the_last_keys_until_they_are_stale() {
    let mut f = start(
        "iss-outage",
        &["auth.issuer_min_refresh = 1", "auth.issuer_max_stale = 6"],
    );
    let a = ProviderKey::new(Alg::ES256, "a");
    let issuer = serve_issuer(&f.server, "/o", &[a.jwk()], "max-age=1");
    add_issuer(&mut f.admin, &issuer, None, "authenticated");
    let mut user = f.cluster.connect();
    let token = a.sign(claims(&issuer, "u"));
    assert!(verify(&mut user, &token).is_ok());
    // The provider goes down.
    f.server.set("/o/jwks", Reply::status(503));
    let e = f
        .admin
        .query_one("SELECT auth.refresh_issuer($1)", &[&issuer])
        .unwrap_err();
    assert_eq!(sqlstate(&e), "58000");
    assert!(db_error(&e).contains("HTTP status 503"), "{}", db_error(&e));
    wait_until("a failed background fetch", Duration::from_secs(20), || {
        events(&mut f.admin, "issuer_fetch_failed") >= 1
    });
    let last_error = text(
        &mut f.admin,
        &format!("SELECT last_error FROM auth.issuers WHERE issuer = '{issuer}'"),
    );
    assert!(last_error.contains("503"), "{last_error}");
    assert_eq!(
        verify(&mut user, &token).map(|c| c["sub"].clone()),
        Ok(json!("u")),
        "the last good keys stay trusted"
    );
    wait_until("staleness", Duration::from_secs(20), || {
        verify(&mut user, &token).is_err()
    });
    assert_eq!(
        verify(&mut user, &token).unwrap_err(),
        "28000: issuer keys stale"
    );
    assert!(stat(&mut f.admin, "issuer_fetch_failures") >= 2);
    // The provider is back: the worker's next fetch makes its keys fresh again.
    set_jwks(&f.server, "/o", &[a.jwk()], "max-age=1");
    wait_until("recovery", Duration::from_secs(20), || {
        verify(&mut user, &token).is_ok()
    });
}

/// The launcher reads `pg_database` connected to no database: it never holds a database open
/// (before, it sat in `postgres`, so `DROP DATABASE postgres` failed with 55006 after waiting
/// for it) and issuers keep refreshing in a cluster without a `postgres` database.
#[test]
fn the_launcher_holds_no_database_and_needs_no_postgres_database() {
    let Fixture {
        server,
        cluster,
        mut admin,
        dir: _dir,
    } = start("iss-no-postgres", &["auth.issuer_refetch_cooldown = 1"]);
    admin.batch_execute("CREATE DATABASE app").unwrap();
    drop(admin);
    // A second session in app (template1 must stay free for CREATE DATABASE).
    let mut maintenance = cluster.connect_to("app");
    assert_eq!(
        text(
            &mut maintenance,
            "SELECT count(*)::text FROM pg_stat_activity
              WHERE backend_type = 'pg_auth_keys issuer launcher' AND datid IS NULL"
        ),
        "1",
        "the launcher runs, connected to no database"
    );
    // Without FORCE: nothing of ours may be connected to it.
    maintenance
        .batch_execute("DROP DATABASE postgres")
        .unwrap_or_else(|e| panic!("DROP DATABASE postgres: {}", db_error(&e)));

    let mut app = cluster.connect_to("app");
    app.batch_execute("CREATE EXTENSION pg_auth_keys").unwrap();
    let old = ProviderKey::new(Alg::ES256, "old");
    let issuer = serve_issuer(&server, "/np", &[old.jwk()], "max-age=86400");
    add_issuer(&mut app, &issuer, None, "authenticated");
    wait_until("the issuer worker of app", Duration::from_secs(30), || {
        text(
            &mut maintenance,
            "SELECT count(*)::text FROM pg_stat_activity
              WHERE backend_type = 'pg_auth_keys issuer worker' AND datname = 'app'",
        ) == "1"
    });
    // A rotated key verifies on first use: the worker fetched it for this session.
    let new = ProviderKey::new(Alg::ES256, "new");
    set_jwks(&server, "/np", &[old.jwk(), new.jwk()], "max-age=86400");
    let c = verify(&mut app, &new.sign(claims(&issuer, "rotated"))).unwrap();
    assert_eq!(c["sub"], "rotated");
    drop(app);
    // The cluster library's restarts and checks connect to `postgres`.
    maintenance
        .batch_execute("CREATE DATABASE postgres")
        .unwrap();
}

#[test]
fn the_worker_never_runs_a_look_alike_of_the_extension_as_superuser() {
    // A database without the extension where a non-superuser made a schema auth_private with an
    // _issuers table and a _refresh_issuer_in_background function: the worker runs as the
    // bootstrap superuser and must not call it.
    let mut cluster = Cluster::start("iss-look-alike");
    let mut admin = cluster.connect();
    admin
        .batch_execute(
            "CREATE ROLE mallory LOGIN;
             GRANT CREATE ON DATABASE postgres TO mallory;
             SET ROLE mallory;
             CREATE SCHEMA auth_private;
             CREATE TABLE auth_private._issuers (issuer text, next_refresh_at timestamptz);
             INSERT INTO auth_private._issuers VALUES ('https://evil.example', NULL);
             CREATE TABLE auth_private.calls (by_superuser boolean);
             GRANT INSERT ON auth_private.calls TO PUBLIC;
             GRANT USAGE ON SCHEMA auth_private TO PUBLIC;
             CREATE FUNCTION auth_private._refresh_issuer_in_background(text, text) RETURNS integer
             LANGUAGE sql AS $$
                 INSERT INTO auth_private.calls
                 SELECT rolsuper FROM pg_roles WHERE rolname = current_user;
                 SELECT 0 $$;
             RESET ROLE;",
        )
        .unwrap();
    drop(admin);
    // Databases present at start are probed once by the launcher.
    cluster.restart();
    thread::sleep(Duration::from_secs(6));
    let mut admin = cluster.connect();
    assert_eq!(
        text(&mut admin, "SELECT count(*)::text FROM auth_private.calls"),
        "0",
        "the worker called a look-alike function"
    );
}

/// Parallel workers cannot take a snapshot newer than their REPEATABLE READ transaction's, so
/// they read the issuers with the transaction's snapshot, which is only sound when no change to
/// the issuer tables committed after it. Shared memory records the transactions that changed
/// them (src/commits.rs, as for the revocations), and a worker verifies when its snapshot
/// provably includes them all. An issuer removed after the snapshot makes the worker refuse
/// with 55000 (or not find the issuer), never accept its token. (Before issuer commits were
/// recorded, every such statement failed with 55000, our own tokens' too.)
#[test]
fn parallel_workers_of_a_repeatable_read_transaction_never_accept_a_removed_issuers_token() {
    let mut f = start("issuers-parallel-rr", &[]);
    let key = ProviderKey::new(Alg::ES256, "rr-1");
    let issuer = serve_issuer(&f.server, "/rr", &[key.jwk()], "max-age=3600");
    add_issuer(&mut f.admin, &issuer, None, "authenticated");
    rotate_in_new_key(&mut f.admin);
    create_count_table(&mut f.admin);
    let theirs = key.sign(claims(&issuer, "rr-user"));
    let ours = text(
        &mut f.admin,
        "SELECT auth.sign_jwt(jsonb_build_object('sub', 'ours', 'role', 'authenticated'))",
    );
    assert!(verify(&mut f.admin, &theirs).is_ok());
    assert!(verify(&mut f.admin, &ours).is_ok());
    // A transaction with an id stays open throughout, as on a busy server: what proves a
    // snapshot newest is the record of issuer commits.
    let (holder, mut session) = begin_parallel_repeatable_read(&f.cluster, &ours);
    // Nothing changed since the snapshot: the workers verify both.
    assert_eq!(count_verified(&mut session, &theirs), Ok(2000));
    assert_eq!(count_verified(&mut session, &ours), Ok(2000));

    // The issuer is removed after the transaction's snapshot: its workers cannot see that, so
    // they must not verify with what they can read.
    f.admin
        .execute("SELECT auth.remove_issuer($1)", &[&issuer])
        .unwrap();
    end_parallel_repeatable_read(
        holder,
        session,
        &theirs,
        &ours,
        "a token of an issuer removed",
    );
}
