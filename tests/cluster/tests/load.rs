//! Load: pgbench with 16 clients verifying tokens and reading RLS-protected rows while one
//! session rotates and revokes keys, then two assertions over what every client saw:
//! - no false accept: no token of a key was accepted by a statement that began after that key's
//!   revocation had committed (the contract: "the next statement in every session");
//! - no false reject: no token of a trusted key was refused by a check that ended before that
//!   key's revocation began (or of a key never revoked).
//!
//! How: the rotating session (a thread here) records, per revoked key, `clock_timestamp()` in a
//! statement before the revoking one (`started_at`) and in a statement after its COMMIT returned
//! (`committed_at`). Each pgbench transaction is one statement: it picks a token (half the time
//! one of the newest: the keys about to change), checks it, and logs the kid, whether it was
//! accepted (any of the token's rows visible through RLS) or refused (not all of them visible),
//! `statement_timestamp()` (`t0`) and `clock_timestamp()` after the check (`t1`) into an unlogged
//! table. Every timestamp is the server's clock.
//!
//! A second test makes a revocation commit in the middle of one long RLS statement: the
//! statement sees one key set (STABLE functions), all of its rows or none.
//!
//! In CI it runs for 10 seconds. The longer run, which prints the throughput:
//!
//! ```sh
//! PAK_LOAD_SECONDS=60 cargo test -p pg_auth_keys_cluster_tests --test load -- --nocapture
//! ```

use std::fs;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pg_auth_keys_cluster_tests::{pg_program, Client, Cluster};

const CLIENTS: usize = 16;
const ALICE: &str = "11111111-1111-1111-1111-111111111111";
const BOB: &str = "22222222-2222-2222-2222-222222222222";

const SCHEMA: &str = r#"
CREATE EXTENSION pg_auth_keys;
CREATE ROLE bench LOGIN;
-- rows: how many rows of bench_notes the token's subject owns (what RLS must show it).
CREATE TABLE bench_tokens (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kid text NOT NULL, token text NOT NULL, rows bigint NOT NULL);
CREATE UNLOGGED TABLE bench_outcomes (kid text, accepted boolean, refused boolean, seen bigint, rows bigint,
                                      t0 timestamptz, t1 timestamptz, how text);
CREATE TABLE bench_revocations (kid text PRIMARY KEY, started_at timestamptz NOT NULL, committed_at timestamptz);
CREATE TABLE bench_notes (id int PRIMARY KEY, owner uuid NOT NULL, body text);
INSERT INTO bench_notes VALUES
    (1, '11111111-1111-1111-1111-111111111111', 'alice 1'),
    (2, '11111111-1111-1111-1111-111111111111', 'alice 2'),
    (3, '11111111-1111-1111-1111-111111111111', 'alice 3'),
    (4, '22222222-2222-2222-2222-222222222222', 'bob 1'),
    (5, '22222222-2222-2222-2222-222222222222', 'bob 2');
ALTER TABLE bench_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY bench_notes_owner ON bench_notes USING (owner = auth.uid());
GRANT SELECT ON bench_tokens, bench_notes TO bench;
GRANT INSERT ON bench_outcomes TO bench;

-- A token: half the time one of the four newest (their keys are the ones changing).
CREATE FUNCTION bench_pick(OUT kid text, OUT token text, OUT rows bigint) LANGUAGE plpgsql AS $$
DECLARE
    n int := (SELECT max(id) FROM bench_tokens);
    i int;
BEGIN
    IF random() < 0.5 THEN
        i := greatest(1, n - floor(random() * 4)::int);
    ELSE
        i := 1 + floor(random() * n)::int;
    END IF;
    SELECT b.kid, b.token, b.rows INTO kid, token, rows FROM bench_tokens b WHERE b.id = i;
END $$;

CREATE FUNCTION bench_verify() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    p record;
    ok boolean;
BEGIN
    SELECT * INTO p FROM bench_pick();
    ok := auth.try_verify_jwt(p.token) IS NOT NULL;
    INSERT INTO bench_outcomes VALUES (p.kid, ok, NOT ok, NULL, NULL, statement_timestamp(), clock_timestamp(), 'verify');
END $$;

-- The RLS path: PostgREST's bearer token, verified by the policy's auth.uid() on every row.
CREATE FUNCTION bench_rls() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    p record;
    n bigint;
BEGIN
    SELECT * INTO p FROM bench_pick();
    PERFORM set_config('request.headers', json_build_object('authorization', 'Bearer ' || p.token)::text, true);
    SELECT count(*) INTO n FROM bench_notes;
    IF n > p.rows THEN
        RAISE EXCEPTION 'RLS showed % rows to a token of % that owns %', n, p.kid, p.rows;
    END IF;
    INSERT INTO bench_outcomes VALUES (p.kid, n > 0, n < p.rows, n, p.rows, statement_timestamp(), clock_timestamp(), 'rls');
END $$;
"#;

fn token(client: &mut Client, sub: &str, kid: &str) -> String {
    client
        .query_one(
            "SELECT auth.sign_jwt(jsonb_build_object('sub', $1::text, 'role', 'authenticated'), $2)",
            &[&sub, &kid],
        )
        .unwrap()
        .get(0)
}

fn new_key(client: &mut Client, alg: &str) -> String {
    let kid: String = client
        .query_one("SELECT auth.create_key($1, 'load')", &[&alg])
        .unwrap()
        .get(0);
    for (sub, rows) in [(ALICE, 3i64), (BOB, 2)] {
        let t = token(client, sub, &kid);
        client
            .execute(
                "INSERT INTO bench_tokens (kid, token, rows) VALUES ($1, $2, $3)",
                &[&kid, &t, &rows],
            )
            .unwrap();
    }
    kid
}

/// The rotating session: create a key and publish a token of it, rotate to it, revoke the key it
/// replaced (recording when the revocation started and when its commit had returned), and delete
/// old revoked keys so the key set stays well under auth.max_keys.
fn rotator(mut client: Client, stop: Arc<AtomicBool>) -> usize {
    let algs = ["ES256", "EdDSA", "HS256"];
    let mut revoked: Vec<String> = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Acquire) {
        let kid = new_key(&mut client, algs[i % algs.len()]);
        thread::sleep(Duration::from_millis(120));
        let old: String = client
            .query_one("SELECT kid FROM auth.keys WHERE state = 'in_use'", &[])
            .unwrap()
            .get(0);
        client
            .execute("SELECT auth.rotate_key($1)", &[&kid])
            .unwrap();
        thread::sleep(Duration::from_millis(120));
        client
            .execute(
                "INSERT INTO bench_revocations (kid, started_at) VALUES ($1, clock_timestamp())",
                &[&old],
            )
            .unwrap();
        client
            .execute("SELECT auth.revoke_key($1, force => true)", &[&old])
            .unwrap();
        client
            .execute(
                "UPDATE bench_revocations SET committed_at = clock_timestamp() WHERE kid = $1",
                &[&old],
            )
            .unwrap();
        revoked.push(old);
        if revoked.len() > 6 {
            let gone = revoked.remove(0);
            client
                .execute("SELECT auth.delete_key($1)", &[&gone])
                .unwrap();
        }
        i += 1;
    }
    i
}

fn seconds() -> u64 {
    std::env::var("PAK_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

fn count(client: &mut Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

#[test]
fn sixteen_clients_verify_while_keys_rotate_and_are_revoked() {
    let secs = seconds();
    let cluster = Cluster::start_with_conf(
        "load",
        &[
            "auth.jwks_cache_ttl = 0",
            "max_connections = 40",
            // Small and many writes: keep the outcome log off the disk's critical path.
            "synchronous_commit = off",
        ],
    );
    let mut admin = cluster.connect();
    admin.batch_execute(SCHEMA).expect("schema");
    // Keys that stay trusted (standby) for the whole run, and the first in_use key.
    for alg in ["ES256", "EdDSA", "HS256"] {
        new_key(&mut admin, alg);
    }
    let first = new_key(&mut admin, "ES256");
    admin
        .execute("SELECT auth.rotate_key($1)", &[&first])
        .unwrap();

    let dir = cluster.dir().join("pgbench");
    fs::create_dir_all(&dir).unwrap();
    let verify = dir.join("verify.sql");
    let rls = dir.join("rls.sql");
    fs::write(&verify, "SELECT bench_verify();\n").unwrap();
    fs::write(&rls, "SELECT bench_rls();\n").unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let rotating = {
        let client = cluster.connect();
        let stop = stop.clone();
        thread::spawn(move || rotator(client, stop))
    };
    let started = Instant::now();
    let out = Command::new(pg_program("pgbench"))
        .args([
            "-n",
            "-c",
            &CLIENTS.to_string(),
            "-j",
            "4",
            "-T",
            &secs.to_string(),
        ])
        .arg("-f")
        .arg(&verify)
        .arg("-f")
        .arg(&rls)
        .args(["-h", cluster.dir().to_str().unwrap()])
        .args(["-p", &cluster.port().to_string(), "-U", "bench", "postgres"])
        .output()
        .expect("run pgbench");
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Release);
    let rotations = rotating.join().expect("the rotating session failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("aborted") && !stdout.contains("aborted"),
        "pgbench failed ({}):\n{stdout}\n{stderr}",
        out.status
    );

    let false_accepts = count(
        &mut admin,
        "SELECT count(*) FROM bench_outcomes o JOIN bench_revocations r USING (kid)
         WHERE o.accepted AND o.t0 > r.committed_at",
    );
    let false_rejects = count(
        &mut admin,
        "SELECT count(*) FROM bench_outcomes o LEFT JOIN bench_revocations r USING (kid)
         WHERE o.refused AND (r.kid IS NULL OR o.t1 < r.started_at)",
    );
    let revoked_refused = count(
        &mut admin,
        "SELECT count(*) FROM bench_outcomes o JOIN bench_revocations r USING (kid)
         WHERE o.refused AND o.t0 > r.committed_at",
    );
    let accepted_before_revocation = count(
        &mut admin,
        "SELECT count(*) FROM bench_outcomes o JOIN bench_revocations r USING (kid)
         WHERE o.accepted AND o.t1 < r.started_at",
    );
    let in_window = count(
        &mut admin,
        "SELECT count(*) FROM bench_outcomes o JOIN bench_revocations r USING (kid)
         WHERE o.t1 >= r.started_at AND o.t0 <= r.committed_at",
    );
    let checks = count(&mut admin, "SELECT count(*) FROM bench_outcomes");
    // An RLS statement that saw some of its rows but not all: the key set changed within one
    // statement (asserted by the test below, where it is not left to chance).
    let torn = count(
        &mut admin,
        "SELECT count(*) FROM bench_outcomes WHERE how = 'rls' AND seen > 0 AND seen < rows",
    );
    let rls_checks = count(
        &mut admin,
        "SELECT count(*) FROM bench_outcomes WHERE how = 'rls'",
    );
    let revocations = count(
        &mut admin,
        "SELECT count(*) FROM bench_revocations WHERE committed_at IS NOT NULL",
    );
    let tps = stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .unwrap_or("tps = ?")
        .to_string();
    let latency = stdout
        .lines()
        .find(|l| l.starts_with("latency average"))
        .unwrap_or("latency average = ?")
        .to_string();

    println!(
        "load: {secs} s, {CLIENTS} clients, {checks} checks ({rls_checks} through RLS) in {elapsed:.1?}: \
         {tps}; {latency}; {rotations} rotations, {revocations} revocations committed; \
         {revoked_refused} refusals after a revocation, {accepted_before_revocation} acceptances before one, \
         {in_window} checks overlapping a revocation ({torn} RLS statements saw part of their rows); \
         false accepts {false_accepts}, false rejects {false_rejects}"
    );
    assert_eq!(
        false_accepts, 0,
        "a revoked key's token was accepted after the revocation committed"
    );
    assert_eq!(false_rejects, 0, "a trusted key's token was refused");
    // The run means something: keys changed many times, both outcomes were seen around them.
    assert!(revocations >= 5, "only {revocations} revocations");
    assert!(
        revoked_refused >= 100,
        "only {revoked_refused} checks after a revocation"
    );
    assert!(
        accepted_before_revocation >= 100,
        "only {accepted_before_revocation} checks before a revocation"
    );
    assert!(rls_checks >= 100, "only {rls_checks} RLS checks");
    assert!(
        checks as f64 >= 20.0 * secs as f64,
        "only {checks} checks in {secs} s"
    );
}

/// A revocation that commits while one RLS statement is scanning: the statement sees one key set
/// (auth.uid() is STABLE: "the key set ... taken as fixed for one statement", src/tokens.rs), so
/// all of its rows or none, never some; the next statement sees none.
#[test]
fn a_revocation_during_a_statement_does_not_tear_it() {
    let cluster = Cluster::start_with_conf("torn-statement", &["auth.jwks_cache_ttl = 0"]);
    let mut admin = cluster.connect();
    admin
        .batch_execute(
            "CREATE EXTENSION pg_auth_keys;
             CREATE ROLE bench LOGIN;
             CREATE TABLE notes (id int PRIMARY KEY, owner uuid NOT NULL);
             INSERT INTO notes SELECT i, '11111111-1111-1111-1111-111111111111' FROM generate_series(1, 300) i;
             ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
             CREATE POLICY notes_owner ON notes USING (owner = auth.uid());
             GRANT SELECT ON notes TO bench;",
        )
        .unwrap();
    let old: String = admin
        .query_one("SELECT auth.rotate_key(auth.create_key())", &[])
        .unwrap()
        .get(0);
    let t = token(&mut admin, ALICE, &old);
    admin
        .query_one("SELECT auth.rotate_key(auth.create_key())", &[])
        .unwrap();

    let mut config = cluster.config("postgres");
    config.user("bench");
    let mut user = config.connect(postgres::NoTls).unwrap();
    user.execute(
        "SELECT set_config('request.headers', json_build_object('authorization', 'Bearer ' || $1::text)::text, false)",
        &[&t],
    )
    .unwrap();
    let all: i64 = user
        .query_one("SELECT count(*) FROM notes", &[])
        .unwrap()
        .get(0);
    assert_eq!(all, 300);
    // About 1.5 s: the policy runs first on each row (pg_sleep is not leakproof).
    let scanning = thread::spawn(move || {
        let n: i64 = user
            .query_one(
                "SELECT count(*) FROM notes WHERE pg_sleep(0.005) IS NOT NULL",
                &[],
            )
            .unwrap()
            .get(0);
        let after: i64 = user
            .query_one("SELECT count(*) FROM notes", &[])
            .unwrap()
            .get(0);
        (n, after)
    });
    thread::sleep(Duration::from_millis(600));
    admin
        .execute("SELECT auth.revoke_key($1, force => true)", &[&old])
        .unwrap();
    let (during, after) = scanning.join().unwrap();
    assert!(
        !scanning_was_too_fast(during, after),
        "the scan ended before the revocation committed; make it slower"
    );
    assert!(
        during == 0 || during == 300,
        "one statement saw {during} of 300 rows: the key set changed in the middle of it"
    );
    assert_eq!(
        after, 0,
        "the next statement still saw rows of a revoked key"
    );
}

/// True when the long statement could not have overlapped the revocation (then the test proves
/// nothing): it saw every row and so did the next statement.
fn scanning_was_too_fast(during: i64, after: i64) -> bool {
    during == 300 && after == 300
}
