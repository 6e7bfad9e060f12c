//! What each replica remembers about its own comparisons: latencies, noise, differing fields.
//!
//! Counts and records live in the database (every replica's); this keeps
//! what is too fine-grained to store per comparison: recent latencies of each
//! side (for p50/p99), the noise learned per route, and how often each field
//! differed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use shadow_diff::NoiseSet;

/// Latencies kept per route and side.
const LATENCY_SAMPLES: usize = 2048;
/// Distinct differing fields remembered per route.
const MAX_FIELDS: usize = 500;

/// The last [`LATENCY_SAMPLES`] latencies, in milliseconds.
#[derive(Debug, Default, Clone)]
struct Reservoir {
    samples: Vec<f64>,
    next: usize,
}

impl Reservoir {
    fn push(&mut self, value: f64) {
        if self.samples.len() < LATENCY_SAMPLES {
            self.samples.push(value);
        } else {
            self.samples[self.next] = value;
            self.next = (self.next + 1) % LATENCY_SAMPLES;
        }
    }

    /// The `q`-quantile (nearest rank), or `None` without samples.
    fn quantile(&self, q: f64) -> Option<f64> {
        if self.samples.is_empty() {
            return None;
        }
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        Some(sorted[rank - 1])
    }
}

#[derive(Debug, Default)]
struct RouteStats {
    primary: Reservoir,
    shadow: Reservoir,
    fields: HashMap<String, u64>,
    /// Fields that differed in form only, in any comparison.
    format_fields: HashMap<String, u64>,
    noise: NoiseSet,
    /// Mirrors run and the worker time they took.
    mirrors: u64,
    mirror_time: Duration,
}

/// Per-route, in-memory comparison statistics of this replica.
#[derive(Debug, Default)]
pub struct ShadowStats {
    routes: Mutex<HashMap<String, RouteStats>>,
}

/// Latency quantiles of one side, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
}

/// A snapshot of one route's in-memory statistics.
#[derive(Debug, Clone, Default)]
pub struct RouteSnapshot {
    /// The primary side's latency.
    pub primary: Latency,
    /// The mirrored side's latency.
    pub shadow: Latency,
    /// Fields that differed, most frequent first, with their counts.
    pub top_fields: Vec<(String, u64)>,
    /// Fields that differed in form only, most frequent first, with their counts.
    pub format_fields: Vec<(String, u64)>,
    /// Ignore rules suggested by the noise learned on this route.
    pub noise_suggestions: Vec<String>,
    /// What one mirror costs the workers on average (its task's polling time), in microseconds.
    pub mirror_cost_us: Option<f64>,
}

impl ShadowStats {
    /// Records the latencies of one comparison.
    pub fn latencies(&self, route: &str, primary: Duration, shadow: Duration) {
        self.with(route, |stats| {
            stats.primary.push(primary.as_secs_f64() * 1000.0);
            stats.shadow.push(shadow.as_secs_f64() * 1000.0);
        });
    }

    /// Adds one mirror's cost: the worker time its task took.
    pub fn mirror_cost(&self, route: &str, cost: Duration) {
        self.with(route, |stats| {
            stats.mirrors += 1;
            stats.mirror_time += cost;
        });
    }

    /// Counts the fields of one mismatch.
    pub fn fields<'a>(&self, route: &str, paths: impl IntoIterator<Item = &'a str>) {
        self.with(route, |stats| count_paths(&mut stats.fields, paths));
    }

    /// Counts the fields of one comparison that differed in form only.
    pub fn format_fields<'a>(&self, route: &str, paths: impl IntoIterator<Item = &'a str>) {
        self.with(route, |stats| count_paths(&mut stats.format_fields, paths));
    }

    /// Merges noise learned from one pair of primary answers.
    pub fn learn_noise(&self, route: &str, noise: &NoiseSet) {
        self.with(route, |stats| stats.noise.merge(noise));
    }

    /// The noise learned so far on `route`.
    pub fn noise(&self, route: &str) -> NoiseSet {
        self.routes
            .lock()
            .ok()
            .and_then(|routes| routes.get(route).map(|s| s.noise.clone()))
            .unwrap_or_default()
    }

    /// A snapshot of `route`.
    pub fn snapshot(&self, route: &str, top: usize) -> RouteSnapshot {
        let Ok(routes) = self.routes.lock() else {
            return RouteSnapshot::default();
        };
        let Some(stats) = routes.get(route) else {
            return RouteSnapshot::default();
        };
        RouteSnapshot {
            primary: Latency {
                p50_ms: stats.primary.quantile(0.5),
                p99_ms: stats.primary.quantile(0.99),
            },
            shadow: Latency {
                p50_ms: stats.shadow.quantile(0.5),
                p99_ms: stats.shadow.quantile(0.99),
            },
            top_fields: most_frequent(&stats.fields, top),
            format_fields: most_frequent(&stats.format_fields, top),
            noise_suggestions: stats.noise.suggestions(),
            mirror_cost_us: (stats.mirrors > 0)
                .then(|| stats.mirror_time.as_secs_f64() * 1e6 / stats.mirrors as f64),
        }
    }

    fn with(&self, route: &str, f: impl FnOnce(&mut RouteStats)) {
        if let Ok(mut routes) = self.routes.lock() {
            // The route's name is copied only the first time it is seen.
            match routes.get_mut(route) {
                Some(stats) => f(stats),
                None => f(routes.entry(route.to_owned()).or_default()),
            }
        }
    }
}

/// Adds one to each of `paths`, remembering at most [`MAX_FIELDS`] distinct ones.
fn count_paths<'a>(counts: &mut HashMap<String, u64>, paths: impl IntoIterator<Item = &'a str>) {
    for path in paths {
        if let Some(count) = counts.get_mut(path) {
            *count += 1;
        } else if counts.len() < MAX_FIELDS {
            counts.insert(path.to_owned(), 1);
        }
    }
}

/// The `top` most frequent paths, most frequent first, then by name.
fn most_frequent(counts: &HashMap<String, u64>, top: usize) -> Vec<(String, u64)> {
    let mut fields: Vec<(String, u64)> = counts.iter().map(|(k, v)| (k.clone(), *v)).collect();
    fields.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    fields.truncate(top);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let mut reservoir = Reservoir::default();
        assert_eq!(reservoir.quantile(0.5), None);
        for v in 1..=100 {
            reservoir.push(f64::from(v));
        }
        assert_eq!(reservoir.quantile(0.5), Some(50.0));
        assert_eq!(reservoir.quantile(0.99), Some(99.0));
        assert_eq!(reservoir.quantile(1.0), Some(100.0));
    }

    #[test]
    fn the_reservoir_keeps_only_the_latest_samples() {
        let mut reservoir = Reservoir::default();
        for _ in 0..LATENCY_SAMPLES {
            reservoir.push(1000.0);
        }
        for _ in 0..LATENCY_SAMPLES {
            reservoir.push(1.0);
        }
        assert_eq!(reservoir.quantile(0.99), Some(1.0));
    }

    #[test]
    fn top_fields_are_sorted_by_count_then_name() {
        let stats = ShadowStats::default();
        stats.fields("r", ["/b", "/a"]);
        stats.fields("r", ["/b"]);
        stats.format_fields("r", ["/created_at", "/updated_at"]);
        stats.format_fields("r", ["/updated_at"]);
        let snapshot = stats.snapshot("r", 10);
        assert_eq!(
            snapshot.top_fields,
            vec![("/b".to_owned(), 2), ("/a".to_owned(), 1)]
        );
        assert_eq!(
            snapshot.format_fields,
            vec![("/updated_at".to_owned(), 2), ("/created_at".to_owned(), 1)],
            "kept apart from the mismatches' fields"
        );
    }
}
