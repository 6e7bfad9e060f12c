//! Prometheus metrics, recorded through the `metrics` facade and rendered at `/-/metrics`.
//!
//! Every series is named here, once; the code that records one uses the
//! constant. Labels have bounded cardinality: route names from routes.toml (or
//! `(default)`), targets, status classes, error kinds. Never raw paths.

use std::sync::OnceLock;
use std::time::Duration;

use http::StatusCode;
use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

/// Requests answered, by route, target, upstream and status class.
pub const REQUESTS_TOTAL: &str = "gateway_requests_total";
/// Time to the response head, by route, target and upstream.
pub const REQUEST_DURATION_SECONDS: &str = "gateway_request_duration_seconds";
/// Requests being handled now.
pub const REQUESTS_IN_FLIGHT: &str = "gateway_requests_in_flight";
/// Failures reaching legacy, by upstream and kind (`connect`, `tls`, `timeout`, `io`, `invalid-uri`).
pub const UPSTREAM_ERRORS_TOTAL: &str = "gateway_upstream_errors_total";
/// Addresses ejected by passive health, by upstream.
pub const UPSTREAM_EJECTIONS_TOTAL: &str = "gateway_upstream_ejections_total";
/// Route-table reloads, by result (`reloaded`, `unchanged`, `rejected`).
pub const ROUTE_RELOADS_TOTAL: &str = "gateway_route_reloads_total";
/// 1 for the version of the route table in force, 0 for versions replaced.
pub const ROUTE_TABLE_INFO: &str = "gateway_route_table_info";
/// Unix time the route table in force was loaded.
pub const ROUTE_TABLE_LOADED_SECONDS: &str = "gateway_route_table_loaded_timestamp_seconds";
/// Database connections open, and idle, and the pool's maximum.
pub const DB_POOL_CONNECTIONS: &str = "gateway_db_pool_connections";
/// Shadow attempts, by route and outcome (the outcome labels are a contract).
pub const SHADOW_COMPARISONS_TOTAL: &str = "gateway_shadow_comparisons_total";
/// Time to each side's response head on mirrored requests, by route and side (`primary`, `shadow`).
pub const SHADOW_SIDE_DURATION_SECONDS: &str = "gateway_shadow_side_duration_seconds";
/// Mismatch records dropped: the queue was full or the database refused them.
pub const SHADOW_RECORDS_DROPPED_TOTAL: &str = "gateway_shadow_records_dropped_total";
/// Tester override headers refused (wrong secret or side).
pub const OVERRIDE_REJECTED_TOTAL: &str = "gateway_override_rejected_total";
/// Reloads of the client listener's TLS certificate, by result (`ok`, `error`).
pub const TLS_RELOADS_TOTAL: &str = "gateway_tls_reloads_total";
/// The `result` label of [`TLS_RELOADS_TOTAL`] for a new pair in force.
pub const TLS_RELOAD_OK: &str = "ok";
/// The `result` label of [`TLS_RELOADS_TOTAL`] for a changed pair that did not load.
pub const TLS_RELOAD_ERROR: &str = "error";
/// Client TLS handshakes that failed, by reason (`timeout`, `error`, `plain-http`).
pub const TLS_HANDSHAKE_FAILURES_TOTAL: &str = "gateway_tls_handshake_failures_total";
/// Log lines dropped because the log writer could not keep up.
pub const LOG_LINES_DROPPED_TOTAL: &str = "gateway_log_lines_dropped_total";

/// Histogram buckets for request durations, in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The recorder this process installed, once it has.
static INSTALLED: std::sync::Mutex<Option<PrometheusHandle>> = std::sync::Mutex::new(None);

/// Installs the global Prometheus recorder and describes every series; a
/// second call returns the handle of the first.
///
/// # Errors
///
/// When another recorder is already installed or the buckets are invalid.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    let mut installed = INSTALLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(DURATION_BUCKETS)?
        .install_recorder()?;
    *installed = Some(handle.clone());
    metrics::describe_counter!(
        REQUESTS_TOTAL,
        "Requests answered, by route, target, upstream and status class."
    );
    metrics::describe_histogram!(
        REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time from request to response head, by route, target and upstream."
    );
    metrics::describe_gauge!(REQUESTS_IN_FLIGHT, "Requests being handled now.");
    metrics::describe_counter!(
        UPSTREAM_ERRORS_TOTAL,
        "Failures reaching legacy, by upstream and kind."
    );
    metrics::describe_counter!(
        UPSTREAM_EJECTIONS_TOTAL,
        "Addresses ejected by passive health, by upstream."
    );
    metrics::describe_counter!(ROUTE_RELOADS_TOTAL, "Route-table reloads, by result.");
    metrics::describe_counter!(
        SHADOW_COMPARISONS_TOTAL,
        "Shadow attempts, by route and outcome."
    );
    metrics::describe_histogram!(
        SHADOW_SIDE_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time to each side's response head on mirrored requests, by route and side."
    );
    metrics::describe_counter!(
        SHADOW_RECORDS_DROPPED_TOTAL,
        "Mismatch records dropped (queue full or database failure)."
    );
    metrics::describe_counter!(OVERRIDE_REJECTED_TOTAL, "Tester override headers refused.");
    metrics::describe_gauge!(ROUTE_TABLE_INFO, "1 for the route table version in force.");
    metrics::describe_gauge!(
        ROUTE_TABLE_LOADED_SECONDS,
        metrics::Unit::Seconds,
        "Unix time the route table in force was loaded."
    );
    metrics::describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database pool connections, by state (open, idle, max)."
    );
    metrics::describe_counter!(
        TLS_RELOADS_TOTAL,
        "Reloads of the client TLS certificate, by result (ok, error)."
    );
    metrics::describe_counter!(
        TLS_HANDSHAKE_FAILURES_TOTAL,
        "Client TLS handshakes that failed, timed out, or met plain HTTP, by reason."
    );
    metrics::describe_counter!(
        LOG_LINES_DROPPED_TOTAL,
        "Log lines dropped because the log writer could not keep up."
    );
    register_alerted_counters();
    Ok(handle)
}

/// The `kind` labels of [`UPSTREAM_ERRORS_TOTAL`]: every value of `ForwardError::kind`.
pub const UPSTREAM_ERROR_KINDS: [&str; 5] = ["connect", "tls", "timeout", "io", "invalid-uri"];
/// The `reason` labels of [`TLS_HANDSHAKE_FAILURES_TOTAL`].
pub const TLS_HANDSHAKE_FAILURE_REASONS: [&str; 3] = ["timeout", "error", "plain-http"];
/// The `result` labels of [`ROUTE_RELOADS_TOTAL`].
pub const RELOAD_RESULTS: [&str; 3] = ["reloaded", "unchanged", "rejected"];

/// Exports the counters operators alert on at 0 from start-up, every label
/// value known without a route table, so that `increase(...)` and
/// `absent(...)` work on a fresh process: incrementing by 0 registers a
/// series and leaves a value it already has.
fn register_alerted_counters() {
    for result in RELOAD_RESULTS {
        metrics::counter!(ROUTE_RELOADS_TOTAL, "result" => result).increment(0);
    }
    metrics::counter!(OVERRIDE_REJECTED_TOTAL).increment(0);
    for result in [TLS_RELOAD_OK, TLS_RELOAD_ERROR] {
        metrics::counter!(TLS_RELOADS_TOTAL, "result" => result).increment(0);
    }
    for reason in TLS_HANDSHAKE_FAILURE_REASONS {
        metrics::counter!(TLS_HANDSHAKE_FAILURES_TOTAL, "reason" => reason).increment(0);
    }
    metrics::counter!(SHADOW_RECORDS_DROPPED_TOTAL).increment(0);
    metrics::counter!(LOG_LINES_DROPPED_TOTAL).increment(0);
}

/// Exports [`UPSTREAM_ERRORS_TOTAL`] (every kind) and
/// [`UPSTREAM_EJECTIONS_TOTAL`] at 0 for each of `upstreams`: called for
/// every route table loaded, so that a new upstream's series exist before
/// its first failure.
pub fn register_upstreams<'a>(upstreams: impl IntoIterator<Item = &'a str>) {
    for upstream in upstreams {
        for kind in UPSTREAM_ERROR_KINDS {
            metrics::counter!(UPSTREAM_ERRORS_TOTAL, "upstream" => upstream.to_owned(), "kind" => kind)
                .increment(0);
        }
        metrics::counter!(UPSTREAM_EJECTIONS_TOTAL, "upstream" => upstream.to_owned()).increment(0);
    }
}

/// Exports [`SHADOW_COMPARISONS_TOTAL`] at 0 for every outcome of each of
/// `shadowed` routes: called for every route table loaded (start-up and
/// reloads), so a newly shadowed route's series exist before its first mirror.
pub fn register_shadowed_routes<'a>(shadowed: impl IntoIterator<Item = &'a str>) {
    for route in shadowed {
        for outcome in shadow_diff::Outcome::ALL {
            metrics::counter!(SHADOW_COMPARISONS_TOTAL, "route" => route.to_owned(), "outcome" => outcome.label())
                .increment(0);
        }
    }
}

/// `2xx`, `4xx`, … for a status.
fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Records one answered request.
///
/// `target` is `legacy`, `service`, or `gateway` for answers the gateway
/// made itself; `legacy_upstream` is the upstream of the legacy side, the
/// `upstream` label when `target` is `legacy` (else the label is `target`).
pub fn record_request(
    route: &str,
    target: &'static str,
    legacy_upstream: &str,
    status: StatusCode,
    elapsed: Duration,
) {
    let route = route.to_owned();
    let upstream = upstream_label(target, legacy_upstream);
    metrics::counter!(REQUESTS_TOTAL, "route" => route.clone(), "target" => target, "upstream" => upstream.clone(), "status_class" => status_class(status))
        .increment(1);
    metrics::histogram!(REQUEST_DURATION_SECONDS, "route" => route, "target" => target, "upstream" => upstream)
        .record(elapsed.as_secs_f64());
}

/// The `upstream` label of a request answered by `target`: the legacy
/// upstream's name, else `service` or `gateway`.
fn upstream_label(target: &'static str, legacy_upstream: &str) -> String {
    if target == "legacy" {
        legacy_upstream.to_owned()
    } else {
        target.to_owned()
    }
}

/// The sides a request can be answered by, as the `target` label says them.
const TARGETS: [&str; 3] = ["legacy", "service", "gateway"];
/// The status classes, as the `status_class` label says them.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The request series of one route, each resolved on its first use and kept:
/// recording a request then looks no label up.
#[derive(Debug)]
struct RouteSeries {
    route: String,
    /// The upstream of the route's legacy side.
    upstream: String,
    requests: [[OnceLock<Counter>; CLASSES.len()]; TARGETS.len()],
    durations: [OnceLock<Histogram>; TARGETS.len()],
}

impl RouteSeries {
    fn new(route: &str, upstream: &str) -> Self {
        Self {
            route: route.to_owned(),
            upstream: upstream.to_owned(),
            requests: Default::default(),
            durations: Default::default(),
        }
    }

    fn record(&self, target: &'static str, status: StatusCode, elapsed: Duration) {
        let class = status_class(status);
        let (Some(t), Some(c)) = (
            TARGETS.iter().position(|t| *t == target),
            CLASSES.iter().position(|c| *c == class),
        ) else {
            return record_request(&self.route, target, &self.upstream, status, elapsed);
        };
        self.requests[t][c]
            .get_or_init(|| {
                metrics::counter!(REQUESTS_TOTAL, "route" => self.route.clone(), "target" => target, "upstream" => upstream_label(target, &self.upstream), "status_class" => class)
            })
            .increment(1);
        self.durations[t]
            .get_or_init(|| {
                metrics::histogram!(REQUEST_DURATION_SECONDS, "route" => self.route.clone(), "target" => target, "upstream" => upstream_label(target, &self.upstream))
            })
            .record(elapsed.as_secs_f64());
    }
}

/// The request series of every route of one route table (and of `(default)`
/// and `(unrouted)`), built when the table is loaded.
///
/// A series appears in `/-/metrics` on its first request, as with
/// [`record_request`]; the handles only spare each request the label lookup.
#[derive(Debug, Default)]
pub struct RequestMetrics {
    /// By route name; foldhash: looked up once per request, by names from routes.toml.
    routes: foldhash::HashMap<String, RouteSeries>,
    /// `gateway_requests_in_flight`, looked up on the first request.
    in_flight: OnceLock<Gauge>,
}

impl RequestMetrics {
    /// Series for `routes` (each with the upstream of its legacy side),
    /// plus `(default)` (with `default_upstream`) and `(unrouted)`.
    pub fn new<'a>(
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
        default_upstream: &'a str,
    ) -> Self {
        let routes = routes
            .into_iter()
            .chain([("(default)", default_upstream), ("(unrouted)", "legacy")])
            .map(|(route, upstream)| (route.to_owned(), RouteSeries::new(route, upstream)))
            .collect();
        Self {
            routes,
            in_flight: OnceLock::new(),
        }
    }

    /// Counts one request in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight<'_> {
        let gauge = self
            .in_flight
            .get_or_init(|| metrics::gauge!(REQUESTS_IN_FLIGHT));
        gauge.increment(1.0);
        InFlight(gauge)
    }

    /// Records one answered request of `route` (any name: one not in the
    /// table is looked up, its legacy side labelled `legacy`).
    pub fn record(&self, route: &str, target: &'static str, status: StatusCode, elapsed: Duration) {
        match self.routes.get(route) {
            Some(series) => series.record(target, status, elapsed),
            None => record_request(route, target, "legacy", status, elapsed),
        }
    }
}

/// Records a failure to reach legacy upstream `upstream`.
pub fn record_upstream_error(upstream: &str, kind: &'static str) {
    metrics::counter!(UPSTREAM_ERRORS_TOTAL, "upstream" => upstream.to_owned(), "kind" => kind)
        .increment(1);
}

/// Records that passive health ejected an address of `upstream`.
pub fn record_ejection(upstream: &str) {
    metrics::counter!(UPSTREAM_EJECTIONS_TOTAL, "upstream" => upstream.to_owned()).increment(1);
}

/// Records a reload attempt's result: one of [`RELOAD_RESULTS`].
pub fn record_reload(result: &'static str) {
    metrics::counter!(ROUTE_RELOADS_TOTAL, "result" => result).increment(1);
}

/// Marks `version` as the table in force (and `previous`, if any, as replaced).
pub fn set_route_table(version: &str, previous: Option<&str>, loaded_at_unix: f64) {
    if let Some(previous) = previous.filter(|p| *p != version) {
        metrics::gauge!(ROUTE_TABLE_INFO, "version" => previous.to_owned()).set(0.0);
    }
    metrics::gauge!(ROUTE_TABLE_INFO, "version" => version.to_owned()).set(1.0);
    metrics::gauge!(ROUTE_TABLE_LOADED_SECONDS).set(loaded_at_unix);
}

/// Publishes the database pool's usage (called when metrics are scraped).
pub fn set_pool(stats: accounts::PoolStats) {
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "open").set(f64::from(stats.open));
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(stats.idle));
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "max").set(f64::from(stats.max));
}

/// Counts a request in flight for as long as it lives (also when it is cancelled).
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Publishes how many log lines the writer dropped so far ([`crate::telemetry::dropped_log_lines`]).
pub fn set_log_lines_dropped(dropped: u64) {
    metrics::counter!(LOG_LINES_DROPPED_TOTAL).absolute(dropped);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_cover_every_status() {
        let cases = [
            (101, "1xx"),
            (200, "2xx"),
            (304, "3xx"),
            (404, "4xx"),
            (502, "5xx"),
            (599, "5xx"),
        ];
        for (code, class) in cases {
            assert_eq!(
                status_class(StatusCode::from_u16(code).unwrap()),
                class,
                "status {code}"
            );
        }
    }

    /// Runs `record` against a recorder of its own and renders what it recorded.
    fn recorded(record: impl FnOnce()) -> String {
        let recorder = PrometheusBuilder::new()
            .set_buckets(DURATION_BUCKETS)
            .unwrap()
            .build_recorder();
        metrics::with_local_recorder(&recorder, record);
        recorder.handle().render()
    }

    #[test]
    fn recorded_series_render_with_their_labels() {
        let text = recorded(|| {
            record_request(
                "get-user",
                "legacy",
                "billing",
                StatusCode::OK,
                Duration::from_millis(3),
            );
            record_upstream_error("billing", "timeout");
            record_ejection("billing");
            record_reload("rejected");
            set_route_table("abc", Some("old"), 1.0);
        });
        for expected in [
            "gateway_requests_total{route=\"get-user\",target=\"legacy\",upstream=\"billing\",status_class=\"2xx\"} 1",
            "gateway_request_duration_seconds_bucket{route=\"get-user\",target=\"legacy\",upstream=\"billing\",le=\"0.005\"} 1",
            "gateway_upstream_errors_total{upstream=\"billing\",kind=\"timeout\"} 1",
            "gateway_upstream_ejections_total{upstream=\"billing\"} 1",
            "gateway_route_reloads_total{result=\"rejected\"} 1",
            "gateway_route_table_info{version=\"abc\"} 1",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn route_handles_count_like_lookups_and_show_only_used_series() {
        let text = recorded(|| {
            let first = RequestMetrics::new([("get-user", "legacy"), ("orders", "crm")], "legacy");
            let ms = Duration::from_millis(3);
            first.record("get-user", "legacy", StatusCode::OK, ms);
            first.record("get-user", "legacy", StatusCode::OK, ms);
            first.record("(default)", "gateway", StatusCode::NOT_FOUND, ms);
            first.record("not-in-the-table", "service", StatusCode::OK, ms);
            // A reloaded table's handles continue the same series.
            let reloaded = RequestMetrics::new([("get-user", "legacy")], "legacy");
            reloaded.record("get-user", "legacy", StatusCode::OK, ms);
            record_request("get-user", "legacy", "legacy", StatusCode::OK, ms);
        });
        for expected in [
            "gateway_requests_total{route=\"get-user\",target=\"legacy\",upstream=\"legacy\",status_class=\"2xx\"} 4",
            "gateway_request_duration_seconds_count{route=\"get-user\",target=\"legacy\",upstream=\"legacy\"} 4",
            "gateway_requests_total{route=\"(default)\",target=\"gateway\",upstream=\"gateway\",status_class=\"4xx\"} 1",
            "gateway_requests_total{route=\"not-in-the-table\",target=\"service\",upstream=\"service\",status_class=\"2xx\"} 1",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(
            !text.contains("route=\"orders\""),
            "a route without requests has no series yet:\n{text}"
        );
        assert_eq!(
            text.matches("gateway_requests_total{").count(),
            3,
            "only the series used:\n{text}"
        );
    }
}
