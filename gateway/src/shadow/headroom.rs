//! CPU headroom: every mirror runs while the gateway's workers have time to spare.
//!
//! A mirror is a second request, in the same process, on the same cores as
//! the client's. On a saturated machine every mirror takes CPU from clients,
//! so the gateway samples (every [`SAMPLE_EVERY`]) how busy its Tokio
//! workers are and, on Linux, how busy the CPUs it may run on were over the
//! last second (`/proc/stat`, over the CPUs of the process's affinity: that also sees
//! the database's threads and other processes, and a gateway pinned to one
//! core of many is judged by that core). While the
//! busier of the two is above `[shadow] max_busy`, only the mirrors the
//! comparison budget admits run ([`super::budget`]); the others are dropped,
//! counted as `dropped_overloaded`. Clients come first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

/// How often the workers' busy time is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// The machine's CPU is judged over this many samples (a second): `/proc/stat`
/// counts in hundredths of a second, so one sample of a CPU 95 % busy can
/// read 0.8 — and let every mirror run on a saturated machine.
const MACHINE_WINDOW: usize = 10;

/// The share of the last sample period the runtime's workers were busy, in thousandths.
#[derive(Debug, Default)]
pub struct Headroom {
    busy_permille: AtomicU32,
    workers: usize,
}

impl Headroom {
    /// Starts sampling the current runtime's workers in a background task.
    pub fn spawn(handle: &Handle) -> Arc<Self> {
        let metrics = handle.metrics();
        let headroom = Arc::new(Self {
            busy_permille: AtomicU32::new(0),
            workers: metrics.num_workers(),
        });
        let sampled = headroom.clone();
        handle.spawn(async move {
            let busy_total = |m: &tokio::runtime::RuntimeMetrics| -> Duration {
                (0..m.num_workers())
                    .map(|w| m.worker_total_busy_duration(w))
                    .sum()
            };
            let mut previous = (Instant::now(), busy_total(&metrics));
            let cpus = allowed_cpus();
            let mut machine_window = CpuWindow::default();
            machine_window.busy_after(system_cpu(cpus.as_deref()));
            let mut ticks = tokio::time::interval(SAMPLE_EVERY);
            loop {
                ticks.tick().await;
                let now = (Instant::now(), busy_total(&metrics));
                let workers = busy_share(
                    now.1.saturating_sub(previous.1),
                    now.0 - previous.0,
                    metrics.num_workers(),
                );
                let machine = machine_window.busy_after(system_cpu(cpus.as_deref()));
                let share = workers.max(machine);
                sampled
                    .busy_permille
                    .store((share * 1000.0).round() as u32, Ordering::Relaxed);
                previous = now;
            }
        });
        headroom
    }

    /// The busy share of the workers, 0.0 to 1.0, over the last sample.
    pub fn busy(&self) -> f64 {
        f64::from(self.busy_permille.load(Ordering::Relaxed)) / 1000.0
    }

    /// Whether the workers have time to spare under the `max_busy` limit (1.0: always; 0.0: never).
    pub fn admits(&self, max_busy: f64) -> bool {
        max_busy >= 1.0 || (max_busy > 0.0 && self.busy() <= max_busy)
    }

    /// The number of worker threads sampled.
    pub fn workers(&self) -> usize {
        self.workers
    }
}

/// The machine's CPU time counters (`/proc/stat`, all CPUs), in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuTimes {
    idle: u64,
    total: u64,
}

impl CpuTimes {
    /// Parses `/proc/stat`: the `cpu` line (every CPU), or the sum of the
    /// `cpuN` lines of `cpus`. Idle is `idle + iowait`.
    fn parse(stat: &str, cpus: Option<&[usize]>) -> Option<Self> {
        let Some(cpus) = cpus else {
            let line = stat.lines().find(|l| l.starts_with("cpu "))?;
            return Self::parse_line(line);
        };
        let mut sum: Option<Self> = None;
        for line in stat.lines() {
            let Some(n) = line
                .strip_prefix("cpu")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            if cpus.contains(&n)
                && let Some(times) = Self::parse_line(line)
            {
                let total = sum.get_or_insert(Self { idle: 0, total: 0 });
                total.idle += times.idle;
                total.total += times.total;
            }
        }
        sum
    }

    /// One `cpu…` line's counters.
    fn parse_line(line: &str) -> Option<Self> {
        let values: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map_while(|v| v.parse().ok())
            .collect();
        let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
        // `guest` and `guest_nice` (9th and 10th) are already counted in `user` and `nice`.
        let total = values.iter().take(8).sum();
        Some(Self { idle, total })
    }

    /// The busy share of the CPUs between `before` and `self`.
    fn busy_since(self, before: Self) -> f64 {
        let total = self.total.saturating_sub(before.total);
        if total == 0 {
            return 0.0;
        }
        let idle = self.idle.saturating_sub(before.idle).min(total);
        (total - idle) as f64 / total as f64
    }
}

/// The machine's CPU times over the last [`MACHINE_WINDOW`] samples.
#[derive(Debug, Default)]
struct CpuWindow {
    samples: std::collections::VecDeque<CpuTimes>,
}

impl CpuWindow {
    /// The busy share since the oldest sample kept (0.0 without one, or
    /// without `now`), keeping `now` as the newest.
    fn busy_after(&mut self, now: Option<CpuTimes>) -> f64 {
        let Some(now) = now else {
            return 0.0;
        };
        let busy = self
            .samples
            .front()
            .map_or(0.0, |oldest| now.busy_since(*oldest));
        if self.samples.len() == MACHINE_WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(now);
        busy
    }
}

/// The CPU times now of `cpus` (every CPU when `None`), where `/proc/stat` exists.
fn system_cpu(cpus: Option<&[usize]>) -> Option<CpuTimes> {
    CpuTimes::parse(&std::fs::read_to_string("/proc/stat").ok()?, cpus)
}

/// The CPUs this process may run on, when it may not run on all of them (Linux).
fn allowed_cpus() -> Option<Vec<usize>> {
    let set = rustix::thread::sched_getaffinity(None).ok()?;
    let allowed: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&cpu| set.is_set(cpu))
        .collect();
    let online = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .filter(|line| line.starts_with("cpu") && !line.starts_with("cpu "))
        .count();
    (!allowed.is_empty() && allowed.len() < online).then_some(allowed)
}

/// Busy time over the capacity of `workers` during `elapsed`, clamped to 0.0–1.0.
fn busy_share(busy: Duration, elapsed: Duration, workers: usize) -> f64 {
    let capacity = elapsed.as_secs_f64() * workers.max(1) as f64;
    if capacity <= 0.0 {
        return 0.0;
    }
    (busy.as_secs_f64() / capacity).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_share_is_busy_time_over_worker_capacity() {
        let ms = Duration::from_millis;
        assert_eq!(busy_share(ms(100), ms(100), 2), 0.5);
        assert_eq!(busy_share(ms(200), ms(100), 2), 1.0);
        assert_eq!(busy_share(ms(500), ms(100), 2), 1.0, "clamped");
        assert_eq!(busy_share(ms(0), ms(100), 2), 0.0);
        assert_eq!(busy_share(ms(10), ms(0), 2), 0.0);
    }

    #[test]
    fn machine_cpu_busy_share_comes_from_proc_stat() {
        let before =
            CpuTimes::parse("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3\n", None).unwrap();
        assert_eq!(
            before,
            CpuTimes {
                idle: 800,
                total: 1000
            }
        );
        // 200 more busy ticks (user, system) and 50 more idle: 200 / 250.
        let after = CpuTimes::parse("cpu  250 0 150 750 100 0 0 0 0 0\n", None).unwrap();
        assert_eq!(after.busy_since(before), 0.8);
        assert_eq!(before.busy_since(before), 0.0);
        assert_eq!(CpuTimes::parse("intr 1 2 3", None), None);
    }

    #[test]
    fn the_machine_is_judged_over_a_second_not_one_coarse_sample() {
        // A CPU 95 % busy, in /proc/stat's hundredths: samples of 10 ticks
        // read 1.0 and 0.9 by turns, never the 0.95 it is.
        let mut window = CpuWindow::default();
        let mut times = CpuTimes { idle: 0, total: 0 };
        assert_eq!(
            window.busy_after(Some(times)),
            0.0,
            "nothing to compare yet"
        );
        let mut read = Vec::new();
        for sample in 1..=30 {
            let idle = if sample % 2 == 0 { 1 } else { 0 };
            times = CpuTimes {
                idle: times.idle + idle,
                total: times.total + 10,
            };
            read.push(window.busy_after(Some(times)));
        }
        // After a second of samples the window reads 0.95, whatever the last one.
        for busy in &read[10..] {
            assert!((busy - 0.95).abs() < 1e-9, "{read:?}");
        }
        assert_eq!(window.samples.len(), MACHINE_WINDOW);
        assert_eq!(window.busy_after(None), 0.0, "no /proc/stat");
    }

    #[test]
    fn a_pinned_process_is_judged_by_its_own_cpus() {
        // CPU 0 saturated, CPU 1 idle: the machine is half busy, CPU 0 fully.
        let stat = |busy0: u64, idle1: u64| {
            format!(
                "cpu  {busy0} 0 0 {idle1} 0 0 0 0 0 0\ncpu0 {busy0} 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 {idle1} 0 0 0 0 0 0\nintr 5\n"
            )
        };
        let (before, after) = (stat(100, 100), stat(200, 200));
        let machine = |cpus| {
            CpuTimes::parse(&after, cpus)
                .unwrap()
                .busy_since(CpuTimes::parse(&before, cpus).unwrap())
        };
        assert_eq!(machine(None), 0.5);
        assert_eq!(machine(Some(&[0])), 1.0);
        assert_eq!(machine(Some(&[1])), 0.0);
        assert_eq!(machine(Some(&[0, 1])), 0.5);
        assert_eq!(CpuTimes::parse(&after, Some(&[7])), None, "no such CPU");
    }

    #[test]
    fn mirrors_are_admitted_up_to_the_limit() {
        let headroom = Headroom::default();
        headroom.busy_permille.store(850, Ordering::Relaxed);
        assert!(!headroom.admits(0.8));
        assert!(headroom.admits(0.9));
        assert!(headroom.admits(1.0), "1.0 turns the check off");
        headroom.busy_permille.store(1000, Ordering::Relaxed);
        assert!(headroom.admits(1.0));
        headroom.busy_permille.store(0, Ordering::Relaxed);
        assert!(
            !headroom.admits(0.0),
            "0.0: never spare, the budget alone admits"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sampler_sees_a_busy_core() {
        let headroom = Headroom::spawn(&Handle::current());
        // Keep one core busy for a few samples: the machine's share must show it.
        tokio::task::spawn_blocking(|| {
            let until = Instant::now() + SAMPLE_EVERY * 5;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        })
        .await
        .unwrap();
        let busy = headroom.busy();
        assert!(
            busy > 0.2 && busy <= 1.0,
            "measured {busy} while a core was spinning"
        );
    }
}
