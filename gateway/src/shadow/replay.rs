//! Replaying recorded mismatches: "did my fix work?" without waiting for traffic.
//!
//! [`replay`] reads a route's newest mismatch records (optionally only those
//! recorded since some time ago), resends each record's request to both
//! sides now, through the upstreams of the table in force, and compares the
//! two answers with the route's rules in force and the noise this replica
//! has learned. Each request is reported per field: `fixed` (it differed
//! when recorded and agrees now), `still_differing`, or `newly_differing`;
//! the request as a whole is `fixed`, `still_differing` (one of its recorded
//! fields still differs), `newly_differing` (it differs now, but only in
//! fields that did not differ when recorded), `refused` (with the reason) or
//! `failed` (a side gave no answer in time).
//!
//! # What is resent
//!
//! - The recorded method, path and query, headers and body. What redaction
//!   replaced in the query and body is resent as received when the record
//!   sealed it ([`super::seal`], `shadow_records.seal_key`); otherwise a
//!   redacted query parameter or JSON member is sent as `[redacted]`. A
//!   redacted header is always left out. The request's `notes` say which,
//!   since either side may answer a changed request differently than the
//!   original. `Content-Length` is computed again; both requests
//!   carry `x-gateway-shadow: replay` and a fresh `X-Request-Id`.
//! - Safe methods (`GET`, `HEAD`, `OPTIONS`) go to both sides. A write is
//!   replayed only on a route with `writes = "rollback"` whose record
//!   mirrored it to the service: it is sent to the service alone, inside a
//!   rolled-back transaction as when it was mirrored, and compared with the
//!   primary's answer *as recorded* (legacy is not asked again: that would
//!   write there twice). Both answers are then seen as the record keeps them
//!   (the compared headers and the body, redacted), so a redacted member is
//!   `[redacted]` on both sides. Any other write is refused with the reason.
//! - A request recorded cut to the record's bounds, with a body recorded by
//!   its size only (binary, too large, or naming a redacted field), or
//!   recorded before requests were kept, is refused with the reason.
//!
//! # Not traffic
//!
//! A replay is not counted as a shadow outcome: it adds nothing to the
//! route's counts, match rate, verdict or flip gating, and records no
//! mismatch. Its report is the admin API's answer (and `gateway replay`'s
//! output), and one log line with the summary.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, header};
use serde::Serialize;
use shadow_diff::{Captured, CapturedBody, Comparison, Outcome, compare};
use uuid::Uuid;

use super::capture::capture_response;
use super::exchange::{REDACTED, RecordedAnswer, RecordedBody, RecordedRequest, record_answer};
use super::mirror::{SHADOW_HEADER, redact_comparison};
use super::seal::Sealed;
use super::stats::ShadowStats;
use super::store::{MismatchRecord, ShadowStore, StoreError};
use crate::reload::Active;
use crate::upstream::{Call, ForwardContext};
use gateway_routing::{ShadowPolicy, ShadowWrites, Target};

/// How many records one replay takes when no limit is given.
pub const DEFAULT_LIMIT: u64 = 50;
/// The most records one replay takes.
pub const MAX_LIMIT: u64 = 500;

/// Which records to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Only records of the last `since` (all kept records when `None`).
    pub since: Option<Duration>,
    /// At most this many, newest first.
    pub limit: u64,
}

/// Why a replay could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The table in force has no route of that name.
    #[error("no route {0:?} in the table in force")]
    NoRoute(String),
    /// The route has no shadow rules in force to compare with.
    #[error(
        "route {0:?} is not shadowed in the table in force: there are no rules to compare with"
    )]
    NotShadowed(String),
    /// The records could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What became of one recorded request, or of one of its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayResult {
    /// It differed when recorded and agrees now.
    Fixed,
    /// It differed when recorded and still does.
    StillDiffering,
    /// It differs now and did not when recorded.
    NewlyDiffering,
    /// Not resent (see the reason).
    Refused,
    /// Resent, but a side gave no answer to compare.
    Failed,
}

impl ReplayResult {
    /// The label in the report: `fixed`, `still differing`, …
    pub fn label(self) -> &'static str {
        match self {
            Self::Fixed => "fixed",
            Self::StillDiffering => "still differing",
            Self::NewlyDiffering => "newly differing",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

/// One field of a replayed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayedField {
    /// `status`, `header:<name>`, `body` or a JSON Pointer.
    pub path: String,
    /// `fixed`, `still_differing` or `newly_differing`.
    pub result: ReplayResult,
    /// The primary's value now (redacted, cut), when it differs now.
    pub primary: Option<String>,
    /// The mirrored side's value now, likewise.
    pub shadow: Option<String>,
}

/// One recorded request, replayed (or not, with the reason).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayedRequest {
    /// The mismatch record's id.
    pub record_id: Uuid,
    /// When the mismatch was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The method.
    pub method: String,
    /// The path and query as recorded (redacted).
    pub path_and_query: String,
    /// The request's result.
    pub result: ReplayResult,
    /// Why it was refused or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The comparison's outcome now (`match`, `mismatch`, `format_only`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// The fields that differed then or differ now.
    pub fields: Vec<ReplayedField>,
    /// How the resent request differs from the recorded one (redacted parts).
    pub notes: Vec<String>,
    /// The replay's `X-Request-Id`, to find it in either side's logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The counts of a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    /// Records read.
    pub records: usize,
    /// Of them, resent and compared.
    pub replayed: usize,
    /// Results.
    pub fixed: usize,
    /// See [`ReplaySummary::fixed`].
    pub still_differing: usize,
    /// See [`ReplaySummary::fixed`].
    pub newly_differing: usize,
    /// See [`ReplaySummary::fixed`].
    pub refused: usize,
    /// See [`ReplaySummary::fixed`].
    pub failed: usize,
}

impl ReplaySummary {
    fn of(requests: &[ReplayedRequest]) -> Self {
        let mut summary = Self {
            records: requests.len(),
            ..Self::default()
        };
        for request in requests {
            let count = match request.result {
                ReplayResult::Fixed => &mut summary.fixed,
                ReplayResult::StillDiffering => &mut summary.still_differing,
                ReplayResult::NewlyDiffering => &mut summary.newly_differing,
                ReplayResult::Refused => &mut summary.refused,
                ReplayResult::Failed => &mut summary.failed,
            };
            *count += 1;
        }
        summary.replayed = summary.fixed + summary.still_differing + summary.newly_differing;
        summary
    }

    /// The summary line: `replayed 3 of 4 recorded mismatches: 2 fixed, …`.
    pub fn line(&self) -> String {
        format!(
            "replayed {} of {} recorded mismatches: {} fixed, {} still differing, {} newly differing, {} refused, {} failed",
            self.replayed,
            self.records,
            self.fixed,
            self.still_differing,
            self.newly_differing,
            self.refused,
            self.failed
        )
    }
}

/// A replay's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The route.
    pub route: String,
    /// When the replay started.
    pub replayed_at: DateTime<Utc>,
    /// Each record, newest first.
    pub requests: Vec<ReplayedRequest>,
    /// The counts.
    pub summary: ReplaySummary,
    /// [`ReplaySummary::line`].
    pub line: String,
}

/// Replays `route`'s newest recorded mismatches (see the module docs).
///
/// Requests are resent one after another, each side bounded by
/// `[shadow] timeout`, so a replay costs the sides about as much as the
/// same requests from one client.
///
/// # Errors
///
/// [`ReplayError`] when the route is unknown or not shadowed, or the records cannot be read.
pub async fn replay(
    store: &ShadowStore,
    active: &Active,
    stats: &ShadowStats,
    route: &str,
    options: ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let found = active
        .table
        .routes()
        .iter()
        .find(|r| r.name() == route)
        .ok_or_else(|| ReplayError::NoRoute(route.to_owned()))?;
    let policy = found
        .shadow()
        .ok_or_else(|| ReplayError::NotShadowed(route.to_owned()))?;
    let settings = active.table.shadow_settings();
    let replayed_at = Utc::now();
    let cutoff = options
        .since
        .and_then(|since| chrono::Duration::from_std(since).ok())
        .map(|since| replayed_at - since);
    // Ids are time-ordered: the newest `limit` records, cut at `since`, are
    // the newest `limit` of those since then.
    let listed = store.list(Some(route), None, options.limit).await?;
    let noise = stats.noise(route);
    let mut requests = Vec::new();
    for listed in listed {
        if cutoff.is_some_and(|cutoff| listed.recorded_at < cutoff) {
            break;
        }
        // A record deleted by retention meanwhile is simply not replayed.
        let Some(record) = store.get(listed.id).await? else {
            continue;
        };
        let mut replayed = ReplayedRequest::of(&record);
        match prepare(&record, policy) {
            Err(reason) => replayed.refuse(reason),
            Ok(prepared) => {
                replayed.notes.clone_from(&prepared.notes);
                let request_id = Uuid::now_v7().to_string();
                let answers = match prepared.write {
                    false => send_both(active, &prepared, &request_id, settings).await,
                    true => {
                        send_rolled_back(active, &record, &prepared, &request_id, policy, settings)
                            .await
                    }
                };
                replayed.request_id = Some(request_id);
                match answers {
                    Err(reason) => {
                        replayed.result = ReplayResult::Failed;
                        replayed.reason = Some(reason);
                    }
                    Ok((primary, shadow)) => {
                        let mut comparison =
                            compare(&primary, &shadow, &policy.rules, Some(&noise));
                        redact_comparison(&mut comparison, &settings.redact);
                        replayed.judge(&record, &comparison);
                    }
                }
            }
        }
        requests.push(replayed);
    }
    let summary = ReplaySummary::of(&requests);
    let line = summary.line();
    tracing::info!(route, summary = %line, "shadow replay");
    Ok(ReplayReport {
        route: route.to_owned(),
        replayed_at,
        requests,
        summary,
        line,
    })
}

impl ReplayedRequest {
    fn of(record: &MismatchRecord) -> Self {
        let (method, path_and_query) = match &record.request {
            Some(request) => (request.method.clone(), request.path_and_query.clone()),
            None => (record.method.clone(), record.path.clone()),
        };
        Self {
            record_id: record.id,
            recorded_at: record.recorded_at,
            method,
            path_and_query,
            result: ReplayResult::Refused,
            reason: None,
            outcome: None,
            fields: Vec::new(),
            notes: Vec::new(),
            request_id: None,
        }
    }

    fn refuse(&mut self, reason: String) {
        self.result = ReplayResult::Refused;
        self.reason = Some(reason);
    }

    /// Sets the result and the fields from the comparison now against the record's differences.
    fn judge(&mut self, record: &MismatchRecord, now: &Comparison) {
        self.outcome = Some(now.outcome.label());
        let then = recorded_fields(record);
        let mut fields = Vec::new();
        for path in &then {
            match now.differences.iter().find(|d| &d.path == path) {
                Some(d) => fields.push(ReplayedField {
                    path: path.clone(),
                    result: ReplayResult::StillDiffering,
                    primary: d.primary.clone(),
                    shadow: d.shadow.clone(),
                }),
                None => fields.push(ReplayedField {
                    path: path.clone(),
                    result: ReplayResult::Fixed,
                    primary: None,
                    shadow: None,
                }),
            }
        }
        for d in now.differences.iter().filter(|d| !then.contains(&d.path)) {
            fields.push(ReplayedField {
                path: d.path.clone(),
                result: ReplayResult::NewlyDiffering,
                primary: d.primary.clone(),
                shadow: d.shadow.clone(),
            });
        }
        self.result = match now.outcome {
            Outcome::Match | Outcome::FormatOnly | Outcome::IgnoredOnly => ReplayResult::Fixed,
            Outcome::Mismatch
                if fields
                    .iter()
                    .any(|f| f.result == ReplayResult::StillDiffering) =>
            {
                ReplayResult::StillDiffering
            }
            Outcome::Mismatch => ReplayResult::NewlyDiffering,
            Outcome::Skipped(_) | Outcome::Dropped(_) | Outcome::Error(_) => {
                self.reason = Some(format!(
                    "the answers were not compared: {}",
                    now.outcome.label()
                ));
                ReplayResult::Failed
            }
        };
        self.fields = fields;
    }
}

/// The paths that differed when the record was made.
fn recorded_fields(record: &MismatchRecord) -> Vec<String> {
    record.differences["differences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["path"].as_str().map(str::to_owned))
        .collect()
}

/// A recorded request made ready to resend.
#[derive(Debug)]
struct Prepared {
    /// The route the mismatch was recorded for.
    route: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    primary: Target,
    notes: Vec<String>,
    /// A write, replayed on the service alone in a rolled-back transaction.
    write: bool,
}

/// Whether `method` changes nothing on the server (RFC 9110's safe methods that replay).
fn is_safe(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::OPTIONS].contains(method)
}

/// Turns a record into the request to resend, or says why it cannot be resent.
fn prepare(record: &MismatchRecord, policy: &ShadowPolicy) -> Result<Prepared, String> {
    let Some(request) = &record.request else {
        return Err("recorded by an earlier release, which kept no request".to_owned());
    };
    let method = Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("the recorded method {:?} is not a method", request.method))?;
    if request.truncated {
        return Err("the request was cut to the record's size bound when recorded".to_owned());
    }
    let primary = match record.primary_side.as_str() {
        "legacy" => Target::Legacy,
        "service" => Target::Service,
        other => return Err(format!("the recorded primary side {other:?} is unknown")),
    };
    let write = !is_safe(&method);
    if write && (policy.writes != ShadowWrites::Rollback || primary != Target::Legacy) {
        return Err(format!(
            "{method} is a write: it would be applied again; only GET, HEAD and OPTIONS are replayed, and writes mirrored to the service on a route with `writes = \"rollback\"`"
        ));
    }
    let mut notes = Vec::new();
    let (path_and_query, body) = match &record.original {
        Sealed::Original(original) => {
            notes.push(
                "the query and body are resent as received (sealed with the record under shadow_records.seal_key)"
                    .to_owned(),
            );
            (original.path_and_query.as_str(), original.body.clone())
        }
        sealed => {
            let redacted = |notes: &mut Vec<String>, what: String| {
                notes.push(match sealed {
                    Sealed::Unreadable(why) => format!("{what}; the original: {why}"),
                    _ => format!("{what} (set shadow_records.seal_key to resend them as received)"),
                });
            };
            if request.path_and_query.contains(&format!("={REDACTED}")) {
                redacted(
                    &mut notes,
                    format!("query parameters redacted when recorded are sent as {REDACTED}"),
                );
            }
            let body = body(record.request_body.as_ref())?;
            if body.redacted {
                redacted(
                    &mut notes,
                    format!("JSON members redacted when recorded are sent as \"{REDACTED}\""),
                );
            }
            if body.unrecorded {
                notes.push("the body was not recorded (an earlier release): sent empty".to_owned());
            }
            (request.path_and_query.as_str(), body.bytes)
        }
    };
    let uri: Uri = path_and_query
        .parse()
        .map_err(|_| "the recorded path and query do not form a URI".to_owned())?;
    let headers = headers(request, body.len(), &mut notes);
    Ok(Prepared {
        route: record.route.clone(),
        method,
        uri,
        headers,
        body,
        primary,
        notes,
        write,
    })
}

/// A recorded body to resend.
struct ResentBody {
    bytes: Bytes,
    /// It holds JSON members sent as [`REDACTED`].
    redacted: bool,
    /// No body was recorded (an earlier release): it is sent empty.
    unrecorded: bool,
}

/// The recorded body to resend, or why there is none.
fn body(recorded: Option<&RecordedBody>) -> Result<ResentBody, String> {
    let resent = |text: &str| ResentBody {
        bytes: Bytes::from(text.to_owned()),
        redacted: false,
        unrecorded: false,
    };
    match recorded {
        None => Ok(ResentBody {
            unrecorded: true,
            ..resent("")
        }),
        Some(RecordedBody::Json {
            truncated: true, ..
        })
        | Some(RecordedBody::Text {
            truncated: true, ..
        }) => Err("the body was cut to the record's size bound when recorded".to_owned()),
        Some(RecordedBody::Json { text, .. }) => Ok(ResentBody {
            redacted: text.contains(&format!("\"{REDACTED}\"")),
            ..resent(text)
        }),
        Some(RecordedBody::Text { text, .. }) => Ok(resent(text)),
        Some(RecordedBody::Binary { bytes }) => Err(format!(
            "the body is binary ({bytes} bytes): only its size was recorded"
        )),
        Some(RecordedBody::Redacted { bytes }) => Err(format!(
            "the body ({bytes} bytes) is not JSON and names a redacted field: only its size was recorded (with shadow_records.seal_key set, it is sealed and resent as received)"
        )),
        Some(RecordedBody::TooLarge { limit }) => Err(format!(
            "the body was larger than {limit} bytes: it was not recorded"
        )),
    }
}

/// The recorded headers to resend: redacted ones left out, the length computed again.
fn headers(request: &RecordedRequest, body_len: usize, notes: &mut Vec<String>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for recorded in &request.headers {
        let Ok(name) = HeaderName::try_from(recorded.name.as_str()) else {
            continue;
        };
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name.as_str() == SHADOW_HEADER
        {
            continue;
        }
        if recorded.value == REDACTED {
            notes.push(format!(
                "header {name} was redacted when recorded: sent without it"
            ));
            continue;
        }
        match HeaderValue::from_str(&recorded.value) {
            Ok(value) => {
                headers.append(name, value);
            }
            Err(_) => notes.push(format!(
                "header {name} was not text when recorded: sent without it"
            )),
        }
    }
    if body_len > 0 {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
    }
    headers.insert(SHADOW_HEADER, HeaderValue::from_static("replay"));
    headers
}

impl Prepared {
    fn request(&self) -> Request<Body> {
        let mut request = Request::new(Body::from(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// One side's answer as a record keeps it: the status, the compared headers and the body.
///
/// # Errors
///
/// Why the body cannot be compared: cut, or kept by its size only.
fn as_recorded(status: u16, answer: &RecordedAnswer) -> Result<Captured, String> {
    let status = http::StatusCode::from_u16(status)
        .map_err(|_| format!("the recorded status {status} is not a status"))?;
    let mut headers = HeaderMap::new();
    for recorded in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(recorded.name.as_str()),
            HeaderValue::from_str(&recorded.value),
        ) {
            headers.append(name, value);
        }
    }
    let body = match &answer.body {
        RecordedBody::Json {
            text,
            truncated: false,
        }
        | RecordedBody::Text {
            text,
            truncated: false,
        } => CapturedBody::Complete(Bytes::from(text.clone())),
        RecordedBody::TooLarge { limit } => CapturedBody::TooLarge { limit: *limit },
        _ => {
            return Err(
                "the primary's recorded body cannot be compared (cut, binary or redacted)"
                    .to_owned(),
            );
        }
    };
    Ok(Captured::new(status, headers, body))
}

/// Sends a write to the service alone, rolled back, and pairs its answer
/// with the primary's as recorded; both as the record keeps them.
async fn send_rolled_back(
    active: &Active,
    record: &MismatchRecord,
    prepared: &Prepared,
    request_id: &str,
    policy: &ShadowPolicy,
    settings: &gateway_routing::ShadowSettings,
) -> Result<(Captured, Captured), String> {
    let Some(exchange) = &record.exchange else {
        return Err("the primary's answer was not recorded (an earlier release)".to_owned());
    };
    let primary = as_recorded(record.primary_status, &exchange.primary)?;
    let mut request = prepared.request();
    request.extensions_mut().insert(accounts::RollbackWrites);
    let shadow = send_one(
        active,
        Target::Service,
        request,
        &call(active, prepared, request_id),
        settings,
    )
    .await?;
    let kept = record_answer(&shadow, &policy.compare_headers, &settings.redact);
    Ok((primary, as_recorded(shadow.status.as_u16(), &kept)?))
}

/// Where a replayed request goes besides its side: the route's rewrites
/// in force apply, as for a live request.
fn call(active: &Active, prepared: &Prepared, request_id: &str) -> Call {
    let context = ForwardContext {
        client_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        scheme: "http",
        request_id: HeaderValue::from_str(request_id).unwrap_or(HeaderValue::from_static("replay")),
    };
    let route = active
        .table
        .routes()
        .iter()
        .find(|route| route.name() == prepared.route);
    let upstream = route.map_or(
        active.table.default_upstream(),
        gateway_routing::Route::upstream,
    );
    match gateway_routing::normalize_path(prepared.uri.path()) {
        Ok(path) => Call::new(route, upstream, &path, prepared.uri.query(), context),
        // Recorded paths were normalised already; keep it as recorded.
        Err(_) => Call {
            path_and_query: prepared.uri.to_string(),
            legacy: None,
            service: None,
            upstream,
            context,
        },
    }
}

/// Sends `request` to `side`, bounded by `[shadow] timeout`; its answer.
async fn send_one(
    active: &Active,
    side: Target,
    request: Request<Body>,
    call: &Call,
    settings: &gateway_routing::ShadowSettings,
) -> Result<Captured, String> {
    let sent = tokio::time::timeout(settings.timeout, async {
        let response = active
            .upstreams
            .send(side, request, call)
            .await
            .map_err(|err| format!("{side} gave no answer: {err}"))?;
        capture_response(response, settings.max_body_bytes)
            .await
            .map_err(|err| format!("{side}'s answer could not be read: {err}"))
    })
    .await;
    sent.unwrap_or_else(|_| {
        Err(format!(
            "{side} did not answer within [shadow] timeout ({:?})",
            settings.timeout
        ))
    })
}

/// Sends the request to both sides at once; their answers, primary first.
async fn send_both(
    active: &Active,
    prepared: &Prepared,
    request_id: &str,
    settings: &gateway_routing::ShadowSettings,
) -> Result<(Captured, Captured), String> {
    let call = call(active, prepared, request_id);
    let side = |side: Target| send_one(active, side, prepared.request(), &call, settings);
    let (primary, shadow) = tokio::join!(side(prepared.primary), side(prepared.primary.other()));
    Ok((primary?, shadow?))
}

#[cfg(test)]
mod tests;
