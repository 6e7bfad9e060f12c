//! sqlx runs each SQLite connection on a worker thread of its own, and a query
//! is a hop to that thread and back. The workspace's sqlx-sqlite is patched
//! (vendor/README.md) so that returning a connection to the pool no longer
//! pings it through its thread: a query wakes the thread once, not twice.
//!
//! This is its own test binary: it counts the context switches of every sqlx
//! SQLite thread in the process, which other tests' pools would add to.

use accounts::{DatabaseSettings, connect_database};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Voluntary context switches of this process's sqlx SQLite worker threads
/// (named `sqlx-sqlite-worker-N`, which Linux shortens to 15 bytes).
fn sqlite_worker_switches() -> u64 {
    let mut total = 0;
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task is readable");
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("sqlx-sqlite") {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

#[tokio::test]
async fn a_query_wakes_its_sqlite_worker_thread_once() {
    let database = connect_database(&DatabaseSettings {
        url: "sqlite::memory:".to_owned(),
        max_connections: 1,
        acquire_timeout_ms: 5_000,
        acquire_timeout_secs: None,
        run_migrations: false,
    })
    .await
    .expect("an in-memory SQLite database opens");
    let select = || Statement::from_string(DbBackend::Sqlite, "SELECT 1");
    for _ in 0..20 {
        database
            .query_one_raw(select())
            .await
            .expect("SELECT 1 runs");
    }

    const QUERIES: u64 = 300;
    let before = sqlite_worker_switches();
    for _ in 0..QUERIES {
        let row = database
            .query_one_raw(select())
            .await
            .expect("SELECT 1 runs");
        assert!(row.is_some(), "SELECT 1 returns a row");
    }
    let switches = sqlite_worker_switches() - before;

    // Unpatched, the worker wakes for the query and again for the ping of
    // the connection's return to the pool: 600 here.
    assert!(
        switches >= QUERIES * 9 / 10,
        "the count sees the worker thread wake for each query: {switches} switches for {QUERIES} queries"
    );
    assert!(
        switches <= QUERIES * 13 / 10,
        "the worker thread woke {switches} times for {QUERIES} queries: more than once per query"
    );
}
