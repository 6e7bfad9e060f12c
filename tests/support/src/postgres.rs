//! A PostgreSQL server for tests: `TEST_DATABASE_URL`, or a throwaway cluster on loopback.
//!
//! The throwaway cluster is started once per test process with the server
//! binaries found on this machine (Debian's `/usr/lib/postgresql/*/bin`, or
//! `PATH`), on a free port on 127.0.0.1, as the `postgres` user when running
//! as root (initdb refuses root). A watchdog process stops it and deletes its
//! directory once the test process has exited, however it exits.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// How tests reach PostgreSQL.
pub(crate) struct Server {
    /// A URL to the maintenance database, for creating and dropping test databases.
    pub(crate) admin_url: String,
}

impl Server {
    /// The URL of database `name` on this server.
    pub(crate) fn database_url(&self, name: &str) -> String {
        let (base, _) = self
            .admin_url
            .rsplit_once('/')
            .unwrap_or((&self.admin_url, ""));
        format!("{base}/{name}")
    }
}

const INSTALL_HINT: &str = "PostgreSQL is needed for the tests and its server binaries were not found \
(looked in /usr/lib/postgresql/*/bin and PATH). Install them with `apt-get install -y postgresql` \
(Debian/Ubuntu), or point TEST_DATABASE_URL at a server (postgres://USER@HOST:PORT/postgres). \
Outside CI you may opt out with TEST_SKIP_POSTGRES=1.";

static SERVER: OnceLock<Option<Server>> = OnceLock::new();

/// The server for this test process, started on first use.
///
/// # Panics
///
/// When PostgreSQL is missing or fails to start, unless the developer opted
/// out (`TEST_SKIP_POSTGRES=1` with `CI` unset): then `None`, announced on stderr.
pub(crate) fn server() -> Option<&'static Server> {
    SERVER
        .get_or_init(|| {
            if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
                return Some(Server { admin_url: url });
            }
            match find_bin_dir() {
                Some(bin) => Some(start_cluster(&bin).unwrap_or_else(|e| panic!("starting PostgreSQL: {e}"))),
                None if opted_out() => {
                    eprintln!("test-support: SKIPPING PostgreSQL tests (TEST_SKIP_POSTGRES=1). {INSTALL_HINT}");
                    None
                }
                None => panic!("{INSTALL_HINT}"),
            }
        })
        .as_ref()
}

fn opted_out() -> bool {
    std::env::var_os("CI").is_none() && std::env::var("TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

fn find_bin_dir() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .collect();
    // Newest major version first.
    candidates.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok()),
        )
    });
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A command for a server binary, run as `postgres` when we are root.
fn pg_command(bin: &Path, program: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(bin.join(program));
        cmd
    } else {
        Command::new(bin.join(program))
    }
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn start_cluster(bin: &Path) -> Result<Server, String> {
    let cluster = Cluster::init(bin)?;
    Ok(Server {
        admin_url: cluster.url("postgres"),
    })
}

/// A PostgreSQL cluster of this test process's own, on loopback.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
    port: u16,
}

impl Cluster {
    /// Creates and starts a cluster; a watchdog removes it once this process has exited.
    fn init(bin: &Path) -> Result<Self, String> {
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("project-alpha-pg-")
            .tempdir_in(std::env::temp_dir())
            .map_err(|e| format!("creating the cluster directory: {e}"))?
            .keep();
        if as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(&dir);
            run(chown, "chown of the cluster directory")?;
        }
        spawn_watchdog(bin, &dir, as_postgres)?;

        let mut initdb = pg_command(bin, "initdb", as_postgres);
        initdb.arg("-D").arg(dir.join("data")).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        run(initdb, "initdb")?;

        let mut cluster = Self {
            bin: bin.to_path_buf(),
            dir,
            as_postgres,
            port: 0,
        };
        // A port found free can be taken before the server binds it: try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            cluster.port = free_port()?;
            match cluster.start() {
                Ok(()) => return Ok(cluster),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The URL of database `name` on this cluster.
    fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Starts the server on its port and waits until it accepts connections.
    fn start(&self) -> Result<(), String> {
        let mut start = pg_command(&self.bin, "pg_ctl", self.as_postgres);
        start.arg("-D").arg(self.dir.join("data")).arg("-l").arg(self.dir.join("server.log")).args(["-w", "-t", "60", "-o"]).arg(format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            self.port,
            self.dir.display()
        ));
        start.arg("start");
        run(start, "pg_ctl start")
    }

    /// Stops the server (fast: sessions are ended, then it shuts down) and waits until it has.
    fn stop(&self) -> Result<(), String> {
        let mut stop = pg_command(&self.bin, "pg_ctl", self.as_postgres);
        stop.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "-t", "60", "stop"]);
        run(stop, "pg_ctl stop")
    }
}

/// A PostgreSQL server of a test's own, which the test may stop and start
/// again (on the same port) to see what a database outage does.
///
/// Unlike the shared server of [`crate::TestDatabase`], it always runs on
/// this machine's server binaries: `TEST_DATABASE_URL` cannot be stopped.
/// It is stopped when dropped; its directory goes once the process has exited.
pub struct PostgresServer {
    cluster: Cluster,
}

impl PostgresServer {
    /// Creates and starts a server.
    ///
    /// # Panics
    ///
    /// When PostgreSQL is missing or fails to start, unless the developer
    /// opted out (`TEST_SKIP_POSTGRES=1` with `CI` unset): then `None`.
    pub fn start() -> Option<Self> {
        match find_bin_dir() {
            Some(bin) => Some(Self {
                cluster: Cluster::init(&bin).unwrap_or_else(|e| panic!("starting PostgreSQL: {e}")),
            }),
            None if opted_out() => {
                eprintln!(
                    "test-support: SKIPPING a PostgreSQL outage test (TEST_SKIP_POSTGRES=1). {INSTALL_HINT}"
                );
                None
            }
            None => panic!("{INSTALL_HINT}"),
        }
    }

    /// The URL of database `name` (`postgres` always exists).
    pub fn url(&self, name: &str) -> String {
        self.cluster.url(name)
    }

    /// Stops the server: open sessions are ended, new connections refused.
    ///
    /// # Panics
    ///
    /// When `pg_ctl stop` fails.
    pub fn stop(&self) {
        self.cluster
            .stop()
            .unwrap_or_else(|e| panic!("stopping PostgreSQL: {e}"));
    }

    /// Starts the server again, on the same port, with the same data.
    ///
    /// # Panics
    ///
    /// When `pg_ctl start` fails.
    pub fn restart(&self) {
        self.cluster
            .start()
            .unwrap_or_else(|e| panic!("starting PostgreSQL again: {e}"));
    }
}

impl PostgresServer {
    /// The first column of every row `sql` returns from database `name`, as text.
    ///
    /// # Panics
    ///
    /// When the database cannot be reached or the query fails.
    pub async fn column(&self, name: &str, sql: &str) -> Vec<String> {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let url = self.url(name);
        let db = Database::connect(url.as_str())
            .await
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = db.close().await;
        rows.iter()
            .map(|row| {
                row.try_get_by_index::<String>(0)
                    .unwrap_or_else(|e| panic!("{sql}: the first column as text: {e}"))
            })
            .collect()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
    }
}

/// Stops the cluster and removes its directory once this process has exited.
fn spawn_watchdog(bin: &Path, dir: &Path, as_postgres: bool) -> Result<(), String> {
    let pg_ctl = bin.join("pg_ctl");
    let stop = if as_postgres {
        format!("runuser -u postgres -- '{}'", pg_ctl.display())
    } else {
        format!("'{}'", pg_ctl.display())
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         {stop} -D '{dir}/data' -m immediate -w stop >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a Ctrl-C to the test run must not kill the cleaner.
        .process_group(0)
        .spawn()
        .map(drop)
        .map_err(|e| format!("starting the cluster watchdog: {e}"))
}
