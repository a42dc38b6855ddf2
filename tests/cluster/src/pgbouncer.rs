//! A real pgbouncer (Debian's `pgbouncer` package, installed by scripts/setup.sh) in front of a
//! test [`Cluster`], as deployments put one in front of PostgreSQL.
//!
//! It listens on a free port of 127.0.0.1 only (no unix socket), reaches the cluster through the
//! cluster's unix socket, trusts its clients like the cluster does, and keeps one server
//! connection per database and user (`default_pool_size = 1`), so that consecutive clients share
//! one backend. Its configuration, user list, log and pid file are written into the cluster's
//! directory when it starts. It runs as the cluster's OS user (pgbouncer refuses root) and is
//! stopped when dropped.

use std::fs;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::{cluster_os_user, cluster_user_ids, current_uid, free_port, path_str, signal};
use crate::{Client, Cluster, NoTls};

/// How pgbouncer hands server connections to clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMode {
    /// A client keeps its server connection until it disconnects; then pgbouncer runs
    /// `server_reset_query` (`DISCARD ALL`) and gives the connection to the next client.
    Session,
    /// A client has a server connection only for the length of each transaction; no reset query
    /// runs between clients.
    Transaction,
}

impl PoolMode {
    fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

/// A running pgbouncer; see the module documentation.
pub struct Pgbouncer {
    port: u16,
    log: PathBuf,
    child: Child,
}

/// The pgbouncer program: Debian installs it in /usr/sbin, which is not on every user's PATH.
fn program() -> PathBuf {
    let sbin = Path::new("/usr/sbin/pgbouncer");
    if sbin.exists() {
        sbin.to_path_buf()
    } else {
        PathBuf::from("pgbouncer")
    }
}

impl Pgbouncer {
    /// Starts pgbouncer for database `postgres` of `cluster` and waits until it accepts
    /// connections. Panics, with its log, when it does not start.
    pub fn start(cluster: &Cluster, mode: PoolMode) -> Pgbouncer {
        let port = free_port();
        let dir = cluster.dir();
        let file = |ext: &str| dir.join(format!("pgbouncer-{port}.{ext}"));
        let (ini, users, log, pid) = (file("ini"), file("users"), file("log"), file("pid"));
        fs::write(&users, "\"postgres\" \"\"\n").expect("write the pgbouncer user list");
        let config = format!(
            "[databases]
postgres = host={socket_dir} port={server_port} dbname=postgres user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = {mode}
server_reset_query = DISCARD ALL
default_pool_size = 1
min_pool_size = 0
reserve_pool_size = 0
max_db_connections = 1
max_client_conn = 20
logfile = {log}
pidfile = {pid}
",
            socket_dir = path_str(dir),
            server_port = cluster.port(),
            users = path_str(&users),
            mode = mode.as_str(),
            log = path_str(&log),
            pid = path_str(&pid),
        );
        fs::write(&ini, config).expect("write the pgbouncer configuration");

        let mut command = match (cluster_os_user(), cluster_user_ids()) {
            (Some(_), Some((uid, gid))) if current_uid() == 0 => {
                let mut c = Command::new(program());
                c.uid(uid).gid(gid);
                c
            }
            (Some(user), _) => {
                let mut c = Command::new("sudo");
                c.args(["-n", "-u", &user, "--"]).arg(program());
                c
            }
            (None, _) => Command::new(program()),
        };
        let child = command
            .arg(&ini)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "start {}: {e} (is pgbouncer installed?)",
                    program().display()
                )
            });
        let mut bouncer = Pgbouncer { port, log, child };
        bouncer.wait_ready();
        bouncer
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("pgbouncer exited at start ({status}):\n{}", self.log_text());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not listen on 127.0.0.1:{} in time:\n{}",
                self.port,
                self.log_text()
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// The connection settings of a client of database `postgres` through the pooler.
    pub fn config(&self) -> postgres::Config {
        let mut config = postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(10));
        config
    }

    /// A new client session through the pooler.
    pub fn connect(&self) -> Client {
        self.config()
            .connect(NoTls)
            .unwrap_or_else(|e| panic!("connect through pgbouncer: {e}\n{}", self.log_text()))
    }

    /// pgbouncer's log so far.
    pub fn log_text(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        // SIGTERM: immediate shutdown (sudo passes it on when it is in between).
        if let Ok(None) = self.child.try_wait() {
            signal("TERM", &self.child.id().to_string());
            let deadline = Instant::now() + Duration::from_secs(10);
            while let Ok(None) = self.child.try_wait() {
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                sleep(Duration::from_millis(20));
            }
        }
        if std::thread::panicking() {
            eprintln!("pgbouncer log:\n{}", self.log_text());
        }
    }
}
