//! Shared by the hostile-input tests (tests/hostile.rs, tests/hostile_api_keys.rs): one call
//! with hostile arguments, and what its answer must be.
//!
//! Every call must answer as wanted (a SQLSTATE, NULL or a value), with error texts short enough
//! not to echo the input and holding none of the secrets given, leave the connection usable and
//! the server up (same postmaster), and change nothing a refused call must leave alone.

use postgres::types::ToSql;

use crate::{Client, Cluster};

/// What every hostile-input test starts with: a cluster (`name`, `conf`), a superuser session in
/// its database `postgres` that created the extension, and the list of wrong answers, empty.
pub fn start(name: &str, conf: &[&str]) -> (Cluster, Client, Vec<String>) {
    let cluster = Cluster::start_with_conf(name, conf);
    let mut c = cluster.connect();
    c.batch_execute("CREATE EXTENSION pg_auth_keys").unwrap();
    (cluster, c, Vec::new())
}

/// Ten megabytes: far beyond any limit of the extension.
pub const MB10: usize = 10 * 1024 * 1024;
/// Longest error message accepted: enough for any reason, far from echoing the input.
pub const MAX_MESSAGE: usize = 1024;

#[derive(Debug, PartialEq)]
pub enum Want {
    /// Refused with this SQLSTATE, changing nothing.
    Refused(&'static str),
    /// Answered NULL, changing nothing.
    Null,
    /// Answered a value (any), changing nothing.
    Value,
}

/// What a test guards: the state no hostile call may change, and the texts no error may show.
pub struct Guard<'a> {
    /// A query with one text answer that changes whenever the guarded state does.
    pub fingerprint: &'static str,
    /// The guarded state, for the failure message ("the keys or the audit log").
    pub state: &'static str,
    /// Keys and secrets no error message, detail or hint may hold.
    pub secrets: &'a [&'a str],
}

fn started(client: &mut Client) -> String {
    client
        .query_one("SELECT pg_postmaster_start_time()::text", &[])
        .unwrap()
        .get(0)
}

fn fingerprint(client: &mut Client, guard: &Guard) -> String {
    client.query_one(guard.fingerprint, &[]).unwrap().get(0)
}

/// Runs `sql` with `params` and checks the answer against `want` and `guard`. A wrong answer is
/// recorded in `failures` (so that one run reports every wrong answer); a lost connection or a
/// crash panics.
pub fn check(
    failures: &mut Vec<String>,
    client: &mut Client,
    guard: &Guard,
    what: &str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    want: Want,
) {
    let before = fingerprint(client, guard);
    let boot = started(client);
    let result = client.query_opt(sql, params);
    let mut fail = |why: String| failures.push(format!("{what}: {why}"));
    match (&result, &want) {
        (Err(e), Want::Refused(code)) => match e.as_db_error() {
            None => panic!("{what}: not a database error (a crash?): {e:?}"),
            Some(db) if db.code().code() != *code => fail(format!(
                "wanted SQLSTATE {code}, got {} ({:.160})",
                db.code().code(),
                db.message()
            )),
            Some(db) => {
                for (part, text) in [
                    ("message", Some(db.message())),
                    ("detail", db.detail()),
                    ("hint", db.hint()),
                ] {
                    let Some(text) = text else { continue };
                    if text.len() > MAX_MESSAGE {
                        fail(format!(
                            "a {} byte error {part} (starts {:.80})",
                            text.len(),
                            text
                        ));
                    }
                    if let Some(i) = guard.secrets.iter().position(|s| text.contains(s)) {
                        fail(format!("the error {part} holds secret #{i}"));
                    }
                }
            }
        },
        (Ok(row), Want::Null | Want::Value) => {
            let is_null = row
                .as_ref()
                .map(|r| r.try_get::<_, Option<String>>(0).ok().flatten().is_none())
                .unwrap_or(true);
            if is_null != (want == Want::Null) {
                fail(format!(
                    "wanted {want:?}, got {}",
                    if is_null { "NULL" } else { "a value" }
                ));
            }
        }
        (Err(e), _) => fail(format!(
            "wanted {want:?}, got {:?}",
            e.as_db_error()
                .map(|d| (d.code().code(), format!("{:.160}", d.message())))
        )),
        (Ok(_), Want::Refused(code)) => fail(format!("wanted SQLSTATE {code}, got an answer")),
    }
    let alive: i32 = client
        .query_one("SELECT 1", &[])
        .unwrap_or_else(|e| panic!("{what}: the connection is gone: {e:?}"))
        .get(0);
    assert_eq!(alive, 1);
    assert_eq!(
        started(client),
        boot,
        "{what}: the server restarted (a crash)"
    );
    if fingerprint(client, guard) != before {
        failures.push(format!("{what}: changed {}", guard.state));
    }
}

/// Every wrong answer recorded, or none.
pub fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} wrong answer(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
