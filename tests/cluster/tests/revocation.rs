//! The revocation guarantee (contract §3), across sessions, restarts and a hot standby:
//! once a revoking transaction commits, the next statement of every session refuses the key's
//! tokens; a rolled-back revocation changes nothing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use pg_auth_keys_cluster_tests::keys::{
    alice_in_repeatable_read, key_state, opt_text, revoke, rotate_in_new_key, sign, verifies, ALICE,
};
use pg_auth_keys_cluster_tests::{text, Cluster};

/// Rotation needs no waiting for JWKS caches in these tests.
const CONF: &[&str] = &["auth.jwks_cache_ttl = 0"];

#[test]
fn revocation_reaches_an_open_transaction_of_another_session() {
    let cluster = Cluster::start_with_conf("revoke-open-xact", CONF);
    let mut admin = cluster.connect_with_extension();
    let old = rotate_in_new_key(&mut admin);
    let token = sign(&mut admin, ALICE);

    let mut user = alice_in_repeatable_read(&cluster, &token);

    rotate_in_new_key(&mut admin);
    revoke(&mut admin, &old);

    // Same transaction, next statement: the bound claims are gone, the token is refused.
    assert_eq!(opt_text(&mut user, "SELECT auth.claims()::text"), None);
    assert!(!verifies(&mut user, &token));
    let err = user
        .query_one(&format!("SELECT auth.verify_jwt('{token}')"), &[])
        .expect_err("a revoked key's token verified");
    let err = err.as_db_error().expect("a database error");
    assert_eq!(err.code().code(), "28000");
    assert_eq!(err.message(), "key revoked");
    user.batch_execute("ROLLBACK").unwrap();
}

#[test]
fn rolled_back_revocation_changes_nothing() {
    let cluster = Cluster::start_with_conf("revoke-rollback", CONF);
    let mut admin = cluster.connect_with_extension();
    let old = rotate_in_new_key(&mut admin);
    let token = sign(&mut admin, ALICE);
    rotate_in_new_key(&mut admin);
    let mut user = cluster.connect();
    assert!(verifies(&mut user, &token));

    admin.batch_execute("BEGIN").unwrap();
    revoke(&mut admin, &old);
    // Inside the revoking transaction the key is revoked; nobody else sees it yet.
    assert!(!verifies(&mut admin, &token));
    assert!(verifies(&mut user, &token));
    admin.batch_execute("ROLLBACK").unwrap();

    assert!(verifies(&mut user, &token));
    assert!(verifies(&mut admin, &token));
    assert_eq!(
        key_state(&mut admin, &old).as_deref(),
        Some("previously_used")
    );
}

#[test]
fn uncommitted_new_key_is_not_trusted_by_other_sessions() {
    let cluster = Cluster::start_with_conf("uncommitted-key", CONF);
    let mut admin = cluster.connect_with_extension();
    rotate_in_new_key(&mut admin);
    let mut user = cluster.connect();
    admin.batch_execute("BEGIN").unwrap();
    let kid = rotate_in_new_key(&mut admin);
    let token = sign(&mut admin, ALICE);
    assert!(
        verifies(&mut admin, &token),
        "the changing transaction sees its own key"
    );
    assert!(
        !verifies(&mut user, &token),
        "another session trusted an uncommitted key"
    );
    admin.batch_execute("ROLLBACK").unwrap();
    assert!(!verifies(&mut user, &token));
    assert_eq!(key_state(&mut admin, &kid), None);
}

#[test]
fn four_verifiers_during_twenty_rotations_and_a_revocation() {
    let cluster = Cluster::start_with_conf("concurrent-rotation", CONF);
    let mut admin = cluster.connect_with_extension();
    let first = rotate_in_new_key(&mut admin);
    let first_token = sign(&mut admin, ALICE);
    let stop = Arc::new(AtomicBool::new(false));
    // Set before the revoking statement is sent, and after its commit returned.
    let revoke_started = Arc::new(AtomicBool::new(false));
    let revoke_committed = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicUsize::new(0));

    let verifiers: Vec<_> = (0..4)
        .map(|_| {
            let mut client = cluster.connect();
            let token = first_token.clone();
            let (stop, started, committed, checks) = (
                stop.clone(),
                revoke_started.clone(),
                revoke_committed.clone(),
                checks.clone(),
            );
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let committed_before = committed.load(Ordering::Acquire);
                    let ok = verifies(&mut client, &token);
                    let started_after = started.load(Ordering::Acquire);
                    if committed_before {
                        assert!(!ok, "a revoked key's token was accepted after the commit");
                    } else if !started_after {
                        assert!(ok, "a trusted key's token was refused");
                    }
                    checks.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let mut tokens = Vec::new();
    for _ in 0..20 {
        rotate_in_new_key(&mut admin);
        tokens.push(sign(&mut admin, ALICE));
    }
    revoke_started.store(true, Ordering::Release);
    revoke(&mut admin, &first);
    revoke_committed.store(true, Ordering::Release);
    thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, Ordering::Release);
    for v in verifiers {
        v.join().expect("a verifier failed");
    }
    assert!(
        checks.load(Ordering::Relaxed) > 20,
        "the verifiers barely ran"
    );
    let mut user = cluster.connect();
    for token in &tokens {
        assert!(
            verifies(&mut user, token),
            "a token of a trusted key was refused"
        );
    }
    assert!(!verifies(&mut user, &first_token));
}

#[test]
fn restart_keeps_every_key_state() {
    let mut cluster = Cluster::start_with_conf("restart", CONF);
    let mut admin = cluster.connect_with_extension();
    let old = rotate_in_new_key(&mut admin);
    let old_token = sign(&mut admin, ALICE);
    rotate_in_new_key(&mut admin);
    let new_token = sign(&mut admin, ALICE);
    revoke(&mut admin, &old);
    let before = text(
        &mut admin,
        "SELECT string_agg(kid || state, ',' ORDER BY kid) FROM auth.keys",
    );
    drop(admin);

    cluster.restart();
    let mut admin = cluster.connect();
    let after = text(
        &mut admin,
        "SELECT string_agg(kid || state, ',' ORDER BY kid) FROM auth.keys",
    );
    assert_eq!(before, after);
    assert!(verifies(&mut admin, &new_token));
    assert!(!verifies(&mut admin, &old_token));
}

#[test]
fn hot_standby_sees_revocation_once_replayed() {
    let primary = Cluster::start_with_conf("standby-revoke", CONF);
    let mut admin = primary.connect_with_extension();
    let old = rotate_in_new_key(&mut admin);
    let token = sign(&mut admin, ALICE);
    rotate_in_new_key(&mut admin);
    let replica = primary.replica();
    primary.wait_for_replica(&replica);

    // A session that verified before the revocation, and one that starts after it.
    let mut early = replica.connect();
    assert!(
        verifies(&mut early, &token),
        "the standby refused a trusted key's token"
    );
    assert_eq!(text(&mut early, "SELECT pg_is_in_recovery()::text"), "true");

    revoke(&mut admin, &old);
    primary.wait_for_replica(&replica);

    assert!(
        !verifies(&mut early, &token),
        "the standby still trusts a revoked key"
    );
    let mut late = replica.connect();
    assert!(!verifies(&mut late, &token));
    let fresh = sign(&mut admin, ALICE);
    primary.wait_for_replica(&replica);
    assert!(verifies(&mut late, &fresh));
}
