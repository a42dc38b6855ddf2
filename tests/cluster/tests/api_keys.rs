//! API keys and the PostgREST hooks across sessions (contract §4, §5): revocation is instant for
//! every session, including an open transaction and a hot standby; a committed signing-key
//! change sends `NOTIFY pgrst, 'reload config'`, a rolled-back one does not.

use std::time::Duration;

use pg_auth_keys_cluster_tests::keys::{check_api_key, revoke_api_key_by_name};
use pg_auth_keys_cluster_tests::{text, Client, Cluster};
use postgres::fallible_iterator::FallibleIterator;

const CONF: &[&str] = &["auth.jwks_cache_ttl = 0"];

#[test]
fn revoking_an_api_key_reaches_an_open_transaction_of_another_session() {
    let cluster = Cluster::start_with_conf("apikey-revoke", CONF);
    let mut admin = cluster.connect_with_extension();
    let key = text(&mut admin, "SELECT auth.create_api_key('secret', 'worker')");
    let other = text(&mut admin, "SELECT auth.create_api_key('secret', 'other')");

    let mut user = cluster.connect();
    user.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    assert_eq!(check_api_key(&mut user, &key), Ok("secret".into()));

    // A rolled-back revocation changes nothing.
    admin.batch_execute("BEGIN").unwrap();
    revoke_api_key_by_name(&mut admin, "worker");
    admin.batch_execute("ROLLBACK").unwrap();
    assert_eq!(check_api_key(&mut user, &key), Ok("secret".into()));

    revoke_api_key_by_name(&mut admin, "worker");
    user.batch_execute("SAVEPOINT refused").unwrap();
    assert_eq!(
        check_api_key(&mut user, &key),
        Err("28000: api key revoked".into()),
        "the open transaction still accepts a revoked key"
    );
    user.batch_execute("ROLLBACK TO SAVEPOINT refused").unwrap();
    assert_eq!(check_api_key(&mut user, &other), Ok("secret".into()));
    user.batch_execute("COMMIT").unwrap();

    // Deleted: unknown to every session, and the counters saw it all.
    admin
        .execute(
            "SELECT auth.delete_api_key(id) FROM auth.api_keys WHERE name = 'worker'",
            &[],
        )
        .unwrap();
    assert_eq!(
        check_api_key(&mut cluster.connect(), &key),
        Err("28000: unknown api key".into())
    );
    let failed: i64 = admin
        .query_one("SELECT (auth.stats() ->> 'api_key_failed')::bigint", &[])
        .unwrap()
        .get(0);
    assert!(failed >= 2, "api_key_failed = {failed}");
}

/// Notifications that arrive on `listener` within `wait`.
fn notifications(listener: &mut Client, wait: Duration) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut n = listener.notifications();
    let mut it = n.timeout_iter(wait);
    while let Ok(Some(note)) = it.next() {
        out.push((note.channel().to_string(), note.payload().to_string()));
    }
    out
}

#[test]
fn committed_key_changes_notify_postgrest_and_rolled_back_ones_do_not() {
    let cluster = Cluster::start_with_conf("apikey-notify", CONF);
    let mut admin = cluster.connect_with_extension();
    let mut listener = cluster.connect();
    listener.batch_execute("LISTEN pgrst").unwrap();
    let reload = ("pgrst".to_string(), "reload config".to_string());

    admin
        .batch_execute("BEGIN; SELECT auth.create_key(); ROLLBACK")
        .unwrap();
    assert_eq!(notifications(&mut listener, Duration::from_millis(500)), []);

    text(&mut admin, "SELECT auth.create_key()");
    assert_eq!(
        notifications(&mut listener, Duration::from_secs(5)),
        std::slice::from_ref(&reload)
    );

    // One notification per transaction, however many changes it makes.
    admin
        .batch_execute("BEGIN; SELECT auth.create_key(); SELECT auth.rotate_key(); COMMIT")
        .unwrap();
    assert_eq!(
        notifications(&mut listener, Duration::from_secs(5)),
        std::slice::from_ref(&reload)
    );

    // API keys do not change what PostgREST verifies JWTs with.
    text(
        &mut admin,
        "SELECT auth.create_api_key('publishable', 'web')",
    );
    assert_eq!(notifications(&mut listener, Duration::from_millis(500)), []);

    // db-pre-config publishes the key set PostgREST reloads.
    let mut authenticator = cluster.connect();
    authenticator
        .batch_execute("BEGIN; SELECT auth.postgrest_pre_config()")
        .unwrap();
    let published = text(
        &mut authenticator,
        "SELECT (current_setting('pgrst.jwt_secret')::jsonb = auth.jwks())::text",
    );
    assert_eq!(published, "true");
}

#[test]
fn hot_standby_refuses_a_revoked_api_key_once_replayed() {
    let primary = Cluster::start_with_conf("apikey-standby", CONF);
    let mut admin = primary.connect_with_extension();
    // pre_request switches a key-only request to the key's role, which must exist.
    admin.batch_execute("CREATE ROLE anon NOLOGIN").unwrap();
    let key = text(
        &mut admin,
        "SELECT auth.create_api_key('publishable', 'web')",
    );
    let replica = primary.replica();
    primary.wait_for_replica(&replica);

    let mut early = replica.connect();
    assert_eq!(check_api_key(&mut early, &key), Ok("publishable".into()));

    revoke_api_key_by_name(&mut admin, "web");
    primary.wait_for_replica(&replica);
    assert_eq!(
        check_api_key(&mut early, &key),
        Err("28000: api key revoked".into()),
        "the standby still accepts a revoked api key"
    );
    assert_eq!(
        check_api_key(&mut replica.connect(), &key),
        Err("28000: api key revoked".into())
    );

    // pre_request works read-only on the standby.
    let fresh = text(
        &mut admin,
        "SELECT auth.create_api_key('publishable', 'fresh')",
    );
    primary.wait_for_replica(&replica);
    let mut request = replica.connect();
    request
        .batch_execute(&format!(
            "BEGIN READ ONLY; SELECT set_config('request.headers', '{{\"apikey\":\"{fresh}\"}}', true); SELECT auth.pre_request(); COMMIT"
        ))
        .expect("pre_request on the standby");
}

/// Keys are found by hash among many (core's ApiKeyIndex): each real key verifies as itself, a
/// revoked one is refused as revoked, an unknown one as unknown, and `auth.stats()` reports how
/// many keys this session holds and their bytes, within the documented bound per key.
#[test]
fn many_stored_keys_are_found_by_hash_and_reported_in_stats() {
    let cluster = Cluster::start_with_conf("apikey-many", CONF);
    let mut admin = cluster.connect_with_extension();
    // 20,000 stored keys no presented key matches, beside the real ones.
    admin
        .batch_execute(
            "INSERT INTO auth_private._api_keys (kind, name, prefix, role, key_hash)
             SELECT 'publishable', 'filler ' || g, 'sb_publishable_fill', 'anon',
                    sha256(('filler-' || g)::bytea)
             FROM generate_series(1, 20000) g",
        )
        .unwrap();
    let web = text(
        &mut admin,
        "SELECT auth.create_api_key('publishable', 'web')",
    );
    let server = text(&mut admin, "SELECT auth.create_api_key('secret', 'server')");
    let gone = text(&mut admin, "SELECT auth.create_api_key('secret', 'gone')");
    revoke_api_key_by_name(&mut admin, "gone");
    let unknown = text(
        &mut admin,
        "SELECT key FROM auth_private._new_api_key('secret')",
    );

    let mut user = cluster.connect();
    assert_eq!(check_api_key(&mut user, &web), Ok("publishable".into()));
    assert_eq!(check_api_key(&mut user, &server), Ok("secret".into()));
    assert_eq!(
        check_api_key(&mut user, &gone),
        Err("28000: api key revoked".into())
    );
    assert_eq!(
        check_api_key(&mut user, &unknown),
        Err("28000: unknown api key".into())
    );
    let row = user
        .query_one(
            "SELECT (s ->> 'api_keys')::bigint, (s ->> 'api_key_bytes')::bigint FROM auth.stats() s",
            &[],
        )
        .unwrap();
    let (keys, bytes): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(keys, 20_003);
    // Names here are at most 14 bytes: about 150 bytes per key plus the name (README, Limits).
    assert!(
        bytes > keys * 100 && bytes < keys * (200 + 14),
        "{bytes} bytes for {keys} keys"
    );
}
