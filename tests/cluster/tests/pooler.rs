//! A real pgbouncer in front of the server, with one server connection that its clients take
//! turns on: no client ever sees the previous client's identity, and a revocation reaches a
//! pooled connection at its next statement.
//!
//! Every statement through the pooler uses the simple query protocol, which pgbouncer passes on
//! in any pool mode (named prepared statements do not survive transaction pooling).

use pg_auth_keys_cluster_tests::keys::{revoke, KeyFixture, ALICE};
use pg_auth_keys_cluster_tests::{simple_opt_text, Client, Pgbouncer, PoolMode};

const CONF: &[&str] = &["auth.jwks_cache_ttl = 0"];

fn backend_pid(client: &mut Client) -> String {
    simple_opt_text(client, "SELECT pg_backend_pid()").expect("a backend pid")
}

fn uid(client: &mut Client) -> Option<String> {
    simple_opt_text(client, "SELECT auth.uid()")
}

/// `client` is on the server connection `pid` and has no identity.
fn assert_anonymous_on(client: &mut Client, pid: &str) {
    assert_eq!(
        backend_pid(client),
        pid,
        "the pool did not reuse the server connection"
    );
    assert_eq!(
        (uid(client), simple_opt_text(client, "SELECT auth.claims()")),
        (None, None),
        "the next client of the server connection got the previous client's identity"
    );
}

#[test]
fn session_pooling_hands_no_identity_to_the_next_client() {
    let KeyFixture { cluster, token, .. } = KeyFixture::start("pooler-session", CONF);
    let bouncer = Pgbouncer::start(&cluster, PoolMode::Session);

    let mut first = bouncer.connect();
    simple_opt_text(
        &mut first,
        &format!("SELECT auth.authenticate('{token}', false)"),
    );
    assert_eq!(uid(&mut first).as_deref(), Some(ALICE));
    let pid = backend_pid(&mut first);
    drop(first);

    // pgbouncer runs DISCARD ALL, then gives the same server connection to the next client.
    assert_anonymous_on(&mut bouncer.connect(), &pid);
}

#[test]
fn transaction_pooling_hands_no_identity_to_the_next_client() {
    let KeyFixture { cluster, token, .. } = KeyFixture::start("pooler-transaction", CONF);
    let bouncer = Pgbouncer::start(&cluster, PoolMode::Transaction);

    let mut first = bouncer.connect();
    let mut second = bouncer.connect();
    first.batch_execute("BEGIN").unwrap();
    let pid = backend_pid(&mut first);
    simple_opt_text(
        &mut first,
        &format!("SELECT auth.authenticate('{token}', true)"),
    );
    assert_eq!(uid(&mut first).as_deref(), Some(ALICE));
    first.batch_execute("COMMIT").unwrap();

    // Between transactions the server connection goes to whichever client asks next.
    second.batch_execute("BEGIN").unwrap();
    assert_anonymous_on(&mut second, &pid);
    second.batch_execute("COMMIT").unwrap();
    assert_eq!(uid(&mut first), None);
}

#[test]
fn revocation_reaches_a_pooled_connection_at_its_next_statement() {
    let KeyFixture {
        mut admin,
        cluster,
        kid,
        token,
        ..
    } = KeyFixture::start("pooler-revoke", CONF);
    let bouncer = Pgbouncer::start(&cluster, PoolMode::Session);
    let verify = format!("SELECT auth.try_verify_jwt('{token}') ->> 'sub'");

    let mut client = bouncer.connect();
    assert_eq!(
        simple_opt_text(&mut client, &verify).as_deref(),
        Some(ALICE)
    );
    let pid = backend_pid(&mut client);

    revoke(&mut admin, &kid);
    assert_eq!(
        simple_opt_text(&mut client, &verify),
        None,
        "the pooled connection still accepts a revoked key"
    );
    let err = client
        .simple_query(&format!("SELECT auth.verify_jwt('{token}')"))
        .expect_err("a revoked key's token verified");
    assert_eq!(err.as_db_error().map(|e| e.code().code()), Some("28000"));
    drop(client);

    let mut next = bouncer.connect();
    assert_eq!(backend_pid(&mut next), pid);
    assert_eq!(simple_opt_text(&mut next, &verify), None);
}
