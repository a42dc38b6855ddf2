//! API keys grant their role through PostgREST's own hook (issue #20): each request is the
//! transaction PostgREST 12 runs on its pooled connection as `authenticator` (LOGIN NOINHERIT,
//! granted the request roles): `BEGIN`, `SET LOCAL ROLE <anon or the JWT's role>`, the
//! transaction-local request settings, `SELECT auth.pre_request()`, then the request's query on
//! a table under Row Level Security.

use pg_auth_keys_cluster_tests::keys::{
    check_jwt, db_error, revoke_api_key_by_name, rotate_in_new_key, sign, ALICE,
};
use pg_auth_keys_cluster_tests::{text, Client, Cluster};
use serde_json::json;

const CONF: &[&str] = &["auth.jwks_cache_ttl = 0"];

/// The roles and the table of a PostgREST deployment, made by `admin` (a superuser).
const SETUP: &str = "
    CREATE ROLE anon NOLOGIN;
    CREATE ROLE authenticated NOLOGIN;
    CREATE ROLE service_role NOLOGIN BYPASSRLS;
    CREATE ROLE authenticator LOGIN NOINHERIT;
    GRANT anon, authenticated, service_role TO authenticator;
    CREATE TABLE notes (id int PRIMARY KEY, owner uuid, body text);
    INSERT INTO notes VALUES (1, '11111111-1111-1111-1111-111111111111', 'alice'),
                             (2, '22222222-2222-2222-2222-222222222222', 'bob'),
                             (3, NULL, 'nobody');
    ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own ON notes FOR SELECT USING (owner = auth.uid());
    GRANT SELECT ON notes TO anon, authenticated, service_role;
";

/// The request's query: the role it runs as and the rows it sees.
const QUERY: &str = "SELECT current_user::text, \
     (SELECT coalesce(string_agg(body, ',' ORDER BY id), '') FROM notes)";

/// A connection as `user` to database `postgres`.
fn connect_as(cluster: &Cluster, user: &str) -> Client {
    cluster
        .config("postgres")
        .user(user)
        .connect(postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect as {user}: {e}"))
}

/// What a request answered: (current_user, rows seen), or `SQLSTATE: message (hint)`.
type Answer = Result<(String, String), String>;

/// One GET request as PostgREST runs it; `role` is what PostgREST switches to first (anon, or
/// the role of the bearer JWT it verified).
fn request(client: &mut Client, role: &str, headers: &serde_json::Value) -> Answer {
    request_with(client, role, headers, QUERY)
}

/// The claims a request's policies see, as text, and `auth.uid()`.
const CLAIMS: &str =
    "SELECT coalesce(auth.claims()::text, 'NULL'), coalesce(auth.uid()::text, 'NULL')";

/// The claims and uid a request answered [`CLAIMS`] with.
fn claims(answer: Answer) -> (serde_json::Value, String) {
    let (claims, uid) = answer.expect("the request is accepted");
    (
        serde_json::from_str(&claims).unwrap_or(serde_json::Value::Null),
        uid,
    )
}

/// [`request`] with another query, whose two text columns are answered.
fn request_with(
    client: &mut Client,
    role: &str,
    headers: &serde_json::Value,
    query: &str,
) -> Answer {
    let run = |client: &mut Client| -> Result<(String, String), postgres::Error> {
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::ReadCommitted)
            .read_only(true)
            .start()?;
        tx.batch_execute(&format!("SET LOCAL ROLE {role}"))?;
        tx.execute(
            "SELECT set_config('search_path', '\"public\"', true), \
                    set_config('request.method', 'GET', true), \
                    set_config('request.path', '/notes', true), \
                    set_config('request.headers', $1, true)",
            &[&headers.to_string()],
        )?;
        tx.execute("SELECT auth.pre_request()", &[])?;
        let row = tx.query_one(query, &[])?;
        let answer = (row.get(0), row.get(1));
        tx.commit()?;
        Ok(answer)
    };
    run(client).map_err(|e| match e.as_db_error().and_then(|db| db.hint()) {
        Some(hint) => format!("{} ({hint})", db_error(&e)),
        None => db_error(&e),
    })
}

fn ok(role: &str, rows: &str) -> Answer {
    Ok((role.to_string(), rows.to_string()))
}

#[test]
fn an_api_key_alone_runs_the_request_as_its_role() {
    let cluster = Cluster::start_with_conf("postgrest-roles", CONF);
    let mut admin = cluster.connect_with_extension();
    admin.batch_execute(SETUP).unwrap();
    rotate_in_new_key(&mut admin);
    let sk = text(&mut admin, "SELECT auth.create_api_key('secret', 'server')");
    let pk = text(
        &mut admin,
        "SELECT auth.create_api_key('publishable', 'web')",
    );
    let alice = sign(&mut admin, ALICE);
    let mut pgrst = connect_as(&cluster, "authenticator");

    // A secret key alone: service_role, every row.
    let server = |key: &str| json!({"apikey": key, "user-agent": "curl/8.5.0"});
    assert_eq!(
        request(&mut pgrst, "anon", &server(&sk)),
        ok("service_role", "alice,bob,nobody")
    );
    // A publishable key alone: anon, which the policy shows nothing.
    assert_eq!(request(&mut pgrst, "anon", &server(&pk)), ok("anon", ""));
    // A secret key and a user JWT: PostgREST switched to the JWT's role; RLS applies.
    let with_jwt = json!({"apikey": sk, "authorization": format!("Bearer {alice}")});
    assert_eq!(
        request(&mut pgrst, "authenticated", &with_jwt),
        ok("authenticated", "alice")
    );
    // The secret key from a browser.
    let browser = json!({"apikey": sk, "origin": "https://app.example.com"});
    let refused = request(&mut pgrst, "anon", &browser).unwrap_err();
    assert!(
        refused.starts_with("PT401: secret api keys cannot be used in a browser"),
        "{refused}"
    );
    // The role switch ends with the transaction.
    assert_eq!(
        text(&mut pgrst, "SELECT current_user::text"),
        "authenticator"
    );

    // What RLS sees for a key alone: the key's role, id and name, all from the stored key; no user.
    let sk_id = text(
        &mut admin,
        "SELECT id::text FROM auth.api_keys WHERE name = 'server'",
    );
    let expected = json!({"role": "service_role", "api_key_id": sk_id, "api_key_name": "server"});
    assert_eq!(
        claims(request_with(&mut pgrst, "anon", &server(&sk), CLAIMS)),
        (expected, "NULL".into())
    );
    let pk_id = text(
        &mut admin,
        "SELECT id::text FROM auth.api_keys WHERE name = 'web'",
    );
    let expected = json!({"role": "anon", "api_key_id": pk_id, "api_key_name": "web"});
    assert_eq!(
        claims(request_with(&mut pgrst, "anon", &server(&pk), CLAIMS)),
        (expected, "NULL".into())
    );
    // With a user JWT, the claims are the token's.
    let answer = request_with(&mut pgrst, "authenticated", &with_jwt, CLAIMS).unwrap();
    assert_eq!(answer.1, ALICE);
    assert!(!answer.0.contains("api_key_id"), "{}", answer.0);

    // Another session whose request.headers hold the key: claims NULL at its next statement
    // once the key is revoked.
    let mut other = cluster.connect();
    other
        .execute(
            "SELECT set_config('request.headers', $1, false)",
            &[&server(&sk).to_string()],
        )
        .unwrap();
    assert_eq!(
        text(&mut other, "SELECT auth.claims() ->> 'api_key_name'"),
        "server"
    );

    // Revoked: the next request of the same pooled connection is refused.
    revoke_api_key_by_name(&mut admin, "server");
    assert_eq!(
        pg_auth_keys_cluster_tests::keys::opt_text(&mut other, "SELECT auth.claims()::text"),
        None,
        "claims of a revoked key"
    );
    assert_eq!(
        request(&mut pgrst, "anon", &server(&sk)),
        Err("PT401: invalid api key".into())
    );
    assert_eq!(
        text(&mut pgrst, "SELECT current_user::text"),
        "authenticator"
    );
}

#[test]
fn a_role_the_deployment_does_not_allow_is_never_reached() {
    let cluster = Cluster::start_with_conf("postgrest-roles-allowed", CONF);
    let mut admin = cluster.connect_with_extension();
    admin.batch_execute(SETUP).unwrap();
    admin
        .batch_execute("CREATE ROLE admin NOLOGIN BYPASSRLS; GRANT admin TO authenticator")
        .unwrap();
    // create_api_key refuses a role outside auth.allowed_roles.
    let e = admin
        .query_one("SELECT auth.create_api_key('secret', 'root', 'admin')", &[])
        .unwrap_err();
    assert!(db_error(&e).starts_with("22023:"), "{}", db_error(&e));

    // A key made while its role was allowed, then auth.allowed_roles narrowed.
    let sk_user = text(
        &mut admin,
        "SELECT auth.create_api_key('secret', 'worker', 'authenticated')",
    );
    let mut pgrst = connect_as(&cluster, "authenticator");
    let headers = json!({"apikey": sk_user});
    assert_eq!(
        request(&mut pgrst, "anon", &headers),
        ok("authenticated", "")
    );
    admin
        .batch_execute("ALTER ROLE authenticator SET auth.allowed_roles = 'anon, service_role'")
        .unwrap();
    let mut narrowed = connect_as(&cluster, "authenticator");
    let refused = request(&mut narrowed, "anon", &headers).unwrap_err();
    assert!(
        refused.starts_with("PT401: api key role not allowed"),
        "{refused}"
    );
}

#[test]
fn an_authenticator_without_the_grant_is_told_which_grant_is_missing() {
    let cluster = Cluster::start_with_conf("postgrest-roles-grant", CONF);
    let mut admin = cluster.connect_with_extension();
    admin.batch_execute(SETUP).unwrap();
    admin
        .batch_execute("CREATE ROLE lonely LOGIN NOINHERIT; GRANT anon TO lonely")
        .unwrap();
    let sk = text(&mut admin, "SELECT auth.create_api_key('secret', 'server')");
    let mut pgrst = connect_as(&cluster, "lonely");
    assert_eq!(
        request(&mut pgrst, "anon", &json!({"apikey": sk})),
        Err("PT401: the api key's role cannot be reached (GRANT service_role TO lonely)".into())
    );
    admin.batch_execute("GRANT service_role TO lonely").unwrap();
    assert_eq!(
        request(&mut pgrst, "anon", &json!({"apikey": sk})),
        ok("service_role", "alice,bob,nobody")
    );
}

#[test]
fn a_token_minted_from_a_key_dies_with_the_key_in_every_session_and_on_a_standby() {
    let primary = Cluster::start_with_conf("postgrest-roles-minted", CONF);
    let mut admin = primary.connect_with_extension();
    admin.batch_execute(SETUP).unwrap();
    rotate_in_new_key(&mut admin);
    let key = text(
        &mut admin,
        "SELECT auth.create_api_key('secret', 'realtime')",
    );
    let replica = primary.replica();

    // Minted by a session that holds nothing but the key.
    admin.batch_execute("CREATE ROLE nobody LOGIN").unwrap();
    let mut nobody = connect_as(&primary, "nobody");
    let token = text(
        &mut nobody,
        &format!("SELECT auth.api_key_token('{key}', '10 minutes')"),
    );
    let e = nobody
        .query_one(
            &format!("SELECT auth.api_key_token('{key}', '2 hours')"),
            &[],
        )
        .unwrap_err();
    assert!(db_error(&e).starts_with("22023:"), "{}", db_error(&e));

    // Verified in another session, twice (the second from its token cache), and on the standby.
    let mut other = primary.connect();
    assert_eq!(check_jwt(&mut other, &token), Ok(()));
    assert_eq!(check_jwt(&mut other, &token), Ok(()));
    let role = text(
        &mut other,
        &format!("SELECT auth.verify_jwt('{token}') ->> 'role'"),
    );
    assert_eq!(role, "service_role");
    primary.wait_for_replica(&replica);
    let mut standby = replica.connect();
    assert_eq!(check_jwt(&mut standby, &token), Ok(()));
    assert_eq!(check_jwt(&mut standby, &token), Ok(()));
    // PostgREST accepts it as a bearer token while the key lives.
    let mut pgrst = connect_as(&primary, "authenticator");
    let headers = json!({"apikey": key, "authorization": format!("Bearer {token}")});
    assert_eq!(
        request(&mut pgrst, "service_role", &headers),
        ok("service_role", "alice,bob,nobody")
    );

    revoke_api_key_by_name(&mut admin, "realtime");
    let refused = Err("28000: the token's api key is revoked or unknown".to_string());
    assert_eq!(check_jwt(&mut other, &token), refused);
    primary.wait_for_replica(&replica);
    assert_eq!(check_jwt(&mut standby, &token), refused);
    // A PostgREST request that carries it with another live key is refused too.
    let pk = text(
        &mut admin,
        "SELECT auth.create_api_key('publishable', 'web')",
    );
    let headers = json!({"apikey": pk, "authorization": format!("Bearer {token}")});
    let answer = request(&mut pgrst, "service_role", &headers).unwrap_err();
    assert!(answer.starts_with("PT401: invalid jwt"), "{answer}");

    // Deleted: still refused (the id is unknown now).
    admin
        .batch_execute("SELECT auth.delete_api_key(id) FROM auth.api_keys WHERE name = 'realtime'")
        .unwrap();
    assert_eq!(check_jwt(&mut other, &token), refused);
}
