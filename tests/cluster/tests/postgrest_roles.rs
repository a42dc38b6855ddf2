//! API keys grant their role through PostgREST's own hook (issue #20): each request is the
//! transaction PostgREST 12 runs on its pooled connection as `authenticator` (LOGIN NOINHERIT,
//! granted the request roles): `BEGIN`, `SET LOCAL ROLE <anon or the JWT's role>`, the
//! transaction-local request settings, `SELECT auth.pre_request()`, then the request's query on
//! a table under Row Level Security.

use pg_auth_keys_cluster_tests::keys::{db_error, revoke_api_key_by_name, sign, ALICE};
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
        let row = tx.query_one(QUERY, &[])?;
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
    pg_auth_keys_cluster_tests::keys::rotate_in_new_key(&mut admin);
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

    // Revoked: the next request of the same pooled connection is refused.
    revoke_api_key_by_name(&mut admin, "server");
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
