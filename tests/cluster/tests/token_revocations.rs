//! Token revocations (contract §5a) across sessions, a hot standby, a crash, a pooler, many
//! clients and an independent token issuer: once `auth.revoke_tokens`, `revoke_session`,
//! `revoke_token` or `sign_out` commits, the next statement of every session refuses the tokens
//! it names; a rolled-back revocation changes nothing; a purge never brings one back.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pg_auth_keys_cluster_tests::keys::{
    alice_in_repeatable_read, assert_parallel_plan, begin_parallel_repeatable_read, check_jwt,
    count_verified, create_count_table, end_parallel_repeatable_read, opt_text, parallel_session,
    rotate_in_new_key, verifies, ALICE,
};
use pg_auth_keys_cluster_tests::pyjwt::{run_python, scratch};
use pg_auth_keys_cluster_tests::{simple_opt_text, text, Client, Cluster, Pgbouncer, PoolMode};

const CONF: &[&str] = &["auth.jwks_cache_ttl = 0"];

/// A cluster with a key in use.
fn start(name: &str, conf: &[&str]) -> (Cluster, Client) {
    let cluster = Cluster::start_with_conf(name, conf);
    let mut admin = cluster.connect_with_extension();
    rotate_in_new_key(&mut admin);
    (cluster, admin)
}

/// A token for `sub` issued `ago` seconds before now (negative: after), valid for `lifetime`.
fn token_at(admin: &mut Client, sub: &str, ago: i64, lifetime: i64) -> String {
    text(
        admin,
        &format!(
            "SELECT auth.sign_jwt(jsonb_build_object('sub', '{sub}', 'role', 'authenticated',
                 'iat', floor(extract(epoch FROM now()))::bigint - {ago},
                 'exp', floor(extract(epoch FROM now()))::bigint - {ago} + {lifetime}))"
        ),
    )
}

fn revoke_tokens(admin: &mut Client, sub: &str) {
    admin
        .execute("SELECT auth.revoke_tokens($1)", &[&sub])
        .unwrap_or_else(|e| panic!("revoke_tokens({sub}): {e:?}"));
}

#[test]
fn revocation_reaches_an_open_repeatable_read_transaction_and_rollback_changes_nothing() {
    let (cluster, mut admin) = start("tokrev-open-xact", CONF);
    let token = token_at(&mut admin, ALICE, 10, 3600);

    let mut user = alice_in_repeatable_read(&cluster, &token);

    // Rolled back: nothing changes.
    admin.batch_execute("BEGIN").unwrap();
    revoke_tokens(&mut admin, ALICE);
    admin.batch_execute("ROLLBACK").unwrap();
    assert_eq!(
        opt_text(&mut user, "SELECT auth.uid()::text").as_deref(),
        Some(ALICE)
    );
    assert!(verifies(&mut user, &token));

    // Committed: the same transaction's next statement refuses the bound token.
    revoke_tokens(&mut admin, ALICE);
    assert_eq!(opt_text(&mut user, "SELECT auth.claims()::text"), None);
    assert_eq!(
        check_jwt(&mut user, &token),
        Err("28000: token revoked".to_string())
    );
    user.batch_execute("ROLLBACK").unwrap();

    // A token issued after the cut-off verifies at once (iat in the next second).
    let again = token_at(&mut admin, ALICE, -1, 3600);
    assert!(verifies(&mut user, &again));
}

#[test]
fn sign_out_in_one_session_refuses_the_token_in_another_and_on_a_standby() {
    let (primary, mut admin) = start("tokrev-standby", CONF);
    let replica = primary.replica();
    let token = token_at(&mut admin, ALICE, 10, 3600);
    let session = text(
        &mut admin,
        "SELECT auth.sign_jwt('{\"sub\":\"bob\",\"role\":\"authenticated\",\"session_id\":\"s-1\"}')",
    );
    primary.wait_for_replica(&replica);
    let mut on_replica = replica.connect();
    let mut other = primary.connect();
    assert!(verifies(&mut on_replica, &token));
    assert!(verifies(&mut on_replica, &session));
    assert!(verifies(&mut other, &token));

    // Alice signs out, as herself: one SQL call under a role that is not an administrator.
    let mut app = primary.connect();
    app.batch_execute("CREATE ROLE app_user; GRANT app_user TO CURRENT_USER; SET ROLE app_user")
        .unwrap();
    app.batch_execute(&format!(
        "BEGIN; SELECT auth.authenticate('{token}'); SELECT auth.sign_out(); COMMIT"
    ))
    .unwrap();
    assert!(!verifies(&mut other, &token));
    admin
        .execute("SELECT auth.revoke_session('s-1')", &[])
        .unwrap();

    primary.wait_for_replica(&replica);
    assert!(
        !verifies(&mut on_replica, &token),
        "the standby accepts a signed-out token"
    );
    assert!(
        !verifies(&mut on_replica, &session),
        "the standby accepts a revoked session"
    );
    assert_eq!(
        check_jwt(&mut on_replica, &token),
        Err("28000: token revoked".to_string())
    );
}

#[test]
fn a_crash_between_revoke_and_purge_keeps_refusing() {
    let (mut cluster, mut admin) = start("tokrev-crash", CONF);
    let token = token_at(&mut admin, ALICE, 10, 3600);
    let by_hash = token_at(&mut admin, "carol", 10, 3600);
    revoke_tokens(&mut admin, ALICE);
    admin
        .execute("SELECT auth.revoke_token($1)", &[&by_hash])
        .unwrap();
    drop(admin);
    cluster.kill9();
    cluster.start_again();

    let mut user = cluster.connect();
    assert!(!verifies(&mut user, &token));
    assert!(!verifies(&mut user, &by_hash));
    // The next revocation purges (nothing has expired): still refused.
    let mut admin = cluster.connect();
    revoke_tokens(&mut admin, "someone-else");
    assert!(!verifies(&mut user, &token));
    assert!(!verifies(&mut user, &by_hash));
    assert_eq!(
        opt_text(
            &mut admin,
            "SELECT count(*)::text FROM auth.token_revocations"
        )
        .as_deref(),
        Some("3")
    );
}

#[test]
fn a_purge_never_makes_a_revoked_token_valid_again() {
    // Entries are kept max_token_lifetime (3 s) + 2 * leeway (0) after their cut-off.
    let (cluster, mut admin) = start(
        "tokrev-purge",
        &[
            "auth.jwks_cache_ttl = 0",
            "auth.max_token_lifetime = 3",
            "auth.leeway = 0",
        ],
    );
    let token = token_at(&mut admin, ALICE, 0, 3);
    let mut user = cluster.connect();
    assert!(verifies(&mut user, &token));
    revoke_tokens(&mut admin, ALICE);
    let too_long = token_at(&mut admin, "dave", 0, 4);
    assert_eq!(
        check_jwt(&mut user, &too_long),
        Err("28000: lifetime too long".to_string())
    );

    // Every 100 ms another revocation purges what expired; the token is never accepted again,
    // and the entry goes once it can match no valid token.
    let started = Instant::now();
    let mut purged = None;
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(6) {
        admin
            .execute("SELECT auth.revoke_session($1)", &[&format!("tick-{i}")])
            .unwrap();
        i += 1;
        assert!(
            !verifies(&mut user, &token),
            "a revoked token verified again after {:?}",
            started.elapsed()
        );
        let left = opt_text(
            &mut admin,
            &format!("SELECT count(*)::text FROM auth.token_revocations WHERE subject = '{ALICE}'"),
        );
        if purged.is_none() && left.as_deref() == Some("0") {
            purged = Some(started.elapsed());
            let reason = check_jwt(&mut user, &token).unwrap_err();
            assert_eq!(reason, "28000: expired", "purged before the token expired");
            // A session that reads the table in full, without the entry, refuses it too.
            let mut fresh = cluster.connect();
            assert!(!verifies(&mut fresh, &token), "a new session accepts it");
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(purged.is_some(), "the entry was never purged");
}

#[test]
fn a_pooled_connection_refuses_at_its_next_statement() {
    let (cluster, mut admin) = start("tokrev-pooler", CONF);
    let token = token_at(&mut admin, ALICE, 10, 3600);
    let bouncer = Pgbouncer::start(&cluster, PoolMode::Transaction);
    let verify = format!("SELECT auth.try_verify_jwt('{token}') ->> 'sub'");
    let mut client = bouncer.connect();
    assert_eq!(
        simple_opt_text(&mut client, &verify).as_deref(),
        Some(ALICE)
    );
    revoke_tokens(&mut admin, ALICE);
    assert_eq!(simple_opt_text(&mut client, &verify), None);
    let mut next = bouncer.connect();
    assert_eq!(simple_opt_text(&mut next, &verify), None);
}

#[test]
fn pyjwt_tokens_with_session_id_and_jti_are_revoked_through_sql() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = serde_json::json!([
        {"sub": "u1", "role": "authenticated", "session_id": "sess-1", "iat": now - 5, "exp": now + 600},
        {"sub": "u1", "role": "authenticated", "session_id": "sess-2", "iat": now - 5, "exp": now + 600},
        {"sub": "u2", "role": "authenticated", "jti": "jti-1", "iat": now - 5, "exp": now + 600},
        {"sub": "u2", "role": "authenticated", "jti": "jti-2", "iat": now - 5, "exp": now + 600},
        {"sub": "u3", "role": "authenticated", "iat": now - 5, "exp": now + 600},
        {"sub": "u3", "role": "authenticated", "iat": now - 4, "exp": now + 600},
    ]);
    let dir = scratch("revoke");
    let claims_path = dir.join("claims.json");
    std::fs::write(&claims_path, claims.to_string()).unwrap();
    run_python(&["sign", dir.to_str().unwrap(), claims_path.to_str().unwrap()]);
    let read = |f: &str| -> Vec<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
    };
    let (keys, tokens) = (read("keys.json"), read("tokens.json"));
    let tokens: Vec<String> = tokens
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();

    let cluster = Cluster::start_with_conf("tokrev-pyjwt", CONF);
    let mut admin = cluster.connect_with_extension();
    admin
        .execute(
            "SELECT auth.import_key($1::text::jsonb)",
            &[&keys[0].to_string()],
        )
        .unwrap();
    let mut user = cluster.connect();
    for t in &tokens {
        assert!(verifies(&mut user, t), "PyJWT's token refused");
    }
    admin
        .execute("SELECT auth.revoke_session('sess-1')", &[])
        .unwrap();
    admin
        .execute("SELECT auth.revoke_token($1)", &[&tokens[2]])
        .unwrap();
    admin
        .execute("SELECT auth.revoke_token($1)", &[&tokens[4]])
        .unwrap();
    let accepted: Vec<bool> = tokens.iter().map(|t| verifies(&mut user, t)).collect();
    assert_eq!(accepted, [false, true, false, true, false, true]);
    let kinds = opt_text(
        &mut admin,
        "SELECT string_agg(kind || ':' || coalesce(session_id, jti, left(token_hash, 7)), ',' ORDER BY id)
           FROM auth.token_revocations",
    );
    assert_eq!(
        kinds.as_deref(),
        Some("session:sess-1,jti:jti-1,token:sha256:")
    );
    std::fs::remove_dir_all(dir).ok();
}

fn seconds() -> u64 {
    std::env::var("PAK_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

#[test]
fn sixteen_clients_verify_while_subjects_are_revoked() {
    const SUBJECTS: usize = 400;
    let (cluster, mut admin) = start("tokrev-load", CONF);
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..SUBJECTS)
            .map(|i| token_at(&mut admin, &format!("user-{i}"), 10, 3600))
            .collect(),
    );
    // started[i]: the revocation of subject i was sent; done[i]: it committed.
    let started: Arc<Vec<AtomicBool>> =
        Arc::new((0..SUBJECTS).map(|_| AtomicBool::new(false)).collect());
    let done: Arc<Vec<AtomicBool>> =
        Arc::new((0..SUBJECTS).map(|_| AtomicBool::new(false)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..16 {
        let (tokens, started, done, stop, checks) = (
            tokens.clone(),
            started.clone(),
            done.clone(),
            stop.clone(),
            checks.clone(),
        );
        let mut client = cluster.connect();
        clients.push(thread::spawn(move || {
            let mut i = c * 7;
            while !stop.load(Ordering::SeqCst) {
                i = (i * 31 + 17) % SUBJECTS;
                let committed_before = done[i].load(Ordering::SeqCst);
                let accepted = verifies(&mut client, &tokens[i]);
                let sent_after = started[i].load(Ordering::SeqCst);
                assert!(
                    !(committed_before && accepted),
                    "false accept: user-{i} was revoked before the statement"
                );
                assert!(
                    accepted || sent_after,
                    "false reject: user-{i} was never revoked"
                );
                checks.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(seconds());
    let mut revoked = 0;
    while Instant::now() < deadline && revoked < SUBJECTS {
        started[revoked].store(true, Ordering::SeqCst);
        revoke_tokens(&mut admin, &format!("user-{revoked}"));
        done[revoked].store(true, Ordering::SeqCst);
        revoked += 1;
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().expect("a client failed");
    }
    assert!(revoked > 10, "only {revoked} subjects revoked");
    assert!(
        checks.load(Ordering::Relaxed) > 1000,
        "too few verifications"
    );
}

/// Parallel workers cannot take a snapshot newer than their REPEATABLE READ transaction's, so
/// they read the revocations with the transaction's snapshot, which is only sound when no
/// revocation committed since it was taken. Shared memory records every committed revocation
/// change, and a worker verifies when its snapshot provably includes them all: in a database
/// without revocations, and once a new transaction's snapshot includes them. A revocation
/// committed after the snapshot makes the worker refuse with 55000, never accept the token.
/// (Before shared memory recorded revocation commits, every such statement failed with 55000.)
#[test]
fn parallel_workers_of_a_repeatable_read_transaction_never_accept_a_revoked_token() {
    let (cluster, mut admin) = start("tokrev-parallel-rr", CONF);
    create_count_table(&mut admin);
    let alice = token_at(&mut admin, ALICE, 10, 3600);
    let bob = token_at(&mut admin, "bob", 10, 3600);
    assert!(verifies(&mut admin, &alice));
    // A transaction with an id stays open throughout, as on a busy server: what proves a
    // snapshot newest is the record of revocation commits.
    let (holder, mut session) = begin_parallel_repeatable_read(&cluster, &bob);
    // No revocation exists: the workers verify.
    assert_eq!(count_verified(&mut session, &bob), Ok(2000));
    assert_eq!(count_verified(&mut session, &alice), Ok(2000));

    // Alice is signed out after the transaction's snapshot: its workers cannot see the entry,
    // so they must not verify with what they can read.
    revoke_tokens(&mut admin, ALICE);
    end_parallel_repeatable_read(holder, session, &alice, &bob, "a token revoked");
}

/// On a hot standby, shared memory holds no record of the primary's commits (replay runs no
/// callback), so a parallel worker of a REPEATABLE READ transaction may read the revocations
/// with its snapshot only when nothing can have committed after it (nothing was running and no
/// transaction id was assigned since). A subject revoked on the primary after the standby
/// transaction's snapshot must never be accepted by its workers: no row, or 55000.
#[test]
fn parallel_workers_on_a_standby_never_accept_a_token_revoked_after_their_snapshot() {
    let (cluster, mut admin) = start("tokrev-parallel-standby", CONF);
    create_count_table(&mut admin);
    let alice = token_at(&mut admin, ALICE, 10, 3600);
    let bob = token_at(&mut admin, "bob", 10, 3600);
    let replica = cluster.replica();
    cluster.wait_for_replica(&replica);
    // A backend of the standby verifies first, as its sessions do: the workers copy the key set
    // it loaded (they cannot read the key table under REPEATABLE READ).
    assert!(verifies(&mut replica.connect(), &bob));

    let (mut session, force) = parallel_session(&replica);
    session
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    assert_parallel_plan(&mut session, &bob, force);
    // Before any revocation the workers verify, or refuse with 55000 when the snapshot cannot
    // be proved newest; they never refuse a valid token otherwise.
    for token in [&alice, &bob] {
        let before = count_verified(&mut session, token);
        assert!(matches!(before, Ok(2000)) || before.is_err(), "{before:?}");
    }

    revoke_tokens(&mut admin, ALICE);
    cluster.wait_for_replica(&replica);
    let after = count_verified(&mut session, &alice);
    assert!(
        matches!(after, Ok(0)) || after.as_ref().is_err_and(|e| e.starts_with("55000")),
        "a parallel worker on the standby accepted a token revoked after its snapshot: {after:?}"
    );
    session.batch_execute("ROLLBACK").unwrap();

    // A snapshot taken after replay includes the revocation: never accepted either, and the
    // unrevoked subject is never refused but by 55000 (a standby has no SERIALIZABLE).
    session
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    let revoked = count_verified(&mut session, &alice);
    assert!(matches!(revoked, Ok(0)) || revoked.is_err(), "{revoked:?}");
    let kept = count_verified(&mut session, &bob);
    assert!(matches!(kept, Ok(2000)) || kept.is_err(), "{kept:?}");
    session.batch_execute("COMMIT").unwrap();
    // Under READ COMMITTED each statement's snapshot is new: the workers read the latest
    // revocations.
    session.batch_execute("BEGIN").unwrap();
    assert_eq!(count_verified(&mut session, &alice), Ok(0));
    assert_eq!(count_verified(&mut session, &bob), Ok(2000));
    session.batch_execute("COMMIT").unwrap();
}
