//! Validated shadow settings: the `[shadow]` table, a route's `shadow` and `require`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{FixedOffset, Offset, Utc};
use http::{HeaderName, Method};
use serde::Serialize;
use shadow_diff::{
    ArrayOrder, CompareRules, DEFAULT_MAX_BODY_BYTES, Formats, IgnoreRule, Timestamps,
};
use toml::Spanned;

use crate::error::{LineIndex, Problem};
use crate::fnv::stable_hash_hex;
use crate::spec::{RequireSpec, ShadowSettingsSpec, ShadowSpec};
use crate::target::Target;
use crate::values::{duration_setting, parse_methods};

/// Default `[shadow] max_in_flight`.
const DEFAULT_MAX_IN_FLIGHT: u64 = 256;
/// Default `[shadow] timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The shortest `require.window`: results are counted per minute.
const MIN_WINDOW: Duration = Duration::from_secs(60);
/// Default `[shadow] max_busy`: mirrors yield to clients when workers are 80 % busy.
const DEFAULT_MAX_BUSY: f64 = 0.8;
/// Default `[shadow] budget`: past `max_busy`, mirrors may still take 2 % of the gateway's CPU time.
const DEFAULT_BUDGET: f64 = 0.02;
/// The largest `[shadow] budget`: half the gateway's CPU time, at most, goes to mirrors under load.
const MAX_BUDGET: f64 = 0.5;
/// Default `[shadow] redact`.
const DEFAULT_REDACT: &[&str] = &[
    "email",
    "password",
    "token",
    "secret",
    "authorization",
    "cookie",
    "set-cookie",
];

/// The `[shadow]` table: limits shared by every route's mirroring.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowSettings {
    /// Mirrors in flight at once; beyond it a mirror is dropped and counted.
    pub max_in_flight: usize,
    /// Limit on one mirror: its request, response and comparison.
    #[serde(with = "humantime_millis")]
    pub timeout: Duration,
    /// Bodies larger than this are not compared (the outcome says so).
    pub max_body_bytes: usize,
    /// Past this busy share of the workers, mirrors run only on the [`budget`](Self::budget);
    /// 1.0: never (every mirror runs); 0.0: always (mirrors only ever run on the budget).
    pub max_busy: f64,
    /// The comparison budget: the share of the gateway's CPU time that mirrors
    /// may still take while the workers are busier than `max_busy`; 0.0:
    /// none (every mirror is dropped then).
    pub budget: f64,
    /// Object member and header names (lower-case) whose values are never recorded or logged.
    ///
    /// Shared, not copied, by every mirror of the table.
    #[serde(serialize_with = "strings")]
    pub redact: Arc<[String]>,
}

fn strings<S: serde::Serializer>(values: &Arc<[String]>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter())
}

impl Default for ShadowSettings {
    fn default() -> Self {
        Self {
            max_in_flight: usize::try_from(DEFAULT_MAX_IN_FLIGHT).unwrap_or(256),
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_busy: DEFAULT_MAX_BUSY,
            budget: DEFAULT_BUDGET,
            redact: DEFAULT_REDACT.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

mod humantime_millis {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }
}

/// A route's `shadow` table, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowPolicy {
    /// The side mirrored to.
    pub to: Target,
    /// The share of requests mirrored, 0.0 to 1.0.
    pub sample: f64,
    /// The methods mirrored.
    #[serde(serialize_with = "method_names")]
    pub methods: Vec<Method>,
    /// Whether each mirrored request is also sent to the primary twice, to learn noise.
    pub detect_noise: bool,
    /// How the two answers are compared.
    #[serde(skip)]
    pub rules: CompareRules,
    /// The ignore rules as written, for display.
    pub ignore: Vec<String>,
    /// The compared headers, for display.
    pub compare_headers: Vec<String>,
    /// `"instant"` or `"strict"`: how timestamps are compared, for display.
    pub timestamps: &'static str,
    /// Where naive timestamps are read (`+00:00` for UTC), for display;
    /// `None` with strict timestamps.
    pub naive_timezone: Option<String>,
    /// Whether numbers written as strings equal the numbers, for display.
    pub numeric_strings: bool,
    /// What becomes of a mirrored write.
    pub writes: ShadowWrites,
}

/// What becomes of a mirrored write (`shadow.writes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ShadowWrites {
    /// `"apply"`, the default: the mirrored side performs it for real (a mirrored `POST` writes twice).
    #[default]
    Apply,
    /// `"rollback"`: the in-process service runs it inside one database
    /// transaction that is always rolled back; only with `to = "service"`.
    Rollback,
}

fn method_names<S: serde::Serializer>(
    methods: &[Method],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(methods.iter().map(Method::as_str))
}

impl ShadowPolicy {
    /// Whether requests with `method` are mirrored.
    pub fn mirrors(&self, method: &Method) -> bool {
        self.methods.contains(method)
    }

    /// Whether a request with `method` that `primary` serves is mirrored:
    /// as [`mirrors`](Self::mirrors), except that with `writes = "rollback"`
    /// a write is never mirrored to legacy (a canary or an override sent it
    /// to the service), since only the service's writes can be rolled back.
    pub fn mirrors_from(&self, primary: Target, method: &Method) -> bool {
        self.mirrors(method)
            && (self.writes == ShadowWrites::Apply
                || primary.other() == Target::Service
                || is_safe(method))
    }

    /// A stable hash of what decides a comparison's outcome (the rules and
    /// noise learning): when it changes, the route's results start again.
    pub fn fingerprint(&self) -> String {
        let canonical = format!(
            "{};detect_noise={}",
            self.rules.canonical(),
            self.detect_noise
        );
        stable_hash_hex(canonical.as_bytes())
    }
}

/// A route's `require` table: when its shadow results make it ready to flip.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FlipRequirement {
    /// The share of compared requests that must match (ignored-only and
    /// format-only comparisons count as matches).
    pub match_rate: f64,
    /// How many comparisons there must be first.
    pub min_samples: u64,
    /// Judge only the comparisons of this recent span; `None`: everything
    /// since the route's comparison rules last changed (or its last reset).
    #[serde(serialize_with = "optional_humantime")]
    pub window: Option<Duration>,
}

fn optional_humantime<S: serde::Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(d) => serializer.serialize_str(&humantime::format_duration(*d).to_string()),
        None => serializer.serialize_none(),
    }
}

impl Default for FlipRequirement {
    fn default() -> Self {
        Self {
            match_rate: 0.999,
            min_samples: 1000,
            window: None,
        }
    }
}

/// Validates `[shadow]`, pushing its problems.
pub(crate) fn shadow_settings(
    spec: Option<Spanned<ShadowSettingsSpec>>,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> ShadowSettings {
    let defaults = ShadowSettings::default();
    let Some(spec) = spec else { return defaults };
    let spec = spec.into_inner();
    let positive = |value: Option<Spanned<u64>>,
                    key: &str,
                    default: u64,
                    problems: &mut Vec<Problem>|
     -> u64 {
        match value {
            None => default,
            Some(v) if *v.get_ref() > 0 => *v.get_ref(),
            Some(v) => {
                problems.push(
                    index.problem(v.span().start, format!("`{key}` must be greater than zero")),
                );
                default
            }
        }
    };
    let as_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let redact = match spec.redact {
        None => defaults.redact,
        Some(list) => list
            .into_inner()
            .into_iter()
            .map(|name| name.into_inner().to_ascii_lowercase())
            .collect(),
    };
    ShadowSettings {
        max_in_flight: as_usize(positive(
            spec.max_in_flight,
            "max_in_flight",
            DEFAULT_MAX_IN_FLIGHT,
            problems,
        )),
        timeout: duration_setting(
            spec.timeout.as_ref(),
            "timeout",
            DEFAULT_TIMEOUT,
            index,
            problems,
        )
        .unwrap_or(DEFAULT_TIMEOUT),
        max_body_bytes: as_usize(positive(
            spec.max_body_bytes,
            "max_body_bytes",
            u64::try_from(DEFAULT_MAX_BODY_BYTES).unwrap_or(u64::MAX),
            problems,
        )),
        max_busy: match spec.max_busy {
            None => DEFAULT_MAX_BUSY,
            Some(v) if (0.0..=1.0).contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                problems
                    .push(index.problem(v.span().start, "`max_busy` must be between 0.0 and 1.0"));
                DEFAULT_MAX_BUSY
            }
        },
        budget: match spec.budget {
            None => DEFAULT_BUDGET,
            Some(v) if (0.0..=MAX_BUDGET).contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                problems.push(index.problem(
                    v.span().start,
                    format!("`budget` must be between 0.0 and {MAX_BUDGET} (a share of the gateway's CPU time)"),
                ));
                DEFAULT_BUDGET
            }
        },
        redact,
    }
}

/// Validates a route's `shadow`, pushing its problems.
pub(crate) fn shadow_policy(
    spec: Spanned<ShadowSpec>,
    to: Target,
    target: Target,
    route_methods: Option<&[Method]>,
    max_body_bytes: usize,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<ShadowPolicy> {
    let offset = spec.span().start;
    let spec = spec.into_inner();
    let before = problems.len();
    if to == target {
        problems.push(index.problem(
            spec.to.span().start,
            format!(
                "`shadow.to` is \"{to}\", which already serves the route: mirror to the other side"
            ),
        ));
    }
    let sample = spec.sample.as_ref().map_or(1.0, |s| *s.get_ref());
    if let Some(s) = &spec.sample
        && !(0.0..=1.0).contains(s.get_ref())
    {
        problems.push(index.problem(s.span().start, "`sample` must be between 0.0 and 1.0"));
    }
    let methods = match spec.methods {
        None => vec![Method::GET, Method::HEAD, Method::OPTIONS],
        Some(methods) => parse_methods(methods, index, problems).unwrap_or_default(),
    };
    if let Some(route_methods) = route_methods {
        let unmatched: Vec<&str> = methods
            .iter()
            .filter(|m| !route_methods.contains(m))
            .map(Method::as_str)
            .collect();
        // Only a problem when the list was written: the default list is filtered silently.
        if !unmatched.is_empty() && methods.iter().any(|m| !is_safe(m)) {
            problems.push(index.problem(
                offset,
                format!(
                    "`shadow.methods` lists {} which the route does not match",
                    unmatched.join(", ")
                ),
            ));
        }
    }
    let detect_noise = spec.detect_noise.as_ref().is_some_and(|d| *d.get_ref());
    if detect_noise && methods.iter().any(|m| !is_safe(m)) {
        problems.push(index.problem(
            offset,
            "`detect_noise` sends each mirrored request to the primary twice: it is allowed only when `shadow.methods` lists safe methods (GET, HEAD, OPTIONS)",
        ));
    }
    let mut ignore = Vec::new();
    let mut ignore_text = Vec::new();
    for pointer in spec.ignore.map(Spanned::into_inner).unwrap_or_default() {
        match IgnoreRule::parse(pointer.get_ref()) {
            Ok(rule) => {
                ignore.push(rule);
                ignore_text.push(pointer.get_ref().clone());
            }
            Err(err) => problems
                .push(index.problem(pointer.span().start, format!("invalid ignore rule: {err}"))),
        }
    }
    let mut headers = Vec::new();
    match spec.compare_headers {
        None => headers.push(http::header::CONTENT_TYPE),
        Some(list) => {
            for name in list.into_inner() {
                match HeaderName::from_bytes(name.get_ref().as_bytes()) {
                    Ok(header) => headers.push(header),
                    Err(_) => problems.push(index.problem(
                        name.span().start,
                        format!(
                            "invalid header name {:?} in `compare_headers`",
                            name.get_ref()
                        ),
                    )),
                }
            }
        }
    }
    let array_order = match spec.array_order.as_ref().map(|a| a.get_ref().as_str()) {
        None | Some("strict") => ArrayOrder::Strict,
        Some("ignore") => ArrayOrder::Ignore,
        Some(other) => {
            if let Some(a) = &spec.array_order {
                problems.push(index.problem(
                    a.span().start,
                    format!("invalid `array_order` {other:?}: use \"strict\" or \"ignore\""),
                ));
            }
            ArrayOrder::Strict
        }
    };
    let formats = formats(
        &spec.timestamps,
        &spec.naive_timezone,
        &spec.numeric_strings,
        index,
        problems,
    );
    let writes = match spec.writes.as_ref().map(|w| (w, w.get_ref().as_str())) {
        None | Some((_, "apply")) => ShadowWrites::Apply,
        Some((w, "rollback")) => {
            if to != Target::Service {
                problems.push(index.problem(
                    w.span().start,
                    "`writes = \"rollback\"` needs the in-process service as the mirrored side (`to = \"service\"`): the gateway cannot roll back legacy's writes",
                ));
            }
            ShadowWrites::Rollback
        }
        Some((w, other)) => {
            problems.push(index.problem(
                w.span().start,
                format!(
                    "invalid `writes` {other:?}: use \"apply\" (the mirrored side writes for real) or \"rollback\" (the service's writes are rolled back)"
                ),
            ));
            ShadowWrites::Apply
        }
    };
    if problems.len() > before {
        return None;
    }
    let compare_headers = headers.iter().map(|h| h.as_str().to_owned()).collect();
    let allow_added_fields = spec
        .allow_added_fields
        .as_ref()
        .is_some_and(|a| *a.get_ref());
    let rules = match CompareRules::new(
        ignore,
        headers,
        array_order,
        allow_added_fields,
        max_body_bytes,
    ) {
        Ok(rules) => rules.with_formats(formats),
        Err(err) => {
            problems.push(index.problem(offset, format!("invalid comparison rules: {err}")));
            return None;
        }
    };
    Some(ShadowPolicy {
        to,
        sample,
        methods,
        detect_noise,
        rules,
        ignore: ignore_text,
        compare_headers,
        timestamps: match formats.timestamps {
            Timestamps::Instants { .. } => "instant",
            Timestamps::Strict => "strict",
        },
        naive_timezone: match formats.timestamps {
            Timestamps::Instants { naive_offset } => Some(naive_offset.to_string()),
            Timestamps::Strict => None,
        },
        numeric_strings: formats.numeric_strings,
        writes,
    })
}

/// Validates a route's `timestamps`, `naive_timezone` and `numeric_strings`, pushing their problems.
fn formats(
    timestamps: &Option<Spanned<String>>,
    naive_timezone: &Option<Spanned<String>>,
    numeric_strings: &Option<Spanned<bool>>,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Formats {
    let numeric_strings = numeric_strings.as_ref().is_some_and(|n| *n.get_ref());
    let naive_offset = match naive_timezone {
        None => Utc.fix(),
        Some(zone) => parse_zone(zone.get_ref()).unwrap_or_else(|reason| {
            problems.push(index.problem(zone.span().start, reason));
            Utc.fix()
        }),
    };
    let timestamps = match timestamps
        .as_ref()
        .map(|t| (t.get_ref().as_str(), t.span().start))
    {
        None | Some(("instant", _)) => Timestamps::Instants { naive_offset },
        Some(("strict", at)) => {
            if naive_timezone.is_some() {
                problems.push(index.problem(
                    at,
                    "`naive_timezone` applies only when `timestamps` is \"instant\": remove one of them",
                ));
            }
            Timestamps::Strict
        }
        Some((other, at)) => {
            problems.push(index.problem(
                at,
                format!("invalid `timestamps` {other:?}: use \"instant\" (compare as instants) or \"strict\" (compare as written)"),
            ));
            Timestamps::Instants { naive_offset }
        }
    };
    Formats {
        timestamps,
        numeric_strings,
    }
}

/// `UTC` (or `Z`) or a fixed offset `±HH:MM`.
fn parse_zone(zone: &str) -> Result<FixedOffset, String> {
    if zone.eq_ignore_ascii_case("utc") || zone == "Z" {
        return Ok(Utc.fix());
    }
    let bytes = zone.as_bytes();
    let shaped = bytes.len() == 6
        && matches!(bytes[0], b'+' | b'-')
        && bytes[3] == b':'
        && [1, 2, 4, 5].iter().all(|&i| bytes[i].is_ascii_digit());
    let offset = shaped
        .then(|| {
            let number = |range: std::ops::Range<usize>| zone[range].parse::<i32>().ok();
            let (hours, minutes) = (number(1..3)?, number(4..6)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            FixedOffset::east_opt(if bytes[0] == b'-' { -seconds } else { seconds })
        })
        .flatten();
    offset.ok_or_else(|| {
        if zone.contains('/') {
            format!(
                "invalid `naive_timezone` {zone:?}: named zones (with daylight saving) are not supported; write \"UTC\" or a fixed offset such as \"+01:00\""
            )
        } else {
            format!(
                "invalid `naive_timezone` {zone:?}: write \"UTC\" or a fixed offset such as \"+01:00\""
            )
        }
    })
}

/// Validates a route's `require`, pushing its problems.
pub(crate) fn flip_requirement(
    spec: Spanned<RequireSpec>,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<FlipRequirement> {
    let spec = spec.into_inner();
    let match_rate = *spec.match_rate.get_ref();
    let min_samples = *spec.min_samples.get_ref();
    let mut ok = true;
    if !(0.0..=1.0).contains(&match_rate) || match_rate == 0.0 {
        problems.push(index.problem(
            spec.match_rate.span().start,
            "`match_rate` must be above 0.0 and at most 1.0",
        ));
        ok = false;
    }
    if min_samples == 0 {
        problems.push(index.problem(
            spec.min_samples.span().start,
            "`min_samples` must be at least 1",
        ));
        ok = false;
    }
    let window = match &spec.window {
        None => None,
        Some(raw) => match duration_setting(Some(raw), "window", Duration::ZERO, index, problems) {
            Some(window)
                if window >= MIN_WINDOW
                    && window.as_secs() % 60 == 0
                    && window.subsec_nanos() == 0 =>
            {
                Some(window)
            }
            Some(_) => {
                problems.push(index.problem(
                    raw.span().start,
                    "`window` counts whole minutes (results are kept per minute): write e.g. \"30m\" or \"1h\"",
                ));
                ok = false;
                None
            }
            None => {
                ok = false;
                None
            }
        },
    };
    ok.then_some(FlipRequirement {
        match_rate,
        min_samples,
        window,
    })
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}
