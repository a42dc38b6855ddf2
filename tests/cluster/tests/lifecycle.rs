//! The key lifecycle across sessions: concurrent rotations serialize, and without
//! `shared_preload_libraries` every function that needs the shared key set refuses.

use std::thread;
use std::time::Duration;

use pg_auth_keys_cluster_tests::Cluster;

#[test]
fn concurrent_rotations_serialize_and_leave_one_key_in_use() {
    let cluster = Cluster::start_with_conf("rotate-race", &["auth.jwks_cache_ttl = 0"]);
    let mut first = cluster.connect();
    first
        .batch_execute("CREATE EXTENSION pg_auth_keys")
        .unwrap();
    let a: String = first
        .query_one("SELECT auth.create_key()", &[])
        .unwrap()
        .get(0);
    let b: String = first
        .query_one("SELECT auth.create_key()", &[])
        .unwrap()
        .get(0);

    first.batch_execute("BEGIN").unwrap();
    first
        .execute("SELECT auth.rotate_key($1)", &[&a])
        .expect("first rotation");
    // The second session's rotation must wait for the first transaction.
    let mut second = cluster.connect();
    let b2 = b.clone();
    let racer = thread::spawn(move || {
        let kid: String = second
            .query_one("SELECT auth.rotate_key($1)", &[&b2])
            .expect("second rotation")
            .get(0);
        kid
    });
    thread::sleep(Duration::from_millis(500));
    assert!(
        !racer.is_finished(),
        "the second rotation did not wait for the first"
    );
    let waiting: i64 = first
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND query LIKE '%rotate_key%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(waiting, 1);
    first.batch_execute("COMMIT").unwrap();
    assert_eq!(racer.join().expect("racer"), b);

    let states: String = first
        .query_one(
            "SELECT string_agg(CASE kid WHEN $1 THEN 'a' ELSE 'b' END || '=' || state, ',' \
             ORDER BY CASE kid WHEN $1 THEN 'a' ELSE 'b' END) FROM auth.keys",
            &[&a],
        )
        .unwrap()
        .get(0);
    assert_eq!(states, "a=previously_used,b=in_use");
}

#[test]
fn without_preload_functions_refuse_with_55000() {
    let cluster = Cluster::start_with_conf("no-preload", &["shared_preload_libraries = ''"]);
    let mut client = cluster.connect();
    client
        .batch_execute("CREATE EXTENSION pg_auth_keys")
        .unwrap();
    for sql in [
        "SELECT auth.verify_jwt('a.b.c')",
        "SELECT auth.try_verify_jwt('a.b.c')",
        "SELECT auth.claims()",
        "SELECT auth.uid()",
        "SELECT auth.create_key()",
        "SELECT auth.stats()",
    ] {
        let err = client.query_one(sql, &[]).expect_err(sql);
        let db = err.as_db_error().expect("a database error");
        assert_eq!(db.code().code(), "55000", "{sql}: {}", db.message());
        assert!(
            db.hint().unwrap_or("").contains("shared_preload_libraries"),
            "{sql}: hint {:?}",
            db.hint()
        );
    }
    // Nothing was written by the refused create_key.
    let keys: i64 = client
        .query_one("SELECT count(*) FROM auth.keys", &[])
        .unwrap()
        .get(0);
    assert_eq!(keys, 0);
}
