//! Signing keys, tokens and API keys as the tests make and check them: through the extension's
//! SQL functions, as an administrator and a user would.

use crate::{text, Client, Cluster};

/// The schema of the extension's internal tables (`_keys`, `_api_keys`, `_switches`), which
/// some tests write directly, as their owner can.
pub const INTERNAL: &str = "auth_private";

/// The subject of the tests' tokens.
pub const ALICE: &str = "11111111-1111-1111-1111-111111111111";

/// The first column of the only row, NULL or no row as None.
pub fn opt_text(client: &mut Client, sql: &str) -> Option<String> {
    client
        .query_opt(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .and_then(|row| row.get(0))
}

/// `SQLSTATE: message` of a database error, or the error itself when it is not one.
pub fn db_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => format!("not a database error: {e}"),
    }
}

/// The SQLSTATE of a database error ("" when it is not one).
pub fn sqlstate(e: &postgres::Error) -> &str {
    e.as_db_error().map_or("", |db| db.code().code())
}

/// A new key, rotated in; returns its kid.
pub fn rotate_in_new_key(admin: &mut Client) -> String {
    let kid = text(admin, "SELECT auth.create_key()");
    text(
        admin,
        &format!("SELECT auth.rotate_key('{kid}', force => true)"),
    )
}

/// A token for `sub` (role `authenticated`), signed with the in_use key.
pub fn sign(admin: &mut Client, sub: &str) -> String {
    text(
        admin,
        &format!("SELECT auth.sign_jwt('{{\"sub\":\"{sub}\",\"role\":\"authenticated\"}}')"),
    )
}

/// Does `auth.try_verify_jwt` accept the token?
pub fn verifies(client: &mut Client, token: &str) -> bool {
    opt_text(
        client,
        &format!("SELECT auth.try_verify_jwt('{token}') ->> 'sub'"),
    )
    .is_some()
}

/// `auth.verify_jwt`: Ok, or the `SQLSTATE: message` it refused the token with.
pub fn check_jwt(client: &mut Client, token: &str) -> Result<(), String> {
    client
        .query_one(&format!("SELECT auth.verify_jwt('{token}')"), &[])
        .map(drop)
        .map_err(|e| db_error(&e))
}

/// A new session of `cluster` in an open REPEATABLE READ transaction that bound `token` (a token
/// of [`ALICE`]), its `auth.uid()` checked.
pub fn alice_in_repeatable_read(cluster: &Cluster, token: &str) -> Client {
    let mut user = cluster.connect();
    user.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    text(
        &mut user,
        &format!("SELECT auth.authenticate('{token}')::text"),
    );
    assert_eq!(
        opt_text(&mut user, "SELECT auth.uid()::text").as_deref(),
        Some(ALICE)
    );
    user
}

/// The state of key `kid` in `auth.keys`; None when there is no such key.
pub fn key_state(client: &mut Client, kid: &str) -> Option<String> {
    client
        .query_opt("SELECT state::text FROM auth.keys WHERE kid = $1", &[&kid])
        .unwrap_or_else(|e| panic!("the state of key {kid}: {e:?}"))
        .map(|row| row.get(0))
}

/// `auth.revoke_key(kid, force => true)`.
pub fn revoke(admin: &mut Client, kid: &str) {
    admin
        .execute(
            &format!("SELECT auth.revoke_key('{kid}', force => true)"),
            &[],
        )
        .expect("revoke");
}

/// The kind the API key verifies as, or the `SQLSTATE: message` it is refused with.
pub fn check_api_key(client: &mut Client, key: &str) -> Result<String, String> {
    client
        .query_one("SELECT kind FROM auth.verify_api_key($1)", &[&key])
        .map(|row| row.get(0))
        .map_err(|e| db_error(&e))
}

/// `auth.revoke_api_key` of the API key named `name`.
pub fn revoke_api_key_by_name(admin: &mut Client, name: &str) {
    admin
        .execute(
            "SELECT auth.revoke_api_key(id) FROM auth.api_keys WHERE name = $1",
            &[&name],
        )
        .expect("revoke");
}

/// A started cluster with the extension in database `postgres`, where `admin` (a superuser
/// session) made: a previously_used key `kid` and a `token` it signed, an in_use key and an
/// `in_use_token`, and a secret API key named `worker`, `api_key`.
pub struct KeyFixture {
    pub admin: Client,
    pub cluster: Cluster,
    pub kid: String,
    pub token: String,
    pub in_use_token: String,
    pub api_key: String,
}

impl KeyFixture {
    /// [`Cluster::start_with_conf`], then the keys.
    pub fn start(name: &str, conf: &[&str]) -> KeyFixture {
        let cluster = Cluster::start_with_conf(name, conf);
        let mut admin = cluster.connect_with_extension();
        let kid = rotate_in_new_key(&mut admin);
        let token = sign(&mut admin, ALICE);
        rotate_in_new_key(&mut admin);
        let in_use_token = sign(&mut admin, ALICE);
        let api_key = text(&mut admin, "SELECT auth.create_api_key('secret', 'worker')");
        KeyFixture {
            admin,
            cluster,
            kid,
            token,
            in_use_token,
            api_key,
        }
    }
}

/// A session whose plans run `auth.try_verify_jwt` in parallel workers only (the leader does not
/// participate), with the name of the setting that forces parallel plans on this major.
pub fn parallel_session(cluster: &Cluster) -> (Client, &'static str) {
    let mut session = cluster.connect();
    session
        .batch_execute(
            "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
             SET min_parallel_table_scan_size = 0; SET parallel_leader_participation = off;
             SET max_parallel_workers_per_gather = 2",
        )
        .unwrap();
    let force = if session
        .batch_execute("SET debug_parallel_query = on")
        .is_ok()
    {
        "debug_parallel_query"
    } else {
        session
            .batch_execute("SET force_parallel_mode = on")
            .unwrap();
        "force_parallel_mode"
    };
    (session, force)
}

pub const COUNT_VERIFIED: &str = "SELECT count(*) FROM t WHERE auth.try_verify_jwt($1) IS NOT NULL";

/// The table `t` of 2000 rows that [`COUNT_VERIFIED`] scans, analyzed so that parallel plans
/// are chosen for it.
pub fn create_count_table(admin: &mut Client) {
    admin
        .batch_execute(
            "CREATE TABLE public.t AS SELECT g AS id FROM generate_series(1, 2000) g;
             ANALYZE t",
        )
        .unwrap();
}

/// Assert that [`COUNT_VERIFIED`] for `token` runs under a Gather in `session` (a
/// [`parallel_session`], whose forcing setting is `force`).
pub fn assert_parallel_plan(session: &mut Client, token: &str, force: &str) {
    let plan = count_verified_plan(session, token);
    assert!(
        plan.iter().any(|l| l.contains("Gather")),
        "no parallel plan with {force}: {plan:?}"
    );
}

/// The plan of [`COUNT_VERIFIED`] for `token` in `session`, a line a row (`EXPLAIN (COSTS OFF)`).
pub fn count_verified_plan(session: &mut Client, token: &str) -> Vec<String> {
    session
        .query(&format!("EXPLAIN (COSTS OFF) {COUNT_VERIFIED}"), &[&token])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Rows of `t` ([`create_count_table`]: 2000) whose parallel workers accepted `token`, or the
/// SQLSTATE and message (in a savepoint, so that the transaction goes on).
pub fn count_verified(session: &mut Client, token: &str) -> Result<i64, String> {
    session.batch_execute("SAVEPOINT c").unwrap();
    let count = session
        .query_one(COUNT_VERIFIED, &[&token])
        .map(|row| row.get::<_, i64>(0))
        .map_err(|e| {
            assert_eq!(sqlstate(&e), "55000", "{}", db_error(&e));
            db_error(&e)
        });
    session
        .batch_execute(if count.is_ok() {
            "RELEASE SAVEPOINT c"
        } else {
            "ROLLBACK TO SAVEPOINT c"
        })
        .unwrap();
    count
}

/// The first half of the parallel-worker scenario of a REPEATABLE READ transaction: a session
/// (`holder`, returned first) that keeps a transaction with an id open throughout, as on a busy
/// server (no snapshot below is then free of running transactions, so what proves one newest is
/// the record of commits in shared memory, src/commits.rs), and a [`parallel_session`] in a
/// REPEATABLE READ transaction whose plan of [`COUNT_VERIFIED`] for `token` is parallel.
pub fn begin_parallel_repeatable_read(cluster: &Cluster, token: &str) -> (Client, Client) {
    let mut holder = cluster.connect();
    holder
        .batch_execute("BEGIN; SELECT pg_current_xact_id()")
        .unwrap();

    let (mut session, force) = parallel_session(cluster);
    session
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    assert_parallel_plan(&mut session, token, force);
    (holder, session)
}

/// The second half, once a change that refuses `changed` (and not `kept`) has committed after
/// the snapshot of `session`'s transaction: its workers cannot see the change, so they must not
/// verify `changed` with what they can read (no row, or 55000; `what` names the token in the
/// failure message); then new REPEATABLE READ and SERIALIZABLE transactions, whose snapshots
/// include the change, read it and use it. Ends both transactions.
pub fn end_parallel_repeatable_read(
    mut holder: Client,
    mut session: Client,
    changed: &str,
    kept: &str,
    what: &str,
) {
    let after = count_verified(&mut session, changed);
    assert!(
        matches!(after, Ok(0)) || after.as_ref().is_err_and(|e| e.starts_with("55000")),
        "a parallel worker accepted {what} after its snapshot: {after:?}"
    );
    let unchanged = count_verified(&mut session, kept);
    assert!(
        matches!(unchanged, Ok(2000)) || unchanged.is_err(),
        "{unchanged:?}"
    );
    session.batch_execute("ROLLBACK").unwrap();

    // A new transaction's snapshot includes the change: its workers read it and use it.
    // SERIALIZABLE is the same.
    for level in ["REPEATABLE READ", "SERIALIZABLE"] {
        session
            .batch_execute(&format!("BEGIN ISOLATION LEVEL {level}"))
            .unwrap();
        assert_eq!(count_verified(&mut session, changed), Ok(0));
        assert_eq!(count_verified(&mut session, kept), Ok(2000));
        session.batch_execute("COMMIT").unwrap();
    }
    holder.batch_execute("COMMIT").unwrap();
}
