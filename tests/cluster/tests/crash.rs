//! Crash safety: a postmaster killed with SIGKILL, or a backend killed in the middle of a key
//! change (the server then resets shared memory), leaves a consistent key set behind.
//!
//! One session runs a loop of key changes (create, rotate, revoke, delete, and a transaction
//! doing several at once) while the test kills the server at a random-ish moment. The loop keeps
//! a model of every change whose COMMIT returned, and names the one change in flight. After the
//! restart:
//! - at most one key is `in_use`, and every key's state is the one its last `auth.key_events`
//!   row says (and every deleted key's last row is its deletion);
//! - every committed change is there, and the change in flight is there entirely or not at all;
//! - shared memory was rebuilt from the tables: `auth.stats()` starts from zero, the first
//!   verification loads the key set once (`key_set_loads`, `generation`), later sessions share it;
//! - tokens of trusted keys verify, tokens of revoked or deleted keys do not.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pg_auth_keys_cluster_tests::{Client, Cluster};

const CONF: &[&str] = &[
    "auth.jwks_cache_ttl = 0",
    "restart_after_crash = on",
    // Far more slots than the loop keeps alive: running out is another test's subject.
    "auth.max_keys = 256",
];
/// Tokens verified after each crash (the most recent ones): enough to cover every state.
const TOKENS_CHECKED: usize = 80;
const ALICE: &str = "11111111-1111-1111-1111-111111111111";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No row and no deletion in the audit log: never created (or its creation rolled back).
    Absent,
    Standby,
    InUse,
    PreviouslyUsed,
    Revoked,
    Deleted,
}

impl State {
    fn parse(s: &str) -> State {
        match s {
            "standby" => State::Standby,
            "in_use" => State::InUse,
            "previously_used" => State::PreviouslyUsed,
            "revoked" => State::Revoked,
            other => panic!("unknown key state {other}"),
        }
    }
    fn trusted(self) -> bool {
        matches!(self, State::Standby | State::InUse | State::PreviouslyUsed)
    }
}

/// The change in flight: the states of the keys it touches before and after it. `creates` is
/// set when it creates a key whose kid the client has not learned yet.
#[derive(Clone, Debug, Default)]
struct Pending {
    before: BTreeMap<String, State>,
    after: BTreeMap<String, State>,
    creates: bool,
}

/// What the client knows was committed.
#[derive(Default)]
struct Model {
    keys: BTreeMap<String, State>,
    /// (kid, token) of tokens signed by that key.
    tokens: Vec<(String, String)>,
    pending: Option<Pending>,
    /// Changes that committed, over all iterations.
    committed: usize,
}

impl Model {
    fn with_state(&self, state: State) -> Vec<String> {
        self.keys
            .iter()
            .filter(|(_, s)| **s == state)
            .map(|(k, _)| k.clone())
            .collect()
    }
    fn in_use(&self) -> Option<String> {
        self.with_state(State::InUse).into_iter().next()
    }
}

/// A pseudo-random number from the clock (no rand crate; the point is only to vary the moment).
fn jitter(modulo: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    (nanos ^ (nanos >> 7).wrapping_mul(0x9E37_79B9)) % modulo
}

/// True for errors that mean the server or the connection went away (what a crash looks like),
/// false for an SQL error (which would be a bug in the loop or the extension).
fn lost_connection(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.as_db_error() {
        None => true,
        Some(db) => {
            let code = db.code().code();
            code.starts_with("57P") || code.starts_with("08")
        }
    }
}

enum Step {
    Done,
    Lost,
}

/// Runs one statement of the loop; Err(Lost) when the server went away.
/// (Simple protocol: every value comes back as text, including `void`.)
fn run(client: &mut Client, sql: &str) -> Result<Option<String>, Step> {
    match client.simple_query(sql) {
        Ok(messages) => Ok(messages.iter().find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })),
        Err(e) if lost_connection(&e) => Err(Step::Lost),
        Err(e) => panic!("{sql}: {e:?}"),
    }
}

fn begin(model: &mut Model, before: &[(&str, State)], after: &[(&str, State)], creates: bool) {
    model.pending = Some(Pending {
        before: before.iter().map(|(k, s)| (k.to_string(), *s)).collect(),
        after: after.iter().map(|(k, s)| (k.to_string(), *s)).collect(),
        creates,
    });
}

fn committed(model: &mut Model) {
    let p = model.pending.take().expect("a change in flight");
    for (kid, state) in p.after {
        model.keys.insert(kid, state);
    }
    model.committed += 1;
}

fn sign(client: &mut Client, model: &mut Model) -> Result<(), Step> {
    let Some(kid) = model.in_use() else {
        return Ok(());
    };
    let token = run(
        client,
        &format!(
            "SELECT auth.sign_jwt('{{\"sub\":\"{ALICE}\",\"role\":\"authenticated\"}}', '{kid}')"
        ),
    )?
    .expect("a token");
    model.tokens.push((kid, token));
    Ok(())
}

/// A token for [`ALICE`] (role `authenticated`), signed with the key in use in `client`'s view.
fn alice_token(client: &mut Client) -> String {
    client
        .query_one(
            "SELECT auth.sign_jwt($1::text::jsonb)",
            &[&format!(
                "{{\"sub\":\"{ALICE}\",\"role\":\"authenticated\"}}"
            )],
        )
        .unwrap()
        .get(0)
}

/// One step of the loop, chosen by `i`. Every change is one autocommit statement, except step 4,
/// a transaction that creates, rotates and revokes.
fn step(client: &mut Client, model: &mut Model, i: usize) -> Result<Step, Step> {
    let algs = ["ES256", "EdDSA", "HS256"];
    match i % 6 {
        0 => {
            begin(model, &[], &[], true);
            let kid = run(
                client,
                &format!("SELECT auth.create_key('{}', 'crash loop')", algs[i % 3]),
            )?
            .expect("a kid");
            model
                .pending
                .as_mut()
                .unwrap()
                .after
                .insert(kid, State::Standby);
            committed(model);
        }
        1 if model.with_state(State::Standby).is_empty() => {}
        1 => {
            let new = model.with_state(State::Standby).pop().unwrap();
            let old = model.in_use();
            let mut before = vec![(new.as_str(), State::Standby)];
            let mut after = vec![(new.as_str(), State::InUse)];
            if let Some(old) = &old {
                before.push((old, State::InUse));
                after.push((old, State::PreviouslyUsed));
            }
            begin(model, &before, &after, false);
            run(client, &format!("SELECT auth.rotate_key('{new}')"))?;
            committed(model);
            sign(client, model)?;
        }
        2 => sign(client, model)?,
        3 => {
            let Some(old) = model.with_state(State::PreviouslyUsed).into_iter().next() else {
                return Ok(Step::Done);
            };
            begin(
                model,
                &[(&old, State::PreviouslyUsed)],
                &[(&old, State::Revoked)],
                false,
            );
            run(
                client,
                &format!("SELECT auth.revoke_key('{old}', force => true)"),
            )?;
            committed(model);
        }
        4 => {
            // Several changes in one transaction: all of them or none survive a crash.
            let old = model.in_use();
            let prev = model.with_state(State::PreviouslyUsed).into_iter().next();
            // Until COMMIT is sent nothing of it can survive; the kid is known before that.
            begin(model, &[], &[], false);
            run(client, "BEGIN")?;
            let new = run(client, "SELECT auth.create_key('ES256', 'crash batch')")?.unwrap();
            {
                let p = model.pending.as_mut().unwrap();
                p.before.insert(new.clone(), State::Absent);
                p.after.insert(new.clone(), State::InUse);
                if let Some(old) = &old {
                    p.before.insert(old.clone(), State::InUse);
                    p.after.insert(old.clone(), State::PreviouslyUsed);
                }
                if let Some(prev) = &prev {
                    p.before.insert(prev.clone(), State::PreviouslyUsed);
                    p.after.insert(prev.clone(), State::Revoked);
                }
            }
            run(client, &format!("SELECT auth.rotate_key('{new}')"))?;
            if let Some(prev) = &prev {
                run(
                    client,
                    &format!("SELECT auth.revoke_key('{prev}', force => true)"),
                )?;
            }
            run(client, "COMMIT")?;
            committed(model);
            sign(client, model)?;
        }
        _ => {
            // Delete every revoked key but one, so that both kinds of refused token stay around
            // and the number of keys stays small.
            let revoked = model.with_state(State::Revoked);
            for gone in revoked.iter().skip(1) {
                begin(
                    model,
                    &[(gone, State::Revoked)],
                    &[(gone, State::Deleted)],
                    false,
                );
                run(client, &format!("SELECT auth.delete_key('{gone}')"))?;
                committed(model);
            }
        }
    }
    Ok(Step::Done)
}

/// The loop, running in its own session until the server goes away (or `limit` passes).
struct Loop {
    handle: thread::JoinHandle<Model>,
    /// The loop session's backend PID.
    pid: i32,
    /// Steps done so far.
    steps: Arc<AtomicUsize>,
}

impl Loop {
    /// Waits until the loop has done `n` steps, then a random-ish `0..jitter_ms` more.
    fn wait_steps(&self, n: usize, jitter_ms: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.steps.load(Ordering::Relaxed) < n {
            assert!(Instant::now() < deadline, "the loop is stuck");
            thread::sleep(Duration::from_millis(5));
        }
        let delay = jitter(jitter_ms);
        thread::sleep(Duration::from_millis(delay));
        delay
    }
    fn join(self) -> Model {
        self.handle.join().expect("the loop panicked")
    }
}

fn spawn_loop(cluster: &Cluster, mut model: Model, limit: Duration) -> Loop {
    let mut client = cluster.connect();
    let (tx, rx) = mpsc::channel();
    let steps = Arc::new(AtomicUsize::new(0));
    let counter = steps.clone();
    let handle = thread::spawn(move || {
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        tx.send(pid).unwrap();
        let deadline = Instant::now() + limit;
        let mut i = 0;
        while Instant::now() < deadline {
            match step(&mut client, &mut model, i) {
                Ok(_) => {
                    i += 1;
                    counter.store(i, Ordering::Relaxed);
                }
                Err(_) => return model,
            }
        }
        panic!("the loop ran {i} steps for {limit:?} and the server never went away");
    });
    let pid = rx.recv().expect("the loop's backend pid");
    Loop { handle, pid, steps }
}

/// Every key's state in the tables, deleted keys (audit) as Deleted.
fn db_states(client: &mut Client) -> BTreeMap<String, State> {
    let mut states: BTreeMap<String, State> = BTreeMap::new();
    for row in client
        .query(
            "SELECT kid FROM auth.key_events WHERE action = 'delete'",
            &[],
        )
        .unwrap()
    {
        states.insert(row.get(0), State::Deleted);
    }
    for row in client
        .query("SELECT kid, state::text FROM auth_private._keys", &[])
        .unwrap()
    {
        let kid: String = row.get(0);
        let state: String = row.get(1);
        assert!(
            !states.contains_key(&kid),
            "key {kid} is in auth_private._keys but the audit log says it was deleted"
        );
        states.insert(kid, State::parse(&state));
    }
    states
}

/// The invariants that hold whatever the client knows: one key in use at most, and each key's
/// state is what its last audit row says.
fn check_tables(client: &mut Client) {
    let in_use: i64 = client
        .query_one(
            "SELECT count(*) FROM auth_private._keys WHERE state = 'in_use'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(in_use <= 1, "{in_use} keys are in_use");
    let wrong = client
        .query(
            "SELECT k.kid, k.state::text, e.action, e.detail::text
             FROM auth_private._keys k
             LEFT JOIN LATERAL (SELECT * FROM auth.key_events e WHERE e.kid = k.kid
                                ORDER BY e.id DESC LIMIT 1) e ON true
             WHERE e.id IS NULL
                OR CASE WHEN e.action IN ('create', 'import') THEN k.state <> 'standby'
                        WHEN e.action = 'migrate_legacy_secret' THEN k.state <> 'in_use'
                        WHEN e.action IN ('transition', 'forced_transition')
                             THEN k.state::text <> e.detail ->> 'to'
                        ELSE true END",
            &[],
        )
        .unwrap();
    let wrong: Vec<String> = wrong
        .iter()
        .map(|r| {
            format!(
                "{} is {} but its last audit row is {:?} {:?}",
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, Option<String>>(2),
                r.get::<_, Option<String>>(3)
            )
        })
        .collect();
    assert!(wrong.is_empty(), "audit log and keys disagree: {wrong:#?}");
    let orphans: Vec<String> = client
        .query(
            "SELECT kid FROM (SELECT DISTINCT ON (kid) kid, action FROM auth.key_events
                              WHERE kid IS NOT NULL ORDER BY kid, id DESC) last
             WHERE action <> 'delete' AND NOT EXISTS (SELECT 1 FROM auth_private._keys k WHERE k.kid = last.kid)",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        orphans.is_empty(),
        "keys with audit rows but neither a row nor a deletion: {orphans:?}"
    );
}

/// Compares the tables with the model: committed changes are there, the change in flight is
/// there entirely or not at all. Updates the model to what survived.
fn reconcile(client: &mut Client, model: &mut Model) {
    let db = db_states(client);
    let state_of = |kid: &str| db.get(kid).copied().unwrap_or(State::Absent);
    let pending = model.pending.take().unwrap_or_default();
    for (kid, state) in &model.keys {
        if pending.before.contains_key(kid) {
            continue;
        }
        assert_eq!(
            state_of(kid),
            *state,
            "key {kid}: a committed change was lost (or an uncommitted one survived)"
        );
    }
    let matches = |side: &BTreeMap<String, State>| side.iter().all(|(kid, s)| state_of(kid) == *s);
    let applied = if pending.before.is_empty() {
        false
    } else if matches(&pending.after) {
        true
    } else {
        let now: BTreeMap<_, _> = pending.before.keys().map(|k| (k, state_of(k))).collect();
        assert!(
            matches(&pending.before),
            "the change in flight was half-applied: before {:?}, after {:?}, now {now:?}",
            pending.before,
            pending.after
        );
        false
    };
    let unknown: Vec<(&String, &State)> = db
        .iter()
        .filter(|(kid, _)| !model.keys.contains_key(*kid) && !pending.after.contains_key(*kid))
        .collect();
    if pending.creates {
        assert!(
            unknown.len() <= 1 && unknown.iter().all(|(_, s)| **s == State::Standby),
            "a creation in flight left {unknown:?}"
        );
    } else {
        assert!(unknown.is_empty(), "keys nobody created: {unknown:?}");
    }
    let unknown: Vec<(String, State)> = unknown.iter().map(|(k, s)| ((*k).clone(), **s)).collect();
    for (kid, state) in unknown {
        model.keys.insert(kid, state);
    }
    if applied {
        for (kid, state) in pending.after {
            model.keys.insert(kid, state);
        }
        model.committed += 1;
    } else {
        for (kid, state) in pending.before {
            if state == State::Absent {
                model.keys.remove(&kid);
            } else {
                model.keys.insert(kid, state);
            }
        }
    }
}

fn stats(client: &mut Client) -> serde_json::Value {
    let text: String = client
        .query_one("SELECT auth.stats()::text", &[])
        .unwrap()
        .get(0);
    serde_json::from_str(&text).unwrap()
}

fn counter(stats: &serde_json::Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("auth.stats() has no {name}: {stats}"))
}

/// Right after a (crash) restart: shared memory starts empty and is filled from the tables by
/// the first verification; every token verifies exactly when its key is trusted.
fn check_fresh_shared_memory_and_tokens(cluster: &Cluster, model: &Model) {
    let mut first = cluster.connect();
    let fresh = stats(&mut first);
    assert_eq!(
        counter(&fresh, "key_set_loads"),
        0,
        "not a fresh shared memory: {fresh}"
    );
    assert_eq!(counter(&fresh, "verify_ok"), 0, "{fresh}");
    assert_eq!(counter(&fresh, "verify_failed"), 0, "{fresh}");
    assert_eq!(counter(&fresh, "generation"), 1, "{fresh}");
    let mut trusted = 0;
    let checked = &model.tokens[model.tokens.len().saturating_sub(TOKENS_CHECKED)..];
    for (kid, token) in checked {
        let state = model.keys.get(kid).copied().unwrap_or(State::Absent);
        let result = first.query_one("SELECT auth.verify_jwt($1) ->> 'sub'", &[token]);
        if state.trusted() {
            let sub: String = result
                .unwrap_or_else(|e| panic!("a token of {kid} ({state:?}) was refused: {e:?}"))
                .get(0);
            assert_eq!(sub, ALICE);
            trusted += 1;
        } else {
            let err = result.expect_err(&format!("a token of {kid} ({state:?}) verified"));
            let db = err.as_db_error().expect("a database error");
            assert_eq!(db.code().code(), "28000", "{kid}: {}", db.message());
            let want = if state == State::Deleted {
                "unknown kid"
            } else {
                "key revoked"
            };
            assert_eq!(db.message(), want, "token of {kid} ({state:?})");
        }
    }
    let loaded = stats(&mut first);
    assert_eq!(counter(&loaded, "key_set_loads"), 1, "{loaded}");
    assert_eq!(counter(&loaded, "generation"), 2, "{loaded}");
    assert_eq!(
        counter(&loaded, "verify_ok") + counter(&loaded, "verify_failed"),
        checked.len() as u64,
        "{loaded}"
    );
    // A new session reads the table once, at its first use (it cannot know which invalidations
    // were sent before it started), and then verifies the same way.
    let mut second = cluster.connect();
    if let Some((_, token)) = model
        .tokens
        .iter()
        .rev()
        .find(|(kid, _)| model.keys.get(kid).is_some_and(|s| s.trusted()))
    {
        let claims: Option<String> = second
            .query_one("SELECT auth.try_verify_jwt($1) ->> 'sub'", &[token])
            .unwrap()
            .get(0);
        assert_eq!(claims.as_deref(), Some(ALICE));
        // And through RLS's path: bound claims.
        second.batch_execute("BEGIN").unwrap();
        second
            .execute("SELECT auth.authenticate($1)", &[token])
            .unwrap();
        let uid: Option<String> = second
            .query_one("SELECT auth.uid()::text", &[])
            .unwrap()
            .get(0);
        assert_eq!(uid.as_deref(), Some(ALICE));
        second.batch_execute("COMMIT").unwrap();
    }
    let shared = stats(&mut second);
    assert_eq!(counter(&shared, "key_set_loads"), 2, "{shared}");
    eprintln!(
        "  ok: {} keys, {trusted} of {} tokens trusted, {} changes committed so far",
        model.keys.len(),
        checked.len(),
        model.committed
    );
}

fn setup(cluster: &Cluster) -> Model {
    let mut admin = cluster.connect();
    admin
        .batch_execute("CREATE EXTENSION pg_auth_keys")
        .unwrap();
    let mut model = Model::default();
    let kid: String = admin
        .query_one("SELECT auth.create_key()", &[])
        .unwrap()
        .get(0);
    admin
        .execute("SELECT auth.rotate_key($1)", &[&kid])
        .unwrap();
    model.keys.insert(kid, State::InUse);
    sign(&mut admin, &mut model).unwrap_or_else(|_| panic!("sign"));
    model
}

#[test]
fn postmaster_sigkill_during_key_changes() {
    let started = Instant::now();
    let mut cluster = Cluster::start_with_conf("crash-postmaster", CONF);
    let mut model = setup(&cluster);
    for iteration in 0..3 {
        let worker = spawn_loop(&cluster, model, Duration::from_secs(30));
        let delay = worker.wait_steps(6 + iteration * 5, 500);
        cluster.kill9();
        let steps = worker.steps.load(Ordering::Relaxed);
        model = worker.join();
        eprintln!(
            "iteration {iteration}: postmaster killed {delay} ms after step {}, at step {steps}; in flight: {:?}",
            6 + iteration * 5,
            model.pending
        );
        cluster.start_again();
        let mut admin = cluster.connect();
        check_tables(&mut admin);
        reconcile(&mut admin, &mut model);
        check_fresh_shared_memory_and_tokens(&cluster, &model);
    }
    assert!(
        model.committed >= 6,
        "only {} changes committed",
        model.committed
    );
    assert!(
        model
            .keys
            .values()
            .any(|s| *s == State::Revoked || *s == State::Deleted),
        "the loop never revoked a key: {:?}",
        model.keys
    );
    eprintln!("postmaster crashes: {:?}", started.elapsed());
}

#[test]
fn backend_sigkill_during_key_changes() {
    let started = Instant::now();
    let mut cluster = Cluster::start_with_conf("crash-backend", CONF);
    let mut model = setup(&cluster);

    // 1. Killed inside an open transaction that created, rotated, revoked and signed: nothing of
    //    it survives, the key set in shared memory is rebuilt from the tables.
    {
        let mut admin = cluster.connect();
        let old = model.in_use().unwrap();
        let spare: String = admin
            .query_one("SELECT auth.create_key('EdDSA')", &[])
            .unwrap()
            .get(0);
        admin
            .execute("SELECT auth.rotate_key($1)", &[&spare])
            .unwrap();
        model.keys.insert(spare.clone(), State::InUse);
        model.keys.insert(old.clone(), State::PreviouslyUsed);
        let token = alice_token(&mut admin);
        model.tokens.push((spare.clone(), token.clone()));
        let mut other = cluster.connect();
        let before: Option<String> = other
            .query_one("SELECT auth.try_verify_jwt($1) ->> 'sub'", &[&token])
            .unwrap()
            .get(0);
        assert_eq!(before.as_deref(), Some(ALICE));

        let pid: i32 = admin
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        admin.batch_execute("BEGIN").unwrap();
        let fresh: String = admin
            .query_one("SELECT auth.create_key('HS256')", &[])
            .unwrap()
            .get(0);
        admin
            .execute("SELECT auth.rotate_key($1)", &[&fresh])
            .unwrap();
        admin
            .execute("SELECT auth.revoke_key($1, force => true)", &[&old])
            .unwrap();
        let uncommitted = alice_token(&mut admin);
        // The transaction's own view: the old key is revoked.
        let own: Option<String> = admin
            .query_one(
                "SELECT auth.try_verify_jwt($1) ->> 'sub'",
                &[&model.tokens[0].1],
            )
            .unwrap()
            .get(0);
        assert_eq!(own, None);
        cluster.kill9_backend(pid);
        assert!(admin.is_closed() || admin.simple_query("SELECT 1").is_err());

        let mut check = cluster.connect();
        check_tables(&mut check);
        let db = db_states(&mut check);
        assert_eq!(db.get(&fresh), None, "the uncommitted key survived");
        assert_eq!(db.get(&old), Some(&State::PreviouslyUsed));
        reconcile(&mut check, &mut model);
        check_fresh_shared_memory_and_tokens(&cluster, &model);
        let err = check
            .query_one("SELECT auth.verify_jwt($1)", &[&uncommitted])
            .expect_err("a token of a key that was never committed verified");
        assert_eq!(err.as_db_error().unwrap().message(), "unknown kid");
        eprintln!("killed inside an open key-changing transaction: consistent");
    }

    // 2. The key-change loop's backend killed at random moments.
    for iteration in 0..3 {
        let worker = spawn_loop(&cluster, model, Duration::from_secs(30));
        let delay = worker.wait_steps(4 + iteration * 3, 400);
        cluster.kill9_backend(worker.pid);
        let steps = worker.steps.load(Ordering::Relaxed);
        model = worker.join();
        eprintln!(
            "iteration {iteration}: backend killed {delay} ms after step {}, at step {steps}; in flight: {:?}",
            4 + iteration * 3,
            model.pending
        );
        let mut admin = cluster.connect();
        check_tables(&mut admin);
        reconcile(&mut admin, &mut model);
        check_fresh_shared_memory_and_tokens(&cluster, &model);
    }

    // 3. A verifying backend killed while other sessions change keys: the reset takes everyone
    //    down, and what comes back is consistent.
    {
        let mut verifier = cluster.connect();
        let pid: i32 = verifier
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        let tokens: Vec<String> = model.tokens.iter().map(|(_, t)| t.clone()).collect();
        let busy = thread::spawn(move || {
            let _ = verifier.batch_execute("SET auth.token_cache_entries = 0");
            // Until the connection dies.
            loop {
                let r = verifier.query_one(
                    "SELECT count(auth.try_verify_jwt(t)) FROM unnest($1::text[]) t, generate_series(1, 50)",
                    &[&tokens],
                );
                if let Err(e) = r {
                    assert!(lost_connection(&e), "{e:?}");
                    return;
                }
            }
        });
        let worker = spawn_loop(&cluster, model, Duration::from_secs(30));
        let delay = worker.wait_steps(3, 300);
        cluster.kill9_backend(pid);
        busy.join().expect("the verifier panicked");
        let steps = worker.steps.load(Ordering::Relaxed);
        model = worker.join();
        eprintln!(
            "verifier killed {delay} ms after step 3, at step {steps}; in flight: {:?}",
            model.pending
        );
        let mut admin = cluster.connect();
        check_tables(&mut admin);
        reconcile(&mut admin, &mut model);
        check_fresh_shared_memory_and_tokens(&cluster, &model);
    }
    eprintln!("backend crashes: {:?}", started.elapsed());
}
