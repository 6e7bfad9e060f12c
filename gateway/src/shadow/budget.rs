//! The comparison budget: the mirrors that still run while the workers are busy.
//!
//! The headroom rule ([`super::headroom`]) admits every mirror while the
//! workers have time to spare. Past `[shadow] max_busy`, a mirror runs only
//! on the budget: mirrors may take `[shadow] budget` of the CPU time the
//! gateway spends (2 % by default), so comparisons keep flowing at saturation
//! at a cost that is bounded and measured. The budget is a ledger of CPU time:
//!
//! - it earns `budget` seconds of credit per second of CPU time the gateway's
//!   process uses, all its threads together (read at most every
//!   [`CPU_READ_EVERY`]); at most `budget × workers` × one second is banked,
//!   so an idle spell buys no burst. Credit follows the gateway's own work,
//!   not the clock: a gateway that shares its cores with other processes
//!   (the database, a sidecar, a benchmark's load) earns for what it does,
//!   and `budget = 0.02` means 2 % of its CPU wherever it runs;
//! - mirrors are admitted in bursts of [`BURST`] consecutive ones: a burst
//!   opens once the credit covers the mean cost of all but the last of its
//!   mirrors, and each mirror reserves that mean cost ([`Reservation`]). A
//!   mirror admitted alone among thousands of primaries runs cold (its code
//!   and data evicted from the caches by theirs); in a burst all but the
//!   first find them warm, so the same budget compares more requests;
//! - when it ends, its real cost — the CPU time its task's polls took on
//!   the workers ([`metered`]) — replaces the reservation. A mirror that never
//!   starts (the primary failed, the body was too large) gives it back.
//!
//! [`BudgetReport`] says what was spent: the summary shows it.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Mirrors admitted in a row once the credit covers them: measured under
/// `tests/bench/forward.sh`'s pinned load with the default 2 % budget, one
/// at a time a mirror's metered cost was about 100 µs and 1 % of requests
/// were compared; in bursts of 16, about 40 µs and 2.4 %.
pub const BURST: u32 = 16;
/// What a mirror is reserved before its first one is measured.
const FIRST_ESTIMATE: Duration = Duration::from_micros(200);
/// Credit banked at most: what this much wall time of every worker earns.
const MAX_BANKED: Duration = Duration::from_secs(1);
/// The process's CPU clock is read at most this often: reading it is a
/// system call that sums every thread's time (taking each one's run-queue
/// lock), too dear for every request: at 1 ms it took 0.3 % of the
/// gateway's CPU under `tests/bench/forward.sh`'s pinned load.
pub const CPU_READ_EVERY: Duration = Duration::from_millis(5);
/// Attempts further apart than this are not one busy spell: the gap is not counted as busy time.
const SPELL_GAP: Duration = Duration::from_secs(1);
/// Weight of the newest mirror in the running mean cost.
const MEAN_WEIGHT: f64 = 0.05;

/// The ledger of worker time that mirrors may take while the workers are busy.
#[derive(Debug)]
pub struct ComparisonBudget {
    workers: f64,
    /// Mirrors admitted in a row: [`BURST`], or 1 where a test says so.
    burst: u32,
    ledger: Mutex<Ledger>,
}

#[derive(Debug)]
struct Ledger {
    /// Worker seconds mirrors may still take (negative: overspent, reserved ahead).
    credit: f64,
    /// When the budget was last asked.
    asked_at: Option<Instant>,
    /// When the process's CPU clock was last read, and what it read.
    cpu_read: Option<(Instant, Duration)>,
    /// Wall time over which the budget was in use (busy spells).
    busy: Duration,
    /// CPU time the process used over those busy spells.
    busy_cpu: Duration,
    /// The running mean cost of a budgeted mirror, in seconds.
    mean_cost: f64,
    /// Mirrors that ran on the budget.
    ran: u64,
    /// Mirrors refused because the budget was spent.
    refused: u64,
    /// Worker time the budgeted mirrors took, their database work included.
    spent: Duration,
    /// Of `spent`: the database threads' CPU their in-process dispatches caused ([`super::database_cpu`]).
    database: Duration,
    /// Mirrors the open burst may still admit (0: none is open).
    burst_left: u32,
}

/// A mirror admitted on the budget: its estimated cost, held until its real cost is known.
#[derive(Debug)]
#[must_use = "a reservation is given back when dropped: charge it with the mirror's cost"]
pub struct Reservation {
    budget: Arc<ComparisonBudget>,
    estimate: f64,
    charged: bool,
}

/// What the budget has spent on this replica, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BudgetReport {
    /// `[shadow] budget`: the share of the gateway's CPU time mirrors may take while the workers are busy.
    pub share: f64,
    /// Mirrors that ran on the budget.
    pub mirrors: u64,
    /// Mirrors refused because the budget was spent (counted as `dropped_overloaded`).
    pub refused: u64,
    /// CPU time the budgeted mirrors took, in milliseconds: their polls on
    /// the workers and their share of the database threads' work.
    pub spent_ms: f64,
    /// Of `spent_ms`: the database threads' CPU (sqlx's SQLite workers) due to budgeted mirrors.
    pub database_ms: f64,
    /// Wall time the workers were busy and the budget in use, in milliseconds.
    pub busy_ms: f64,
    /// CPU time the gateway's process used over that time (every thread), in milliseconds.
    pub busy_cpu_ms: f64,
    /// `spent / busy_cpu`: the share of the gateway's CPU time the mirrors really took.
    pub spent_share: Option<f64>,
    /// The mean cost of one budgeted mirror, in microseconds.
    pub mean_cost_us: Option<f64>,
}

impl ComparisonBudget {
    /// A budget for `workers` worker threads, admitting mirrors in bursts of [`BURST`].
    pub fn new(workers: usize) -> Arc<Self> {
        Self::with_bursts_of(workers, BURST)
    }

    /// A budget for `workers` worker threads, admitting mirrors in bursts of `burst`.
    pub fn with_bursts_of(workers: usize, burst: u32) -> Arc<Self> {
        Arc::new(Self {
            workers: workers.max(1) as f64,
            burst: burst.max(1),
            ledger: Mutex::new(Ledger {
                credit: 0.0,
                asked_at: None,
                cpu_read: None,
                busy: Duration::ZERO,
                busy_cpu: Duration::ZERO,
                mean_cost: FIRST_ESTIMATE.as_secs_f64(),
                ran: 0,
                refused: 0,
                spent: Duration::ZERO,
                database: Duration::ZERO,
                burst_left: 0,
            }),
        })
    }

    /// Admits a mirror on a budget of `share` of the gateway's CPU time at `now`, or refuses it.
    pub fn admit(self: &Arc<Self>, share: f64, now: Instant) -> Option<Reservation> {
        self.admit_reading(share, now, process_cpu_time)
    }

    /// [`Self::admit`], reading the process's CPU time with `process_cpu`
    /// when the last reading is [`CPU_READ_EVERY`] old.
    fn admit_reading(
        self: &Arc<Self>,
        share: f64,
        now: Instant,
        process_cpu: impl FnOnce() -> Duration,
    ) -> Option<Reservation> {
        let mut ledger = self.lock();
        // Since the last attempt, when that is recent enough to be one busy spell.
        let spell = ledger
            .asked_at
            .map(|at| now.saturating_duration_since(at))
            .filter(|&since| since < SPELL_GAP);
        ledger.busy += spell.unwrap_or_default();
        ledger.asked_at = Some(now);
        let cap = share * self.workers * MAX_BANKED.as_secs_f64();
        let due = ledger
            .cpu_read
            .is_none_or(|(at, _)| now.saturating_duration_since(at) >= CPU_READ_EVERY);
        if due {
            let cpu = process_cpu();
            if let Some((_, before)) = ledger.cpu_read {
                let used = cpu.saturating_sub(before);
                if spell.is_some() {
                    ledger.busy_cpu += used;
                }
                ledger.credit += share * used.as_secs_f64();
            }
            ledger.cpu_read = Some((now, cpu));
        }
        // Banked at most the cap, also when a reload lowered the share.
        ledger.credit = ledger.credit.min(cap);
        if share <= 0.0 {
            // A budget set to zero (a reload) also ends an open burst.
            ledger.burst_left = 0;
            ledger.refused += 1;
            return None;
        }
        if ledger.burst_left == 0 {
            // A burst no larger than the banked credit can ever cover.
            let burst = (cap / ledger.mean_cost)
                .floor()
                .clamp(1.0, f64::from(self.burst));
            if ledger.credit <= 0.0 || ledger.credit < (burst - 1.0) * ledger.mean_cost {
                ledger.refused += 1;
                return None;
            }
            ledger.burst_left = burst as u32;
        }
        ledger.burst_left -= 1;
        let estimate = ledger.mean_cost;
        ledger.credit -= estimate;
        Some(Reservation {
            budget: self.clone(),
            estimate,
            charged: false,
        })
    }

    /// What was spent so far, under a budget of `share`.
    pub fn report(&self, share: f64) -> BudgetReport {
        let ledger = self.lock();
        let busy_cpu = ledger.busy_cpu.as_secs_f64();
        BudgetReport {
            share,
            mirrors: ledger.ran,
            refused: ledger.refused,
            spent_ms: ledger.spent.as_secs_f64() * 1000.0,
            database_ms: ledger.database.as_secs_f64() * 1000.0,
            busy_ms: ledger.busy.as_secs_f64() * 1000.0,
            busy_cpu_ms: busy_cpu * 1000.0,
            spent_share: (busy_cpu > 0.0).then(|| ledger.spent.as_secs_f64() / busy_cpu),
            mean_cost_us: (ledger.ran > 0).then(|| ledger.mean_cost * 1e6),
        }
    }

    /// Charges `cost` of database work that budgeted mirrors caused outside
    /// their task (sqlx's SQLite threads): it is spent like their own time,
    /// so later mirrors wait until the credit has paid for it.
    pub fn charge_database(&self, cost: Duration) {
        let mut ledger = self.lock();
        ledger.credit -= cost.as_secs_f64();
        ledger.spent += cost;
        ledger.database += cost;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Reservation {
    /// Replaces the reservation with the mirror's real cost.
    pub fn charge(mut self, cost: Duration) {
        self.charged = true;
        let mut ledger = self.budget.lock();
        let cost_secs = cost.as_secs_f64();
        ledger.credit += self.estimate - cost_secs;
        ledger.ran += 1;
        ledger.spent += cost;
        ledger.mean_cost += MEAN_WEIGHT * (cost_secs - ledger.mean_cost);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.charged {
            // The mirror never ran: its reservation goes back.
            self.budget.lock().credit += self.estimate;
        }
    }
}

/// Runs `future`, returning its output and the CPU time its polls took.
///
/// Polling is the work the future does on a worker thread; the time it waits
/// between polls (for a socket, a timer, the database's threads) is not in
/// it, nor the time the thread was descheduled mid-poll: it is the thread's
/// CPU clock (`CLOCK_THREAD_CPUTIME_ID`) that is read around each poll.
pub async fn metered<F: Future>(future: F) -> (F::Output, Duration) {
    let mut future = pin!(future);
    let mut spent = Duration::ZERO;
    let output = std::future::poll_fn(|cx| {
        let started = thread_cpu_time();
        let polled = future.as_mut().poll(cx);
        spent += thread_cpu_time().saturating_sub(started);
        match polled {
            Poll::Ready(output) => Poll::Ready(output),
            Poll::Pending => Poll::Pending,
        }
    })
    .await;
    (output, spent)
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    cpu_clock(rustix::time::ClockId::ThreadCPUTime)
}

/// The CPU time this process has used, every thread together.
fn process_cpu_time() -> Duration {
    cpu_clock(rustix::time::ClockId::ProcessCPUTime)
}

fn cpu_clock(clock: rustix::time::ClockId) -> Duration {
    let now = rustix::time::clock_gettime(clock);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Asks `budget` at wall time `at`, the process having used `cpu` of CPU time so far.
    fn ask(
        budget: &Arc<ComparisonBudget>,
        share: f64,
        at: Instant,
        cpu: Duration,
    ) -> Option<Reservation> {
        budget.admit_reading(share, at, || cpu)
    }

    #[test]
    fn credit_is_earned_at_the_budget_share_of_the_process_cpu_time() {
        // 2 workers, 5 %: over 100 ms of wall time the process used 200 ms
        // of CPU (both workers busy), which earns 10 ms of mirror time.
        let budget = ComparisonBudget::with_bursts_of(2, 1);
        let start = Instant::now();
        let cpu = Duration::from_secs(7);
        assert!(
            ask(&budget, 0.05, start, cpu).is_none(),
            "nothing earned before the first attempt"
        );
        let (at, cpu) = (start + 100 * MS, cpu + 200 * MS);
        let first = ask(&budget, 0.05, at, cpu).expect("10 ms of credit");
        first.charge(6 * MS);
        let second = ask(&budget, 0.05, at, cpu).expect("4 ms of credit left");
        second.charge(5 * MS);
        assert!(
            ask(&budget, 0.05, at, cpu).is_none(),
            "the 10 ms are overspent"
        );
        let report = budget.report(0.05);
        assert_eq!((report.mirrors, report.refused), (2, 2));
        assert!((report.spent_ms - 11.0).abs() < 1e-9, "{report:?}");
        assert!((report.busy_ms - 100.0).abs() < 1e-9, "{report:?}");
        assert!((report.busy_cpu_ms - 200.0).abs() < 1e-9, "{report:?}");
        let share = report.spent_share.expect("a busy spell");
        assert!(
            (share - 0.055).abs() < 1e-9,
            "11 ms of 200 ms of CPU: {report:?}"
        );
    }

    #[test]
    fn wall_time_without_the_gateways_cpu_earns_nothing() {
        // The core is busy with another process: the gateway used 10 ms of
        // CPU in 500 ms, so at 10 % it earned 1 ms, not 50.
        let budget = ComparisonBudget::with_bursts_of(1, 1);
        let start = Instant::now();
        assert!(ask(&budget, 0.1, start, Duration::ZERO).is_none());
        let first = ask(&budget, 0.1, start + 500 * MS, 10 * MS).expect("1 ms of credit");
        first.charge(2 * MS);
        assert!(
            ask(&budget, 0.1, start + 900 * MS, 10 * MS).is_none(),
            "no CPU used, nothing earned"
        );
        let report = budget.report(0.1);
        assert!((report.busy_cpu_ms - 10.0).abs() < 1e-9, "{report:?}");
        assert!((report.spent_share.expect("busy") - 0.2).abs() < 1e-9);
    }

    #[test]
    fn the_process_cpu_clock_is_read_at_most_every_few_milliseconds() {
        let budget = ComparisonBudget::with_bursts_of(1, 1);
        let reads = Cell::new(0);
        let start = Instant::now();
        let mut at = start;
        // 100 requests in less than the reading interval.
        for _ in 0..100 {
            let reading = || {
                reads.set(reads.get() + 1);
                Duration::ZERO
            };
            assert!(budget.admit_reading(0.02, at, reading).is_none());
            at += CPU_READ_EVERY / 101;
        }
        assert_eq!(reads.get(), 1, "the first reading is good for a while");
        budget.admit_reading(0.02, start + CPU_READ_EVERY, || {
            reads.set(reads.get() + 1);
            Duration::ZERO
        });
        assert_eq!(reads.get(), 2);
    }

    #[test]
    fn a_reservation_holds_the_mean_cost_until_the_real_cost_replaces_it() {
        let budget = ComparisonBudget::with_bursts_of(1, 1);
        let start = Instant::now();
        assert!(ask(&budget, 0.0105, start, Duration::ZERO).is_none());
        // 1 s of CPU at 1.05 %: 10.5 ms of credit; each mirror reserves the first estimate, 0.2 ms.
        let second = (start + Duration::from_secs(1), Duration::from_secs(1));
        let held: Vec<Reservation> = (0..100)
            .map_while(|_| ask(&budget, 0.0105, second.0, second.1))
            .collect();
        assert_eq!(held.len(), 53, "admitted while the credit is positive");
        assert!(ask(&budget, 0.0105, second.0, second.1).is_none());
        // Mirrors that never ran give their reservation back.
        drop(held);
        let again = ask(&budget, 0.0105, second.0, second.1).expect("the credit came back");
        again.charge(Duration::ZERO);
        assert_eq!(budget.report(0.0105).mirrors, 1, "only charged mirrors ran");
    }

    #[test]
    fn database_work_charged_outside_a_mirror_is_spent_and_reported() {
        let budget = ComparisonBudget::with_bursts_of(1, 1);
        let start = Instant::now();
        assert!(ask(&budget, 0.1, start, Duration::ZERO).is_none());
        // 1 s of CPU at 10 %: 100 ms of credit. A mirror takes 10 ms on the
        // worker, then its SQL 95 ms on the database threads: the credit is spent.
        let (second, cpu) = (start + Duration::from_secs(1), Duration::from_secs(1));
        ask(&budget, 0.1, second, cpu)
            .expect("credit")
            .charge(10 * MS);
        budget.charge_database(95 * MS);
        assert!(
            ask(&budget, 0.1, second, cpu).is_none(),
            "the database work was paid from the credit"
        );
        let report = budget.report(0.1);
        assert_eq!(report.mirrors, 1);
        assert!((report.spent_ms - 105.0).abs() < 1e-6, "{report:?}");
        assert!((report.database_ms - 95.0).abs() < 1e-6, "{report:?}");
        // 5 ms overspent: 40 ms of CPU earn 4 ms, 100 ms pay it off.
        assert!(ask(&budget, 0.1, second + 40 * MS, cpu + 40 * MS).is_none());
        assert!(
            ask(&budget, 0.1, second + 100 * MS, cpu + 100 * MS).is_some(),
            "paid off"
        );
    }

    #[test]
    fn banked_credit_is_capped_and_a_quiet_gap_is_not_busy_time() {
        let budget = ComparisonBudget::with_bursts_of(1, 1);
        let start = Instant::now();
        assert!(ask(&budget, 0.1, start, Duration::ZERO).is_none());
        // An hour of work with no mirror asked for banks at most one
        // second's worth of one worker: 100 ms.
        let hour = Duration::from_secs(3600);
        let first = ask(&budget, 0.1, start + hour, hour).expect("credit");
        first.charge(100 * MS);
        assert!(
            ask(&budget, 0.1, start + hour, hour).is_none(),
            "the cap was 100 ms"
        );
        let report = budget.report(0.1);
        assert_eq!(
            (report.busy_ms, report.busy_cpu_ms),
            (0.0, 0.0),
            "the hour was not busy: {report:?}"
        );
    }

    #[test]
    fn mirrors_are_admitted_in_bursts_once_the_credit_covers_one() {
        let budget = ComparisonBudget::new(1);
        let start = Instant::now();
        assert!(ask(&budget, 0.02, start, Duration::ZERO).is_none());
        // 2 %: 20 µs of credit per ms of CPU. A burst of 16 at the first
        // estimate (200 µs each) opens once the credit covers 15 of them: 3 ms.
        // One attempt per reading of the CPU clock, each after 1 ms of CPU.
        let (mut at, mut cpu) = (start, Duration::ZERO);
        let mut refused = 0;
        let first = loop {
            (at, cpu) = (at + CPU_READ_EVERY, cpu + MS);
            match ask(&budget, 0.02, at, cpu) {
                Some(reservation) => break reservation,
                None => refused += 1,
            }
        };
        assert_eq!(refused, 149, "3 ms of credit take 150 ms of CPU to earn");
        // The rest of the burst comes in a row, at no further CPU time.
        let mut burst = vec![first];
        burst.extend((1..BURST).map(|_| ask(&budget, 0.02, at, cpu).expect("in the burst")));
        assert!(ask(&budget, 0.02, at, cpu).is_none(), "the burst is over");
        for reservation in burst {
            reservation.charge(Duration::from_micros(200));
        }
        let report = budget.report(0.02);
        assert_eq!((report.mirrors, report.refused), (16, 151));
        // Overspent by the last mirror's cost: the next burst waits for 3.2 ms of credit.
        let later = |n: u32| at + n * CPU_READ_EVERY;
        assert!(ask(&budget, 0.02, later(1), cpu + 159 * MS).is_none());
        assert!(ask(&budget, 0.02, later(2), cpu + 161 * MS).is_some());
    }

    #[test]
    fn a_budget_set_to_zero_ends_an_open_burst() {
        let budget = ComparisonBudget::new(1);
        let start = Instant::now();
        assert!(ask(&budget, 0.02, start, Duration::ZERO).is_none());
        let (second, cpu) = (start + Duration::from_secs(1), Duration::from_secs(1));
        let first = ask(&budget, 0.02, second, cpu).expect("a burst opens");
        assert!(ask(&budget, 0.0, second, cpu).is_none(), "reloaded to zero");
        assert!(
            ask(&budget, 0.02, second, cpu).is_none(),
            "the burst ended with it, and zero banked nothing"
        );
        first.charge(Duration::from_micros(200));
    }

    #[test]
    fn a_burst_is_never_larger_than_the_banked_credit_can_cover() {
        // 0.1 % of one worker banks at most 1 ms: five mirrors at the first estimate.
        let budget = ComparisonBudget::new(1);
        let start = Instant::now();
        assert!(ask(&budget, 0.001, start, Duration::ZERO).is_none());
        let hour = Duration::from_secs(3600);
        let burst: Vec<Reservation> = (0..BURST)
            .map_while(|_| ask(&budget, 0.001, start + hour, hour))
            .collect();
        assert_eq!(burst.len(), 5);
    }

    #[test]
    fn a_zero_budget_admits_nothing() {
        let budget = ComparisonBudget::new(2);
        let start = Instant::now();
        for second in 0..3 {
            let elapsed = Duration::from_secs(second);
            assert!(ask(&budget, 0.0, start + elapsed, elapsed * 2).is_none());
        }
        assert_eq!(budget.report(0.0).refused, 3);
    }

    #[test]
    fn the_process_cpu_clock_counts_every_thread() {
        let before = process_cpu_time();
        let spin = || {
            let until = thread_cpu_time() + 20 * MS;
            while thread_cpu_time() < until {
                std::hint::spin_loop();
            }
        };
        std::thread::spawn(spin).join().expect("the thread ends");
        let used = process_cpu_time().saturating_sub(before);
        assert!(
            used >= 20 * MS,
            "{used:?}: another thread's 20 ms not counted"
        );
    }

    #[tokio::test]
    async fn metering_counts_polling_not_waiting() {
        let (value, spent) = metered(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            // 20 ms of this thread's CPU, however long the machine makes that take.
            let until = thread_cpu_time() + Duration::from_millis(20);
            while thread_cpu_time() < until {
                std::hint::spin_loop();
            }
            7
        })
        .await;
        assert_eq!(value, 7);
        assert!(
            spent >= Duration::from_millis(20) && spent < Duration::from_millis(300),
            "spent {spent:?}: the 20 ms of work, not the 300 ms of sleep"
        );
    }
}
