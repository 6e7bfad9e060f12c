//! Running one mirror, detached from the client's request, and recording its outcome.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use chrono::Utc;
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, Version};
use serde_json::json;
use shadow_diff::{
    Captured, CapturedBody, Comparison, DiffKind, Difference, ErrorReason, Outcome, compare,
    detect_noise,
};
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tracing::Instrument;

use super::budget::{BudgetReport, ComparisonBudget, Reservation, metered};
use super::capture::capture_response;
use super::exchange::{
    RecordedExchange, record_answer, record_body, record_request, redacted_original,
};
use super::headroom::Headroom;
use super::recorder::Recorder;
use super::seal::Sealed;
use super::stats::ShadowStats;
use super::store::MismatchRecord;
use crate::upstream::{Call, Upstreams};
use gateway_routing::{ShadowPolicy, ShadowWrites, Target};

/// The header that marks a mirrored request, so either side can suppress side effects.
pub const SHADOW_HEADER: &str = "x-gateway-shadow";

/// Everything a detached mirror needs.
pub struct MirrorJob {
    /// The route's name.
    pub route: String,
    /// The route's match, for grouping records.
    pub template: Arc<str>,
    /// The request id.
    pub request_id: String,
    /// The normalised path.
    pub path: String,
    /// The side that answered the client.
    pub primary_side: Target,
    /// The route's shadow policy.
    pub policy: Arc<ShadowPolicy>,
    /// `[shadow] timeout`.
    pub timeout: Duration,
    /// `[shadow] max_body_bytes`.
    pub max_body_bytes: usize,
    /// `[shadow] redact`.
    pub redact: Arc<[String]>,
    /// The request's method, URI (normalised path and query), version and headers.
    pub method: Method,
    /// See [`MirrorJob::method`].
    pub uri: Uri,
    /// See [`MirrorJob::method`].
    pub version: Version,
    /// See [`MirrorJob::method`].
    pub headers: HeaderMap,
    /// The request body, buffered.
    pub body: Bytes,
    /// The primary's status and headers.
    pub primary_status: StatusCode,
    /// See [`MirrorJob::primary_status`].
    pub primary_headers: HeaderMap,
    /// Time to the primary's response head.
    pub primary_latency: Duration,
    /// The primary's body, once the client has received it.
    pub primary_body: oneshot::Receiver<CapturedBody>,
    /// The slot this mirror holds among `max_in_flight`.
    pub permit: OwnedSemaphorePermit,
    /// Its share of the comparison budget, when the workers were busy as it was admitted.
    pub reservation: Option<Reservation>,
    /// The sides of the table the request was routed by.
    pub upstreams: Upstreams,
    /// The normalised path and query, and what legacy is told.
    pub call: Call,
}

/// The process-wide shadowing state: statistics, the recorder, headroom and the comparison budget.
pub struct Shadowing {
    stats: ShadowStats,
    recorder: Option<Recorder>,
    headroom: Option<Arc<Headroom>>,
    budget: Arc<ComparisonBudget>,
    metrics: RouteMetrics,
}

/// Each shadowed route's metric series, registered together the first time
/// the route counts: every shadowed request counts an outcome and every
/// mirror records two durations, and a lookup by labels in the metrics
/// registry allocates and hashes them every time.
#[derive(Default)]
struct RouteMetrics(RwLock<foldhash::HashMap<String, Arc<RouteSeries>>>);

/// One route's series.
struct RouteSeries {
    /// `gateway_shadow_comparisons_total`, in [`Outcome::ALL`]'s order.
    outcomes: Box<[metrics::Counter]>,
    /// `gateway_shadow_side_duration_seconds` of the primary and of the
    /// mirrored side, registered with the route's first comparison.
    sides: OnceLock<[metrics::Histogram; 2]>,
}

impl RouteMetrics {
    /// Runs `f` with `route`'s series, under the read lock (no clone of a handle).
    fn with(&self, route: &str, f: impl FnOnce(&RouteSeries)) {
        if let Some(series) = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
        {
            return f(series);
        }
        let series = Arc::new(RouteSeries {
            outcomes: Outcome::ALL
                .iter()
                .map(|o| metrics::counter!(crate::metrics::SHADOW_COMPARISONS_TOTAL, "route" => route.to_owned(), "outcome" => o.label()))
                .collect(),
            sides: OnceLock::new(),
        });
        f(&series);
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(route.to_owned())
            .or_insert(series);
    }

    fn count(&self, route: &str, outcome: Outcome) {
        if let Some(slot) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.with(route, |series| series.outcomes[slot].increment(1));
        }
    }

    fn side_durations(&self, route: &str, primary: Duration, shadow: Duration) {
        self.with(route, |series| {
            let [primary_side, shadow_side] = series.sides.get_or_init(|| {
                ["primary", "shadow"].map(|side| metrics::histogram!(crate::metrics::SHADOW_SIDE_DURATION_SECONDS, "route" => route.to_owned(), "side" => side))
            });
            primary_side.record(primary.as_secs_f64());
            shadow_side.record(shadow.as_secs_f64());
        });
    }
}

/// Why a mirror may run.
#[derive(Debug)]
pub enum Admission {
    /// The workers have time to spare.
    Spare,
    /// The workers are busy; the comparison budget pays for it.
    Budget(Reservation),
}

impl Admission {
    /// The budget's reservation, if the budget pays.
    pub fn into_reservation(self) -> Option<Reservation> {
        match self {
            Self::Spare => None,
            Self::Budget(reservation) => Some(reservation),
        }
    }
}

impl Shadowing {
    /// Shadowing that records to `recorder` (or only to metrics and logs without one).
    pub fn new(recorder: Option<Recorder>) -> Self {
        Self {
            stats: ShadowStats::default(),
            recorder,
            headroom: None,
            budget: ComparisonBudget::new(1),
            metrics: RouteMetrics::default(),
        }
    }

    /// Past `[shadow] max_busy` of the workers `headroom` samples, mirrors run only on the budget.
    #[must_use]
    pub fn with_headroom(mut self, headroom: Arc<Headroom>) -> Self {
        self.budget = ComparisonBudget::new(headroom.workers());
        self.headroom = Some(headroom);
        self
    }

    /// Whether a mirror may start now: the workers have time to spare under
    /// `max_busy` (always, without sampling), or the comparison budget of
    /// `budget` still has credit. `None`: it is dropped as overloaded.
    pub fn admit(&self, max_busy: f64, budget: f64) -> Option<Admission> {
        if self.headroom.as_ref().is_none_or(|h| h.admits(max_busy)) {
            return Some(Admission::Spare);
        }
        self.budget
            .admit(budget, Instant::now())
            .map(Admission::Budget)
    }

    /// Starts charging the budget with the database work of budgeted mirrors
    /// that runs outside their task ([`super::database_cpu`]); needs a runtime.
    pub fn meter_database(&self) {
        super::database_cpu::spawn(self.budget.clone());
    }

    /// What the comparison budget has spent on this replica, under a budget of `share`.
    pub fn budget_report(&self, share: f64) -> BudgetReport {
        self.budget.report(share)
    }

    /// This replica's statistics.
    pub fn stats(&self) -> &ShadowStats {
        &self.stats
    }

    /// The recorder, when there is a database.
    pub fn recorder(&self) -> Option<&Recorder> {
        self.recorder.as_ref()
    }

    /// Counts an outcome of `route` in metrics and the database.
    pub fn count(&self, route: &str, outcome: Outcome) {
        self.metrics.count(route, outcome);
        if let Some(recorder) = &self.recorder {
            recorder.count(route, outcome.label());
        }
    }

    /// Runs `job` in a detached task; nothing it does can reach the client.
    pub fn spawn(self: &Arc<Self>, mut job: MirrorJob) {
        let shadowing = self.clone();
        let span = crate::telemetry::shadow_span(&job.route, job.policy.to);
        let route = job.route.clone();
        let reservation = job.reservation.take();
        let budgeted = reservation.is_some();
        // Boxed, and made before the task: the task's future stays small.
        // Spawning moves a future several times on its way into the task,
        // and a mirror's whole state (over 5 KB) captured in the task's
        // future was copied each time, with the job it was made of.
        let run = Box::pin(self.clone().run(job, budgeted));
        let mirror = async move {
            let (ran, cost) = metered(AssertUnwindSafe(run).catch_unwind()).await;
            if let Some(reservation) = reservation {
                reservation.charge(cost);
            }
            shadowing.stats.mirror_cost(&route, cost);
            if ran.is_err() {
                tracing::error!(route = %route, "a shadow comparison panicked; the client was not affected");
                shadowing.count(&route, Outcome::Error(ErrorReason::ShadowFailed));
            }
        };
        tokio::spawn(mirror.instrument(span));
    }

    async fn run(self: Arc<Self>, mut job: MirrorJob, budgeted: bool) {
        let started = Instant::now();
        let primary_body = std::mem::replace(&mut job.primary_body, oneshot::channel().1);
        // Moved, not cloned: the job has no other use for them.
        let primary_headers = std::mem::take(&mut job.primary_headers);
        let gathered = tokio::time::timeout(
            job.timeout,
            gather(&job, primary_headers, primary_body, budgeted),
        )
        .await;
        let (primary, shadow, shadow_latency, second) = match gathered {
            Err(_elapsed) => {
                self.count(&job.route, Outcome::Error(ErrorReason::ShadowTimedOut));
                tracing::debug!(route = %job.route, request_id = %job.request_id, after = ?started.elapsed(), "shadow timed out");
                return;
            }
            Ok(Err(reason)) => {
                self.count(&job.route, Outcome::Error(reason));
                return;
            }
            Ok(Ok(gathered)) => gathered,
        };
        if let Some(second) = second {
            self.stats
                .learn_noise(&job.route, &detect_noise(&primary, &second));
        }
        let noise = self.stats.noise(&job.route);
        let mut comparison = compare(&primary, &shadow, &job.policy.rules, Some(&noise));
        redact_comparison(&mut comparison, &job.redact);
        self.stats
            .latencies(&job.route, job.primary_latency, shadow_latency);
        self.metrics
            .side_durations(&job.route, job.primary_latency, shadow_latency);
        self.count(&job.route, comparison.outcome);
        if !comparison.formats.is_empty() {
            let paths = comparison.formats.iter().map(|d| d.path.as_str());
            self.stats.format_fields(&job.route, paths);
        }
        if !comparison.noise.is_empty()
            && let Some(recorder) = &self.recorder
        {
            recorder.count(&job.route, "with_noise");
        }
        if comparison.outcome == Outcome::Mismatch {
            self.mismatch(&job, &comparison, &primary, &shadow, shadow_latency);
        }
    }

    fn mismatch(
        &self,
        job: &MirrorJob,
        comparison: &Comparison,
        primary: &Captured,
        shadow: &Captured,
        shadow_latency: Duration,
    ) {
        let fields: Vec<&str> = comparison
            .differences
            .iter()
            .map(|d| d.path.as_str())
            .collect();
        tracing::warn!(
            route = %job.route,
            request_id = %job.request_id,
            method = %job.method,
            primary = %job.primary_side,
            fields = ?fields,
            truncated = comparison.truncated,
            "shadow mismatch"
        );
        self.stats.fields(&job.route, fields.iter().copied());
        if let Some(recorder) = &self.recorder {
            let request = record_request(&job.method, &job.uri, &job.headers, &job.redact);
            let request_body = record_body(&CapturedBody::Complete(job.body.clone()), &job.redact);
            let original = match redacted_original(&job.uri, &job.body, &request, &request_body) {
                Some(original) if recorder.seals() => Sealed::Original(original),
                _ => Sealed::None,
            };
            recorder.record(MismatchRecord {
                id: uuid::Uuid::now_v7(),
                route: job.route.clone(),
                template: job.template.to_string(),
                method: job.method.to_string(),
                path: job.path.clone(),
                request_id: job.request_id.clone(),
                recorded_at: Utc::now(),
                outcome: comparison.outcome.label().to_owned(),
                primary_side: job.primary_side.to_string(),
                primary_status: job.primary_status.as_u16(),
                shadow_status: shadow.status.as_u16(),
                primary_latency_ms: job.primary_latency.as_secs_f64() * 1000.0,
                shadow_latency_ms: shadow_latency.as_secs_f64() * 1000.0,
                differences: json!({
                    "differences": comparison.differences,
                    "ignored": comparison.ignored,
                    "noise": comparison.noise,
                    "formats": comparison.formats,
                    "truncated": comparison.truncated,
                }),
                request: Some(request),
                exchange: Some(RecordedExchange {
                    primary: record_answer(primary, &job.policy.compare_headers, &job.redact),
                    shadow: record_answer(shadow, &job.policy.compare_headers, &job.redact),
                }),
                request_body: Some(request_body),
                original,
            });
        }
    }
}

type Gathered = (Captured, Captured, Duration, Option<Captured>);

/// Sends the mirror (and the noise probe), and waits for the primary's body.
/// A `budgeted` mirror's in-process dispatches are counted, for the budget
/// to be charged their database work ([`super::database_cpu`]).
async fn gather(
    job: &MirrorJob,
    primary_headers: HeaderMap,
    primary_body: oneshot::Receiver<CapturedBody>,
    budgeted: bool,
) -> Result<Gathered, ErrorReason> {
    let count = |side: Target| {
        if budgeted && side == Target::Service {
            super::database_cpu::count_budgeted_service_mirror();
        }
    };
    let started = Instant::now();
    // With a canary or an override, the side not serving this request is mirrored.
    count(job.primary_side.other());
    let response = job
        .upstreams
        .send(job.primary_side.other(), mirrored_request(job), &job.call)
        .await
        .map_err(|_| ErrorReason::ShadowFailed)?;
    let shadow_latency = started.elapsed();
    let shadow = capture_response(response, job.max_body_bytes)
        .await
        .map_err(|_| ErrorReason::ShadowFailed)?;
    let second = if job.policy.detect_noise {
        // A failed probe only means no noise is learned this time.
        count(job.primary_side);
        match job
            .upstreams
            .send(job.primary_side, mirrored_request(job), &job.call)
            .await
        {
            Ok(response) => capture_response(response, job.max_body_bytes).await.ok(),
            Err(_) => None,
        }
    } else {
        None
    };
    let primary_body = primary_body.await.map_err(|_| ErrorReason::PrimaryFailed)?;
    let primary = Captured::new(job.primary_status, primary_headers, primary_body);
    Ok((primary, shadow, shadow_latency, second))
}

/// A copy of the client's request, marked as a mirror; with `writes =
/// "rollback"` (validated: the service is the mirrored side), marked so the
/// service rolls back whatever it writes.
fn mirrored_request(job: &MirrorJob) -> Request<Body> {
    let mut request = Request::new(Body::from(job.body.clone()));
    *request.method_mut() = job.method.clone();
    *request.uri_mut() = job.uri.clone();
    *request.version_mut() = job.version;
    *request.headers_mut() = job.headers.clone();
    request
        .headers_mut()
        .insert(SHADOW_HEADER, HeaderValue::from_static("1"));
    if job.policy.writes == ShadowWrites::Rollback {
        request.extensions_mut().insert(accounts::RollbackWrites);
    }
    request
}

const REDACTED: &str = "\"[redacted]\"";

/// Replaces the values of differences at redacted names.
pub(super) fn redact_comparison(comparison: &mut Comparison, names: &[String]) {
    if names.is_empty() {
        return;
    }
    for difference in comparison
        .differences
        .iter_mut()
        .chain(comparison.ignored.iter_mut())
        .chain(comparison.noise.iter_mut())
        .chain(comparison.formats.iter_mut())
    {
        if is_redacted(difference, names) {
            difference.primary = difference.primary.as_ref().map(|_| REDACTED.to_owned());
            difference.shadow = difference.shadow.as_ref().map(|_| REDACTED.to_owned());
        }
    }
}

fn is_redacted(difference: &Difference, names: &[String]) -> bool {
    let path = difference.path.to_ascii_lowercase();
    if let Some(header) = path.strip_prefix("header:") {
        return names.iter().any(|n| n == header);
    }
    if difference.kind == DiffKind::BodyBytes {
        // A raw body preview may hold anything: redact it when it names a redacted field.
        let text = format!("{:?}{:?}", difference.primary, difference.shadow).to_ascii_lowercase();
        return names.iter().any(|n| text.contains(n.as_str()));
    }
    // Any segment of the pointer: redacting `user` redacts everything below it.
    path.split('/')
        .any(|segment| names.iter().any(|n| n == segment))
}
