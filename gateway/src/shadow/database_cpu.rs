//! The database work of budgeted mirrors that runs outside their task.
//!
//! A mirror to the in-process service runs its SQL on sqlx's SQLite worker
//! threads (one per connection), not in the mirror's task, so the budget's
//! meter ([`super::budget::metered`]) does not see it; on a saturated core
//! those threads take CPU from clients all the same. Every
//! [`SAMPLE_EVERY`], [`spawn`] reads the CPU time of those threads (Linux:
//! `/proc/self/task/*/schedstat`) and charges the budget the share of it
//! that budgeted mirrors caused: that CPU time × budgeted mirror dispatches
//! ÷ all in-process dispatches over the period ([`mirrors_share`]). With
//! PostgreSQL the SQL runs in the database server's processes, and nothing
//! is charged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::budget::ComparisonBudget;

/// How often the database threads' CPU time is sampled and charged.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// How often the list of database threads is read again (connections open and close).
const RESCAN_EVERY: u32 = 25;
/// The name sqlx gives its SQLite worker threads (`sqlx-sqlite-worker-N`,
/// shown truncated to 15 bytes by the kernel).
const THREAD_PREFIX: &str = "sqlx-sqlite";

/// In-process dispatches to the service, mirrors and replays included.
static SERVICE_DISPATCHES: AtomicU64 = AtomicU64::new(0);
/// In-process dispatches made by mirrors that run on the budget.
static BUDGETED_SERVICE_MIRRORS: AtomicU64 = AtomicU64::new(0);

/// Counts one in-process dispatch to the service.
pub fn count_service_dispatch() {
    SERVICE_DISPATCHES.fetch_add(1, Ordering::Relaxed);
}

/// Counts one in-process dispatch made by a mirror that runs on the budget.
pub fn count_budgeted_service_mirror() {
    BUDGETED_SERVICE_MIRRORS.fetch_add(1, Ordering::Relaxed);
}

/// The part of `database` (the database threads' CPU over a period) due to
/// `budgeted` of the `all` in-process dispatches of that period.
pub fn mirrors_share(database: Duration, budgeted: u64, all: u64) -> Duration {
    if all == 0 || budgeted == 0 {
        return Duration::ZERO;
    }
    database.mul_f64((budgeted.min(all) as f64) / (all as f64))
}

/// The CPU time of this process's database threads, read from `/proc`.
#[derive(Debug, Default)]
pub struct DatabaseThreads {
    tids: Vec<String>,
    samples: u32,
}

impl DatabaseThreads {
    /// The total CPU time the database threads have used so far; `None`
    /// where `/proc/self/task` cannot be read (not Linux).
    pub fn cpu(&mut self) -> Option<Duration> {
        if self.samples.is_multiple_of(RESCAN_EVERY) {
            self.tids = database_threads()?;
        }
        self.samples = self.samples.wrapping_add(1);
        Some(self.tids.iter().filter_map(|tid| thread_cpu(tid)).sum())
    }
}

/// The CPU time thread `tid` of this process has used (`schedstat`'s first field, in nanoseconds).
fn thread_cpu(tid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let nanos = stat.split_whitespace().next()?.parse::<u64>().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The ids of this process's threads named like sqlx's SQLite workers.
fn database_threads() -> Option<Vec<String>> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(Result::ok)
            .filter_map(|task| {
                let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
                comm.starts_with(THREAD_PREFIX)
                    .then(|| task.file_name().to_string_lossy().into_owned())
            })
            .collect(),
    )
}

/// Charges `budget`, every [`SAMPLE_EVERY`], with the database threads' CPU
/// that budgeted mirrors caused. Runs until the runtime stops; does nothing
/// where the threads' CPU time cannot be read.
pub fn spawn(budget: Arc<ComparisonBudget>) {
    tokio::spawn(async move {
        let mut threads = DatabaseThreads::default();
        let Some(mut cpu) = threads.cpu() else {
            return;
        };
        let counts = || {
            (
                BUDGETED_SERVICE_MIRRORS.load(Ordering::Relaxed),
                SERVICE_DISPATCHES.load(Ordering::Relaxed),
            )
        };
        let mut previous = counts();
        let mut ticks = tokio::time::interval(SAMPLE_EVERY);
        loop {
            ticks.tick().await;
            let Some(now_cpu) = threads.cpu() else {
                return;
            };
            let now = counts();
            let cost = mirrors_share(
                now_cpu.saturating_sub(cpu),
                now.0.saturating_sub(previous.0),
                now.1.saturating_sub(previous.1),
            );
            if !cost.is_zero() {
                budget.charge_database(cost);
            }
            (cpu, previous) = (now_cpu, now);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgeted_mirrors_pay_their_share_of_the_database_threads() {
        let ms = Duration::from_millis;
        assert_eq!(mirrors_share(ms(100), 1, 4), ms(25));
        assert_eq!(mirrors_share(ms(100), 4, 4), ms(100));
        assert_eq!(mirrors_share(ms(100), 0, 4), Duration::ZERO);
        assert_eq!(mirrors_share(ms(100), 3, 0), Duration::ZERO);
        // Counters read a moment apart: never more than the whole.
        assert_eq!(mirrors_share(ms(100), 5, 4), ms(100));
    }

    #[test]
    fn the_cpu_of_threads_named_like_sqlx_workers_is_read() {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("sqlx-sqlite-worker-test".to_owned())
            .spawn(move || {
                let started = std::time::Instant::now();
                // Busy for 50 ms, then wait to be read before exiting.
                while started.elapsed() < Duration::from_millis(50) {
                    std::hint::black_box(started.elapsed());
                }
                let _ = tid_tx.send(rustix::thread::gettid().as_raw_nonzero().to_string());
                let _ = stopped.recv();
            })
            .expect("a thread");
        let tid = tid_rx.recv().expect("the worker's id");
        let mut threads = DatabaseThreads::default();
        let total = threads.cpu().expect("/proc/self/task is readable on Linux");
        let own = thread_cpu(&tid);
        let _ = stop.send(());
        worker.join().expect("the worker ends");
        assert!(
            threads.tids.contains(&tid),
            "{tid} not in {:?}",
            threads.tids
        );
        let own = own.expect("the worker's schedstat");
        assert!(
            own >= Duration::from_millis(20),
            "{own:?}: its busy time was not seen"
        );
        assert!(total >= own, "{total:?} < {own:?}");
    }
}
