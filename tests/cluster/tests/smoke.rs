//! Smoke tests of the installed extension and of the `Cluster` helper itself.

use pg_auth_keys_cluster_tests::Cluster;

/// The `[package]` version of the extension's Cargo.toml, i.e. the version a fresh
/// `make install` installs. `None` if it is not a literal (e.g. `version.workspace = true`).
fn extension_crate_version() -> Option<&'static str> {
    let manifest = include_str!("../../../Cargo.toml");
    let package = manifest.split("[package]").nth(1)?;
    let line = package
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .find(|l| l.trim_start().starts_with("version") && l.contains('"'))?;
    line.split('"').nth(1)
}

fn extversion(client: &mut postgres::Client) -> String {
    client
        .query_one(
            "SELECT extversion FROM pg_extension WHERE extname = 'pg_auth_keys'",
            &[],
        )
        .expect("pg_auth_keys is not created")
        .get(0)
}

fn version(client: &mut postgres::Client) -> String {
    client
        .query_one("SELECT auth.version()", &[])
        .expect("auth.version()")
        .get(0)
}

#[test]
fn version_matches_extversion_in_two_sessions() {
    let cluster = Cluster::start("version");
    let mut first = cluster.connect();
    first
        .batch_execute("CREATE EXTENSION pg_auth_keys")
        .expect("CREATE EXTENSION");
    let installed = extversion(&mut first);
    assert_eq!(version(&mut first), installed);
    if let Some(built) = extension_crate_version() {
        assert_eq!(
            installed, built,
            "the installed extension is not the one in this tree: run make install-debug"
        );
    }

    let mut second = cluster.connect();
    assert_eq!(version(&mut second), installed);
    assert_eq!(extversion(&mut second), installed);
}

#[test]
fn replica_has_extension_after_basebackup() {
    let primary = Cluster::start("replica");
    primary
        .connect()
        .batch_execute("CREATE EXTENSION pg_auth_keys")
        .expect("CREATE EXTENSION");
    let installed = extversion(&mut primary.connect());

    let replica = primary.replica();
    let mut r = replica.connect();
    let in_recovery: bool = r
        .query_one("SELECT pg_is_in_recovery()", &[])
        .unwrap()
        .get(0);
    assert!(in_recovery, "the replica is not a standby");
    assert_eq!(extversion(&mut r), installed);

    // Read-only use works on the standby, and writing is refused there.
    r.batch_execute("BEGIN READ ONLY").unwrap();
    assert_eq!(version(&mut r), installed);
    r.batch_execute("COMMIT").unwrap();
    let err = r
        .batch_execute("CREATE TABLE must_fail (x int)")
        .expect_err("a standby accepted a write");
    assert_eq!(
        err.code(),
        Some(&postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION)
    );

    // Changes made on the primary afterwards arrive.
    primary
        .connect()
        .batch_execute("CREATE TABLE after_backup (x int); INSERT INTO after_backup VALUES (42)")
        .unwrap();
    primary.wait_for_replica(&replica);
    let x: i32 = r
        .query_one("SELECT x FROM after_backup", &[])
        .unwrap()
        .get(0);
    assert_eq!(x, 42);
}

#[test]
fn survives_restart_and_crashes() {
    let mut cluster = Cluster::start("crash");
    cluster
        .connect()
        .batch_execute("CREATE EXTENSION pg_auth_keys")
        .expect("CREATE EXTENSION");
    let installed = extversion(&mut cluster.connect());

    cluster.restart();
    assert_eq!(version(&mut cluster.connect()), installed);

    // The postmaster dies: crash recovery on the next start re-runs the preload and rebuilds
    // shared memory from scratch.
    let old_pid = cluster.postmaster_pid();
    cluster.kill9();
    cluster.start_again();
    assert_ne!(cluster.postmaster_pid(), old_pid);
    assert_eq!(version(&mut cluster.connect()), installed);

    // A backend dies: the postmaster resets shared memory while staying up (pgrx#1223 was
    // an LWLock that broke exactly this).
    let mut victim = cluster.connect();
    let backend: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let postmaster = cluster.postmaster_pid();
    cluster.kill9_backend(backend);
    assert!(
        victim.simple_query("SELECT 1").is_err(),
        "the killed session still works"
    );
    assert_eq!(cluster.postmaster_pid(), postmaster);
    assert_eq!(version(&mut cluster.connect()), installed);
    assert!(
        cluster.log().contains("terminated by signal 9"),
        "no crash restart in the log"
    );
}
