//! The revocation guarantee and bound identities at the edges of PostgreSQL's transaction and
//! session model: two-phase commit, direct writes to the key tables (DML, TRUNCATE, COPY,
//! pg_restore), DROP/CREATE EXTENSION, standby promotion, session resets, savepoints, procedures
//! that commit, and parallel workers. (A pooler in front of the server: pooler.rs.)
//!
//! The guarantee: once a change to the committed key set commits, however it was made, the next
//! statement of every session uses the new set; a change that does not commit changes nothing.
//! A binding made by `auth.authenticate` follows PostgreSQL's rules for settings.

use std::io::{Read, Write};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use pg_auth_keys_cluster_tests::keys::{
    assert_parallel_plan, check_api_key, check_jwt, count_verified_plan, create_count_table,
    db_error, key_state, opt_text, parallel_session, revoke, revoke_api_key_by_name,
    rotate_in_new_key, sign, sqlstate, verifies, KeyFixture, ALICE, COUNT_VERIFIED, INTERNAL,
};
use pg_auth_keys_cluster_tests::{pg_program, text, Client, Cluster, NoTls};

const CONF: &[&str] = &["auth.jwks_cache_ttl = 0"];
const BOB: &str = "22222222-2222-2222-2222-222222222222";

/// What a client presents: a JWT or an API key.
enum Credential {
    Jwt(String),
    ApiKey(String),
}

impl Credential {
    /// Ok when accepted, else the `SQLSTATE: message` it was refused with.
    fn check(&self, client: &mut Client) -> Result<(), String> {
        match self {
            Credential::Jwt(token) => check_jwt(client, token),
            Credential::ApiKey(key) => check_api_key(client, key).map(drop),
        }
    }
}

/// Asserts that every session accepts `credential` (`accept`), or refuses it with SQLSTATE
/// 28000; the message names every session that did otherwise and what it answered.
fn expect_all(
    credential: &Credential,
    sessions: &mut [(&str, &mut Client)],
    accept: bool,
    when: &str,
) {
    let wrong: Vec<String> = sessions
        .iter_mut()
        .filter_map(|(who, client)| {
            let got = credential.check(client);
            let right = match &got {
                Ok(()) => accept,
                Err(e) => !accept && e.starts_with("28000:"),
            };
            (!right).then(|| format!("{who} answered {got:?}"))
        })
        .collect();
    let expected = if accept { "accept" } else { "refuse (28000)" };
    assert!(
        wrong.is_empty(),
        "{when}: every session must {expected}, but {}",
        wrong.join("; ")
    );
}

// ---- 1. Two-phase commit ---------------------------------------------------------------------

const CONF_2PC: &[&str] = &["auth.jwks_cache_ttl = 0", "max_prepared_transactions = 4"];

#[derive(Clone, Copy)]
enum Revoked {
    SigningKey,
    ApiKey,
}

/// Session B prepares a revocation, a third session finishes it with `finish` (COMMIT PREPARED
/// or ROLLBACK PREPARED). Either PREPARE is refused with 0A000 and nothing changed, or the
/// prepared transaction is published exactly when it commits. Afterwards every session,
/// B included, follows an ordinary revocation.
fn prepared_revocation(name: &str, revoked: Revoked, finish: &str) {
    let KeyFixture {
        mut admin,
        cluster,
        kid,
        token,
        api_key,
        ..
    } = KeyFixture::start(name, CONF_2PC);
    let later_kid = rotate_in_new_key(&mut admin);
    let later_token = sign(&mut admin, ALICE);
    rotate_in_new_key(&mut admin);
    let (credential, revoking) = match revoked {
        Revoked::SigningKey => (
            Credential::Jwt(token),
            format!("SELECT auth.revoke_key('{kid}', force => true)"),
        ),
        Revoked::ApiKey => (
            Credential::ApiKey(api_key),
            "SELECT auth.revoke_api_key(id) FROM auth.api_keys WHERE name = 'worker'".into(),
        ),
    };
    let mut a = cluster.connect();
    let mut b = cluster.connect();
    expect_all(
        &credential,
        &mut [("session A", &mut a), ("session B", &mut b)],
        true,
        "before the revocation",
    );

    b.batch_execute(&format!("BEGIN; {revoking}")).unwrap();
    let prepared = match b.batch_execute("PREPARE TRANSACTION 'r'") {
        Ok(()) => true,
        Err(e) => {
            assert_eq!(
                sqlstate(&e),
                "0A000",
                "PREPARE of a key change failed, but not as refused: {}",
                db_error(&e)
            );
            eprintln!("PREPARE of a key change refused: {}", db_error(&e));
            false
        }
    };
    let in_doubt = text(
        &mut admin,
        "SELECT count(*)::text FROM pg_prepared_xacts WHERE gid = 'r'",
    );
    if prepared {
        assert_eq!(in_doubt, "1");
        // Session B runs nothing until the prepared transaction is finished, so that nothing it
        // does can publish the change early.
        expect_all(
            &credential,
            &mut [
                ("session A", &mut a),
                ("a new session", &mut cluster.connect()),
            ],
            true,
            "prepared, not yet committed",
        );
        let mut c = cluster.connect();
        let sql = format!("{finish} 'r'");
        c.batch_execute(&sql).unwrap();
        expect_all(
            &credential,
            &mut [
                ("session A", &mut a),
                ("session B (which prepared it)", &mut b),
                ("session C (which ran it)", &mut c),
                ("a new session", &mut cluster.connect()),
            ],
            finish == "ROLLBACK PREPARED",
            &format!("after {sql}"),
        );
    } else {
        assert_eq!(
            in_doubt, "0",
            "a refused PREPARE left a prepared transaction"
        );
        expect_all(
            &credential,
            &mut [
                ("session A", &mut a),
                ("session B", &mut b),
                ("a new session", &mut cluster.connect()),
            ],
            true,
            "after a refused PREPARE",
        );
    }

    // Session B is an ordinary session again: it follows the next revocation like A.
    let later = Credential::Jwt(later_token);
    expect_all(
        &later,
        &mut [("session A", &mut a), ("session B", &mut b)],
        true,
        "a trusted key, after the prepared transaction",
    );
    revoke(&mut admin, &later_kid);
    expect_all(
        &later,
        &mut [
            ("session A", &mut a),
            ("session B (which prepared a transaction)", &mut b),
        ],
        false,
        "after a later, ordinary revocation",
    );
}

#[test]
fn commit_prepared_of_an_api_key_revocation_reaches_every_session() {
    prepared_revocation("2pc-api-key", Revoked::ApiKey, "COMMIT PREPARED");
}

#[test]
fn commit_prepared_of_a_signing_key_revocation_reaches_every_session() {
    prepared_revocation("2pc-signing-key", Revoked::SigningKey, "COMMIT PREPARED");
}

#[test]
fn rollback_prepared_of_a_revocation_changes_nothing() {
    prepared_revocation("2pc-rollback", Revoked::ApiKey, "ROLLBACK PREPARED");
}

// ---- 2. The key tables written directly by their owner --------------------------------------

/// `sql`, run by the superuser in its own transaction, must reach every session.
fn direct_write(name: &str, credential: impl Fn(&KeyFixture) -> Credential, sql: &str) {
    let mut f = KeyFixture::start(name, CONF);
    let credential = credential(&f);
    let mut other = f.cluster.connect();
    expect_all(
        &credential,
        &mut [("another session", &mut other)],
        true,
        "before",
    );
    let sql = sql.replace("{kid}", &f.kid);
    f.admin
        .batch_execute(&sql)
        .unwrap_or_else(|e| panic!("{sql}: {}", db_error(&e)));
    expect_all(
        &credential,
        &mut [
            ("another session", &mut other),
            ("the writing session", &mut f.admin),
            ("a new session", &mut f.cluster.connect()),
        ],
        false,
        &format!("after a committed `{sql}`"),
    );
    // The rest of the set is intact.
    expect_all(
        &Credential::Jwt(f.in_use_token.clone()),
        &mut [("another session", &mut other)],
        true,
        "the in_use key",
    );
}

#[test]
fn direct_update_of_the_keys_table_reaches_every_session() {
    direct_write(
        "direct-update",
        |f| Credential::Jwt(f.token.clone()),
        &format!("UPDATE {INTERNAL}._keys SET state = 'revoked' WHERE kid = '{{kid}}'"),
    );
}

#[test]
fn direct_delete_from_the_api_keys_table_reaches_every_session() {
    direct_write(
        "direct-delete",
        |f| Credential::ApiKey(f.api_key.clone()),
        &format!("DELETE FROM {INTERNAL}._api_keys WHERE name = 'worker'"),
    );
}

#[test]
fn truncate_of_the_api_keys_table_reaches_every_session() {
    direct_write(
        "direct-truncate",
        |f| Credential::ApiKey(f.api_key.clone()),
        &format!("TRUNCATE {INTERNAL}._api_keys"),
    );
}

#[test]
fn copy_into_the_api_keys_table_reaches_every_session() {
    let mut f = KeyFixture::start("direct-copy", CONF);
    let mut row = String::new();
    f.admin
        .copy_out(&format!(
            "COPY (SELECT * FROM {INTERNAL}._api_keys WHERE name = 'worker') TO STDOUT"
        ))
        .unwrap()
        .read_to_string(&mut row)
        .unwrap();
    text(
        &mut f.admin,
        "SELECT auth.delete_api_key(id)::text FROM auth.api_keys WHERE name = 'worker'",
    );
    let credential = Credential::ApiKey(f.api_key.clone());
    let mut other = f.cluster.connect();
    expect_all(
        &credential,
        &mut [("another session", &mut other)],
        false,
        "deleted",
    );

    // The row comes back through COPY FROM, as a restore would bring it.
    let mut writer = f
        .admin
        .copy_in(&format!("COPY {INTERNAL}._api_keys FROM STDIN"))
        .unwrap();
    writer.write_all(row.as_bytes()).unwrap();
    writer.finish().unwrap();
    expect_all(
        &credential,
        &mut [
            ("another session", &mut other),
            ("the writing session", &mut f.admin),
            ("a new session", &mut f.cluster.connect()),
        ],
        true,
        "after COPY FROM put the key back",
    );
}

#[test]
fn rolled_back_direct_writes_change_nothing() {
    let mut f = KeyFixture::start("direct-rollback", CONF);
    let jwt = Credential::Jwt(f.token.clone());
    let api_key = Credential::ApiKey(f.api_key.clone());
    let mut other = f.cluster.connect();
    expect_all(&jwt, &mut [("another session", &mut other)], true, "before");
    expect_all(
        &api_key,
        &mut [("another session", &mut other)],
        true,
        "before",
    );
    f.admin
        .batch_execute(&format!(
            "BEGIN;
             UPDATE {INTERNAL}._keys SET state = 'revoked' WHERE kid = '{}';
             DELETE FROM {INTERNAL}._api_keys WHERE name = 'worker'",
            f.kid
        ))
        .unwrap();
    expect_all(
        &jwt,
        &mut [("another session", &mut other)],
        true,
        "uncommitted",
    );
    expect_all(
        &api_key,
        &mut [("another session", &mut other)],
        true,
        "uncommitted",
    );
    f.admin.batch_execute("ROLLBACK").unwrap();
    for credential in [&jwt, &api_key] {
        expect_all(
            credential,
            &mut [
                ("another session", &mut other),
                ("the writing session", &mut f.admin),
                ("a new session", &mut f.cluster.connect()),
            ],
            true,
            "after ROLLBACK",
        );
    }
}

/// Runs a client program of the tested installation against `cluster`; panics with its output.
fn run_client_program(cluster: &Cluster, program: &str, args: &[&str]) {
    let port = cluster.port().to_string();
    let out = Command::new(pg_program(program))
        .args([
            "-h",
            cluster.dir().to_str().unwrap(),
            "-p",
            &port,
            "-U",
            "postgres",
        ])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Database `dst` is a copy of `src`, whose sessions trust a key; `src` revokes it; its keys are
/// dumped (`pg_dump -Fc`) and restored into `dst` (`TRUNCATE`, then `pg_restore --data-only`
/// with `restore_args`): every session of `dst` must refuse the revoked key's tokens and accept
/// the in_use key's.
fn restore_revoked_key(name: &str, restore_args: &[&str]) {
    let cluster = Cluster::start_with_conf(name, CONF);
    let mut admin = cluster.connect();
    admin.batch_execute("CREATE DATABASE src").unwrap();
    let mut src = cluster.connect_to("src");
    src.batch_execute("CREATE EXTENSION pg_auth_keys").unwrap();
    let kid = rotate_in_new_key(&mut src);
    let token = Credential::Jwt(sign(&mut src, ALICE));
    rotate_in_new_key(&mut src);
    let in_use_token = Credential::Jwt(sign(&mut src, ALICE));
    drop(src);
    admin
        .batch_execute("CREATE DATABASE dst TEMPLATE src")
        .unwrap();
    revoke(&mut cluster.connect_to("src"), &kid);
    let dump = cluster.dir().join("src.dump");
    run_client_program(
        &cluster,
        "pg_dump",
        &["-Fc", "--data-only", "-f", dump.to_str().unwrap(), "src"],
    );

    let mut user = cluster.connect_to("dst");
    expect_all(
        &token,
        &mut [("a session of dst", &mut user)],
        true,
        "before the restore",
    );
    let mut restorer = cluster.connect_to("dst");
    restorer
        .batch_execute(&format!("TRUNCATE {INTERNAL}._keys"))
        .unwrap();
    let mut args = vec![
        "--data-only",
        "--single-transaction",
        "-n",
        INTERNAL,
        "-t",
        "_keys",
        "-d",
        "dst",
    ];
    args.extend_from_slice(restore_args);
    args.push(dump.to_str().unwrap());
    run_client_program(&cluster, "pg_restore", &args);
    assert_eq!(
        key_state(&mut restorer, &kid).as_deref(),
        Some("revoked"),
        "the restore did not bring the revoked state"
    );
    let mut sessions = [
        ("a session of dst", &mut user),
        ("the session that truncated", &mut restorer),
        ("a new session of dst", &mut cluster.connect_to("dst")),
    ];
    expect_all(&token, &mut sessions, false, "after pg_restore");
    expect_all(&in_use_token, &mut sessions, true, "after pg_restore");
}

#[test]
fn pg_restore_data_only_of_a_revoked_key_reaches_every_session() {
    restore_revoked_key("restore", &[]);
}

#[test]
fn pg_restore_with_disabled_triggers_reaches_every_session() {
    restore_revoked_key("restore-no-triggers", &["--disable-triggers"]);
}

// ---- 3. DROP EXTENSION; CREATE EXTENSION -----------------------------------------------------

/// A cluster with the extension and a trusted key; after `DROP EXTENSION; CREATE EXTENSION`
/// in the session that returned (which had changed keys before), alongside another session
/// that had verified a token.
fn recreated_extension(name: &str) -> (Cluster, Client, Client, Credential, Credential) {
    let f = KeyFixture::start(name, CONF);
    let (cluster, mut admin) = (f.cluster, f.admin);
    let token = Credential::Jwt(f.in_use_token);
    let api_key = Credential::ApiKey(f.api_key);
    let mut other = cluster.connect();
    for credential in [&token, &api_key] {
        expect_all(
            credential,
            &mut [
                ("the admin session", &mut admin),
                ("another session", &mut other),
            ],
            true,
            "before DROP EXTENSION",
        );
    }
    admin
        .batch_execute("DROP EXTENSION pg_auth_keys; CREATE EXTENSION pg_auth_keys")
        .unwrap();
    (cluster, admin, other, token, api_key)
}

#[test]
fn drop_and_create_extension_forgets_the_dropped_keys() {
    let (cluster, mut admin, mut other, token, api_key) = recreated_extension("drop-create");
    for credential in [&token, &api_key] {
        expect_all(
            credential,
            &mut [
                ("the session that re-created it", &mut admin),
                ("another session", &mut other),
                ("a new session", &mut cluster.connect()),
            ],
            false,
            "after DROP EXTENSION; CREATE EXTENSION",
        );
    }
}

#[test]
fn long_lived_sessions_work_with_a_re_created_extension() {
    let (cluster, mut admin, mut other, _, _) = recreated_extension("drop-create-new-keys");
    let kid = text(&mut admin, "SELECT auth.create_key()");
    text(
        &mut admin,
        &format!("SELECT auth.rotate_key('{kid}', force => true)"),
    );
    let fresh = Credential::Jwt(sign(&mut admin, ALICE));
    expect_all(
        &fresh,
        &mut [
            ("the session that re-created it", &mut admin),
            ("another session", &mut other),
        ],
        true,
        "a key made after CREATE EXTENSION",
    );
    rotate_in_new_key(&mut admin);
    revoke(&mut admin, &kid);
    expect_all(
        &fresh,
        &mut [
            ("the session that re-created it", &mut admin),
            ("another session", &mut other),
            ("a new session", &mut cluster.connect()),
        ],
        false,
        "a key made after CREATE EXTENSION, then revoked",
    );
}

// ---- 4. Standby promotion --------------------------------------------------------------------

/// Standby sessions load the set, stay idle while the standby replays a revocation, and the
/// standby is promoted with `promote`: old and new sessions refuse the revoked keys.
fn promoted_standby_refuses(name: &str, promote: impl FnOnce(&Cluster)) {
    let KeyFixture {
        mut admin,
        cluster: primary,
        kid,
        token,
        api_key,
        ..
    } = KeyFixture::start(name, CONF);
    let (token, api_key) = (Credential::Jwt(token), Credential::ApiKey(api_key));
    let standby = primary.replica();
    primary.wait_for_replica(&standby);

    let mut s1 = standby.connect();
    let mut s2 = standby.connect();
    // Connected, but never verified anything before the promotion.
    let mut idle = standby.connect();
    for credential in [&token, &api_key] {
        expect_all(
            credential,
            &mut [
                ("standby session 1", &mut s1),
                ("standby session 2", &mut s2),
            ],
            true,
            "on the standby, before the revocation",
        );
    }

    revoke(&mut admin, &kid);
    revoke_api_key_by_name(&mut admin, "worker");
    primary.wait_for_replica(&standby);
    promote(&standby);
    assert_eq!(
        text(&mut standby.connect(), "SELECT pg_is_in_recovery()::text"),
        "false",
        "the standby was not promoted"
    );

    let mut new = standby.connect();
    assert_eq!(key_state(&mut new, &kid).as_deref(), Some("revoked"));
    for credential in [&token, &api_key] {
        expect_all(
            credential,
            &mut [
                ("old standby session 1", &mut s1),
                ("old standby session 2", &mut s2),
                ("an old session that had verified nothing", &mut idle),
                ("a new session", &mut new),
            ],
            false,
            "after promotion",
        );
    }
}

#[test]
fn standby_promoted_by_pg_promote_refuses_keys_revoked_before() {
    promoted_standby_refuses("promote-sql", |standby| {
        assert_eq!(
            text(&mut standby.connect(), "SELECT pg_promote()::text"),
            "true"
        );
    });
}

#[test]
fn standby_promoted_by_pg_ctl_refuses_keys_revoked_before() {
    promoted_standby_refuses("promote-pg-ctl", Cluster::promote);
}

// ---- 5., 6. Bindings follow PostgreSQL's rules for settings ---------------------------------

// Statements of the scenarios below; `{alice}` and `{bob}` stand for tokens of ALICE and BOB.
const ALICE_LOCAL: &str = "SELECT auth.authenticate('{alice}', true)";
const ALICE_SESSION: &str = "SELECT auth.authenticate('{alice}', false)";
const BOB_LOCAL: &str = "SELECT auth.authenticate('{bob}', true)";

/// Steps of a scenario: a statement, and the `auth.uid()` expected after it.
type Steps<'a> = &'a [(&'a str, Option<&'a str>)];

/// Makes a cluster with a trusted key, then runs each scenario in a new session: every
/// statement, then `auth.uid()` must be the given value (and `auth.claims()` NULL exactly when
/// it is NULL). Asserts, listing every step that was wrong.
fn check_bindings(name: &str, scenarios: &[(&str, Steps)]) {
    let KeyFixture {
        mut admin,
        cluster,
        in_use_token: alice,
        ..
    } = KeyFixture::start(name, CONF);
    let bob = sign(&mut admin, BOB);
    admin
        .batch_execute("CREATE ROLE someone_else NOLOGIN")
        .unwrap();
    let mut wrong = Vec::new();
    for (scenario, steps) in scenarios {
        let mut client = cluster.connect();
        for (sql, expected) in *steps {
            let sql = sql.replace("{alice}", &alice).replace("{bob}", &bob);
            if let Err(e) = client.batch_execute(&sql) {
                wrong.push(format!("{scenario}: `{sql}` failed: {}", db_error(&e)));
                break;
            }
            let uid = opt_text(&mut client, "SELECT auth.uid()::text");
            let claims = opt_text(&mut client, "SELECT auth.claims()::text");
            if uid.as_deref() != *expected || claims.is_none() != expected.is_none() {
                wrong.push(format!(
                    "{scenario}: after `{sql}`, auth.uid() = {uid:?} (expected {expected:?}), auth.claims() = {claims:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn session_resets_unbind_the_identity() {
    check_bindings(
        "session-resets",
        &[
            (
                "DISCARD ALL",
                &[(ALICE_SESSION, Some(ALICE)), ("DISCARD ALL", None)],
            ),
            (
                "RESET ALL",
                &[(ALICE_SESSION, Some(ALICE)), ("RESET ALL", None)],
            ),
            (
                "SET SESSION AUTHORIZATION",
                &[
                    (ALICE_SESSION, Some(ALICE)),
                    ("SET SESSION AUTHORIZATION someone_else", None),
                    ("RESET SESSION AUTHORIZATION", None),
                ],
            ),
        ],
    );
}

#[test]
fn rollback_to_savepoint_unbinds_a_transaction_binding() {
    check_bindings(
        "savepoint-local",
        &[(
            "ROLLBACK TO SAVEPOINT",
            &[
                ("BEGIN; SAVEPOINT s", None),
                (ALICE_LOCAL, Some(ALICE)),
                ("ROLLBACK TO SAVEPOINT s", None),
                ("COMMIT", None),
            ],
        )],
    );
}

#[test]
fn transaction_binding_ends_with_its_transaction() {
    let bound = |end| [("BEGIN", None), (ALICE_LOCAL, Some(ALICE)), (end, None)];
    check_bindings(
        "binding-xact-end",
        &[
            ("COMMIT", &bound("COMMIT")),
            ("ROLLBACK", &bound("ROLLBACK")),
            (
                "RELEASE SAVEPOINT",
                &[
                    ("BEGIN; SAVEPOINT s", None),
                    (ALICE_LOCAL, Some(ALICE)),
                    ("RELEASE SAVEPOINT s", Some(ALICE)),
                    ("COMMIT", None),
                ],
            ),
        ],
    );
}

/// As `SET` / `SET LOCAL` behave: a session binding made in a transaction or savepoint that
/// rolls back is undone; a transaction binding over a session binding ends with its
/// transaction, and the session binding is back.
#[test]
fn session_binding_follows_the_rules_of_settings() {
    check_bindings(
        "binding-as-settings",
        &[
            (
                "session binding, savepoint rolled back",
                &[
                    ("BEGIN; SAVEPOINT s", None),
                    (ALICE_SESSION, Some(ALICE)),
                    ("ROLLBACK TO SAVEPOINT s", None),
                    ("COMMIT", None),
                ],
            ),
            (
                "session binding, transaction rolled back",
                &[
                    ("BEGIN", None),
                    (ALICE_SESSION, Some(ALICE)),
                    ("ROLLBACK", None),
                ],
            ),
            (
                "session binding, committed",
                &[
                    ("BEGIN; SAVEPOINT s", None),
                    (ALICE_SESSION, Some(ALICE)),
                    ("RELEASE SAVEPOINT s; COMMIT", Some(ALICE)),
                ],
            ),
            (
                "transaction binding over a session binding",
                &[
                    (ALICE_SESSION, Some(ALICE)),
                    ("BEGIN", Some(ALICE)),
                    (BOB_LOCAL, Some(BOB)),
                    ("COMMIT", Some(ALICE)),
                ],
            ),
        ],
    );
}

#[test]
fn rollback_to_savepoint_forgets_a_key_change_in_every_transaction_of_a_backend() {
    let KeyFixture {
        mut admin,
        cluster,
        kid,
        token,
        ..
    } = KeyFixture::start("savepoint-private-set", CONF);
    // `admin` has committed key changes before; `fresh` has not.
    let mut fresh = cluster.connect();
    for (who, client) in [
        ("the first key change of a backend", &mut fresh),
        ("a later key change of a backend", &mut admin),
    ] {
        client.batch_execute("BEGIN; SAVEPOINT s").unwrap();
        revoke(client, &kid);
        assert!(
            !verifies(client, &token),
            "{who}: the revoking transaction trusts the key it revoked"
        );
        client.batch_execute("ROLLBACK TO SAVEPOINT s").unwrap();
        assert!(
            verifies(client, &token),
            "{who}: after ROLLBACK TO SAVEPOINT the transaction still sees the revocation"
        );
        client.batch_execute("COMMIT").unwrap();
        assert!(verifies(client, &token), "{who}: after COMMIT");
    }
    assert_eq!(
        key_state(&mut admin, &kid).as_deref(),
        Some("previously_used")
    );
}

// ---- 7. Procedures that commit ---------------------------------------------------------------

#[test]
fn each_transaction_of_a_procedure_sees_revocations_committed_before_it() {
    let KeyFixture {
        mut admin,
        cluster,
        kid,
        token,
        ..
    } = KeyFixture::start("procedure", CONF);
    admin
        .batch_execute(
            "CREATE TABLE verify_log (i int PRIMARY KEY, at timestamptz NOT NULL, ok boolean NOT NULL);
             CREATE PROCEDURE verify_loop(token text, n int) LANGUAGE plpgsql AS $$
             BEGIN
                 FOR i IN 1..n LOOP
                     INSERT INTO verify_log
                     VALUES (i, clock_timestamp(), auth.try_verify_jwt(token) IS NOT NULL);
                     PERFORM pg_sleep(0.2);
                     COMMIT;
                 END LOOP;
             END $$",
        )
        .unwrap();
    let mut caller = cluster.connect();
    let call = format!("CALL verify_loop('{token}', 15)");
    let procedure = thread::spawn(move || caller.batch_execute(&call).map_err(|e| db_error(&e)));

    let deadline = Instant::now() + Duration::from_secs(20);
    let logged = |admin: &mut Client| -> i64 {
        admin
            .query_one("SELECT count(*) FROM verify_log", &[])
            .unwrap()
            .get(0)
    };
    while logged(&mut admin) < 4 {
        assert!(Instant::now() < deadline, "the procedure does not advance");
        thread::sleep(Duration::from_millis(50));
    }
    let before = text(&mut admin, "SELECT clock_timestamp()::text");
    revoke(&mut admin, &kid);
    let after = text(&mut admin, "SELECT clock_timestamp()::text");
    procedure
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("the procedure failed: {e}"));

    // (iteration, accepted, before the revocation, after it committed)
    let rows: Vec<(i32, bool, bool, bool)> = admin
        .query(
            "SELECT i, ok, at < $1::text::timestamptz, at > $2::text::timestamptz
             FROM verify_log ORDER BY i",
            &[&before, &after],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let earlier: Vec<_> = rows.iter().filter(|r| r.2).collect();
    let later: Vec<_> = rows.iter().filter(|r| r.3).collect();
    assert!(earlier.len() >= 4 && later.len() >= 4, "{rows:?}");
    assert!(
        earlier.iter().all(|r| r.1),
        "refused before the revocation: {rows:?}"
    );
    // The one iteration in flight when the revocation committed may still accept.
    let accepted_later: Vec<i32> = later.iter().skip(1).filter(|r| r.1).map(|r| r.0).collect();
    assert!(
        accepted_later.is_empty(),
        "iterations {accepted_later:?} ran after the revoking commit and accepted its key \
         (iteration, accepted, before, after): {rows:?}"
    );
}

// ---- 8. Parallel workers ---------------------------------------------------------------------

/// count(*) of `docs` that `client` sees, and (for a parallel plan) how many workers the same
/// query launched and how many rows they removed with the policy's filter.
fn count_docs(client: &mut Client, parallel: bool, force: &str) -> (i64, String) {
    let setting = if parallel {
        format!("SET max_parallel_workers_per_gather = 2; SET {force} = on")
    } else {
        format!("SET max_parallel_workers_per_gather = 0; SET {force} = off")
    };
    client.batch_execute(&setting).unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM docs", &[])
        .unwrap()
        .get(0);
    let plan: Vec<String> = client
        .query(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM docs",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    (count, plan.join("\n"))
}

#[test]
fn parallel_workers_see_the_identity_the_leader_bound() {
    let KeyFixture {
        mut admin,
        cluster,
        in_use_token: token,
        ..
    } = KeyFixture::start("parallel", CONF);
    admin
        .batch_execute(&format!(
            "CREATE ROLE app LOGIN;
             CREATE FUNCTION public.app_uid() RETURNS uuid
                 LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$ BEGIN RETURN auth.uid(); END $$;
             CREATE TABLE public.docs (id int, owner uuid NOT NULL, body text);
             INSERT INTO docs SELECT g, '{ALICE}', repeat('x', 100) FROM generate_series(1, 2000) g;
             ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
             CREATE POLICY own ON docs USING (owner = app_uid());
             GRANT SELECT ON docs TO app;
             ANALYZE docs"
        ))
        .unwrap();
    // A session of `app`, a role subject to the policy, where only parallel workers scan (so
    // that every row is judged by one) whenever the plan is parallel.
    let connect = || -> (Client, &str) {
        let mut app = cluster
            .config("postgres")
            .user("app")
            .connect(NoTls)
            .unwrap();
        app.batch_execute(
            "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
             SET min_parallel_table_scan_size = 0; SET parallel_leader_participation = off",
        )
        .unwrap();
        let force = if app.batch_execute("SET debug_parallel_query = off").is_ok() {
            "debug_parallel_query"
        } else {
            "force_parallel_mode"
        };
        (app, force)
    };
    let (mut app, force) = connect();
    let (anonymous, _) = count_docs(&mut app, true, force);
    assert_eq!(anonymous, 0, "rows visible without an identity");

    let mut wrong = Vec::new();
    for (binding, begin, end) in [
        ("authenticate(t, false)", "", ""),
        ("authenticate(t, true) in a transaction", "BEGIN", "COMMIT"),
    ] {
        let (mut app, force) = connect();
        app.batch_execute(begin).unwrap();
        text(
            &mut app,
            &format!(
                "SELECT auth.authenticate('{token}', {})::text",
                !end.is_empty()
            ),
        );
        let (serial, serial_plan) = count_docs(&mut app, false, force);
        let (parallel, plan) = count_docs(&mut app, true, force);
        assert!(
            !serial_plan.contains("Parallel"),
            "the serial plan is parallel:\n{serial_plan}"
        );
        assert!(
            plan.contains("Parallel Seq Scan") && !plan.contains("Workers Launched: 0"),
            "no parallel workers ran:\n{plan}"
        );
        if serial != 2000 || parallel != 2000 || plan.contains("Rows Removed by Filter") {
            wrong.push(format!(
                "{binding}: serial plan counts {serial}, parallel plan {parallel} of 2000\n{plan}"
            ));
        }
        app.batch_execute(end).unwrap();
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// An infrastructure error is an error, never a refusal (nor an acceptance): parallel workers of a
/// REPEATABLE READ transaction cannot read the API keys with a snapshot newer than the
/// transaction's, so a legacy token (whose verification asks whether legacy API keys are
/// disabled) either verifies or fails with 55000 and a hint to retry — it is never refused as
/// "legacy api keys are disabled".
#[test]
fn an_infrastructure_error_in_a_parallel_worker_is_never_a_refusal() {
    let cluster = Cluster::start_with_conf("parallel-rr-legacy", CONF);
    let mut admin = cluster.connect_with_extension();
    admin
        .batch_execute("SELECT auth.migrate_legacy_secret('a-legacy-secret-of-at-least-32-bytes!')")
        .unwrap();
    create_count_table(&mut admin);
    let token = text(
        &mut admin,
        r#"SELECT auth.sign_jwt('{"sub":"x","role":"anon"}')"#,
    );
    assert!(verifies(&mut admin, &token));

    let (mut session, force) = parallel_session(&cluster);
    session
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    let plan = count_verified_plan(&mut session, &token);
    assert!(
        plan.iter().any(|l| l.contains("Parallel")),
        "no parallel plan with {force}: {plan:?}"
    );
    match session.query_one(COUNT_VERIFIED, &[&token]) {
        Ok(row) => assert_eq!(
            row.get::<_, i64>(0),
            2000,
            "a valid legacy token was refused in a parallel worker"
        ),
        Err(e) => assert_eq!(sqlstate(&e), "55000", "{}", db_error(&e)),
    }
}

/// A parallel worker copies the newest key set its database's backends loaded (shared memory).
/// After a key is revoked, no backend may have loaded the set again yet when a parallel statement
/// starts: its workers must still refuse the revoked key's tokens.
#[test]
fn parallel_workers_never_verify_with_a_key_revoked_before_their_statement() {
    let cluster = Cluster::start_with_conf("parallel-revoked-key", CONF);
    let mut admin = cluster.connect_with_extension();
    let kid = rotate_in_new_key(&mut admin);
    create_count_table(&mut admin);
    let token = sign(&mut admin, ALICE);
    // Another backend loads the set with the key in use: shared memory holds it.
    assert!(verifies(&mut cluster.connect(), &token));
    let (mut session, force) = parallel_session(&cluster);
    assert_parallel_plan(&mut session, &token, force);
    rotate_in_new_key(&mut admin);
    revoke(&mut admin, &kid);
    // No backend has verified since the revocation committed.
    for isolation in ["READ COMMITTED", "REPEATABLE READ"] {
        session
            .batch_execute(&format!("BEGIN ISOLATION LEVEL {isolation}"))
            .unwrap();
        match session.query_one(COUNT_VERIFIED, &[&token]) {
            Ok(row) => assert_eq!(
                row.get::<_, i64>(0),
                0,
                "{isolation}: parallel workers accepted a token of a key revoked before the statement"
            ),
            Err(e) => assert_eq!(sqlstate(&e), "55000", "{isolation}: {}", db_error(&e)),
        }
        session.batch_execute("ROLLBACK").unwrap();
    }
}
