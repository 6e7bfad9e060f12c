//! `[legacy]` and each `[upstreams.NAME]`: where and how to reach a legacy
//! backend ([`LegacySettings`]), the check of its base URLs
//! (`http[s]://host[:port][/base]`, no query, fragment or credentials; one
//! scheme for all), its balancing ([`Balance`]) and passive health
//! ([`HealthPolicy`]), and `[legacy.tls]` ([`LegacyTls`]).

use std::path::PathBuf;
use std::time::Duration;

use http::Uri;

use serde::Serialize;
use toml::Spanned;

use crate::error::{LineIndex, Problem};
use crate::spec::{HealthSpec, LegacySpec, LegacyTlsSpec};
use crate::values::duration_setting;

/// `[legacy] connect_timeout` when absent.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// `[legacy] timeout` when absent.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most addresses one upstream may list.
const MAX_ADDRESSES: usize = 64;
/// `health.failures` when absent: consecutive failures that eject an address.
const DEFAULT_FAILURES: u32 = 3;
/// `health.eject` when absent: how long an ejected address is skipped.
const DEFAULT_EJECT: Duration = Duration::from_secs(30);

/// Where and how to reach one legacy backend: `[legacy]` (named `legacy`)
/// or an `[upstreams.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySettings {
    name: String,
    /// One or more, all with the same scheme.
    urls: Vec<Uri>,
    connect_timeout: Duration,
    timeout: Duration,
    tls: Option<LegacyTls>,
    balance: Balance,
    health: HealthPolicy,
}

/// How requests are spread over an upstream's addresses (`balance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Each address in turn (the default).
    #[default]
    RoundRobin,
    /// The address with the fewest requests in flight; ties in turn.
    LeastRequests,
}

impl Balance {
    /// The name used in `routes.toml`: `round_robin` or `least_requests`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoundRobin => "round_robin",
            Self::LeastRequests => "least_requests",
        }
    }
}

/// Passive health (`health = { failures, eject }`): an address that fails
/// `failures` times in a row is skipped for `eject`, then tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HealthPolicy {
    /// Consecutive failures that eject an address (default 3, at least 1).
    pub failures: u32,
    /// How long an ejected address is skipped (default 30 s, never zero).
    #[serde(serialize_with = "humantime_duration")]
    pub eject: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            failures: DEFAULT_FAILURES,
            eject: DEFAULT_EJECT,
        }
    }
}

fn humantime_duration<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_duration(*duration))
}

/// `[legacy.tls]`: certificates for an `https` legacy. Files are named, not
/// read: the gateway reads them and reports a failure at the key's position.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegacyTls {
    /// CAs to trust instead of the system's (PEM).
    pub ca_file: Option<FileSetting>,
    /// The client certificate chain to present (PEM), with its key.
    pub client_cert_file: Option<FileSetting>,
    /// The client certificate's private key (PEM).
    pub client_key_file: Option<FileSetting>,
    /// The name sent as SNI and verified, instead of the URL's host.
    pub server_name: Option<FileSetting>,
    /// Accept any certificate: for test environments only; logged loudly.
    pub insecure_skip_verify: bool,
}

/// A value of the routes file (a path or a name) with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSetting {
    /// The value as written (a path is relative to the routes file's directory).
    pub value: PathBuf,
    /// Line of the value, from 1.
    pub line: usize,
    /// Column of the value, from 1.
    pub column: usize,
}

impl FileSetting {
    /// A problem about this value, at its position.
    pub fn problem(&self, message: impl Into<String>) -> Problem {
        Problem {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

impl LegacySettings {
    /// The upstream's name: `legacy` for `[legacy]`, else the `NAME` of `[upstreams.NAME]`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first base URL (the only one unless `urls` lists several).
    pub fn url(&self) -> &Uri {
        &self.urls[0]
    }

    /// Every base URL, at least one: `http` or `https` (the same for all),
    /// with a host, maybe a path prefix, no query.
    pub fn urls(&self) -> &[Uri] {
        &self.urls
    }

    /// How requests are spread over [`LegacySettings::urls`].
    pub fn balance(&self) -> Balance {
        self.balance
    }

    /// When an address is skipped for failing.
    pub fn health(&self) -> HealthPolicy {
        self.health
    }

    /// `[legacy.tls]`, for an `https` URL (`None`: the system's CAs, no client certificate).
    pub fn tls(&self) -> Option<&LegacyTls> {
        self.tls.as_ref()
    }

    /// How long to wait for a TCP connection (default 2 s, never zero).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long to wait for the response head (default 30 s, never zero).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Validates `[legacy]` or `[upstreams.NAME]` (at byte `at`), pushing its problems.
pub(crate) fn legacy_settings(
    name: &str,
    spec: LegacySpec,
    at: usize,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<LegacySettings> {
    let urls = urls(spec.url, spec.urls, at, index, problems);
    let connect_timeout = duration_setting(
        spec.connect_timeout.as_ref(),
        "connect_timeout",
        DEFAULT_CONNECT_TIMEOUT,
        index,
        problems,
    );
    let timeout = duration_setting(
        spec.timeout.as_ref(),
        "timeout",
        DEFAULT_TIMEOUT,
        index,
        problems,
    );
    let balance = match spec.balance {
        None => Some(Balance::default()),
        Some(raw) => match raw.get_ref().as_str() {
            "round_robin" => Some(Balance::RoundRobin),
            "least_requests" => Some(Balance::LeastRequests),
            other => {
                problems.push(index.problem(
                    raw.span().start,
                    format!("unknown balance {other:?}: use \"round_robin\" or \"least_requests\""),
                ));
                None
            }
        },
    };
    let health = match spec.health {
        None => Some(HealthPolicy::default()),
        Some(health) => health_policy(health.into_inner(), index, problems),
    };
    let is_https = urls
        .as_ref()
        .and_then(|urls| urls.first())
        .is_some_and(|url| url.scheme_str() == Some("https"));
    let tls = match spec.tls {
        Some(tls) if !is_https && urls.is_some() => {
            problems.push(index.problem(
                tls.span().start,
                format!(
                    "`[{}.tls]` applies to an https:// url only",
                    table_name(name)
                ),
            ));
            None
        }
        Some(tls) => Some(legacy_tls(tls.into_inner(), index, problems)?),
        None => None,
    };
    Some(LegacySettings {
        name: name.to_owned(),
        urls: urls?,
        connect_timeout: connect_timeout?,
        timeout: timeout?,
        tls,
        balance: balance?,
        health: health?,
    })
}

/// `legacy` or `upstreams.NAME`, as the file writes the table's header.
fn table_name(name: &str) -> String {
    if name == "legacy" {
        name.to_owned()
    } else {
        format!("upstreams.{name}")
    }
}

/// The addresses of `url` or `urls` (exactly one of them), each checked, one scheme for all.
fn urls(
    url: Option<Spanned<String>>,
    urls: Option<Spanned<Vec<Spanned<String>>>>,
    at: usize,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Vec<Uri>> {
    let written: Vec<Spanned<String>> = match (url, urls) {
        (Some(url), None) => vec![url],
        (None, Some(urls)) if urls.get_ref().is_empty() => {
            problems.push(index.problem(
                urls.span().start,
                "`urls` is empty: list at least one address",
            ));
            return None;
        }
        (None, Some(urls)) if urls.get_ref().len() > MAX_ADDRESSES => {
            problems.push(index.problem(
                urls.span().start,
                format!(
                    "`urls` lists {} addresses: an upstream has at most {MAX_ADDRESSES}",
                    urls.get_ref().len()
                ),
            ));
            return None;
        }
        (None, Some(urls)) => urls.into_inner(),
        (Some(_), Some(urls)) => {
            problems.push(index.problem(
                urls.span().start,
                "`url` and `urls` are exclusive: use `url` for one address, `urls` for several",
            ));
            return None;
        }
        (None, None) => {
            problems.push(index.problem(at, "missing `url` (one address) or `urls` (several)"));
            return None;
        }
    };
    let mut parsed = Vec::with_capacity(written.len());
    let mut valid = true;
    for raw in &written {
        match parse_legacy_url(raw.get_ref()) {
            Ok(uri) => {
                if let Some(first) = parsed.first().map(|first: &Uri| first.scheme_str())
                    && first != uri.scheme_str()
                {
                    problems.push(index.problem(
                        raw.span().start,
                        format!(
                            "{:?} mixes schemes: every address of an upstream uses {}://",
                            raw.get_ref(),
                            first.unwrap_or_default()
                        ),
                    ));
                    valid = false;
                }
                if parsed.contains(&uri) {
                    problems.push(index.problem(
                        raw.span().start,
                        format!("{:?} is listed twice", raw.get_ref()),
                    ));
                    valid = false;
                }
                parsed.push(uri);
            }
            Err(message) => {
                problems.push(index.problem(raw.span().start, message));
                valid = false;
            }
        }
    }
    valid.then_some(parsed)
}

/// Validates a `health` table, pushing its problems.
fn health_policy(
    spec: HealthSpec,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<HealthPolicy> {
    let failures = match spec.failures {
        None => Some(DEFAULT_FAILURES),
        Some(failures) => match u32::try_from(*failures.get_ref()) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                problems.push(index.problem(
                    failures.span().start,
                    "`failures` must be a whole number from 1",
                ));
                None
            }
        },
    };
    let eject = duration_setting(spec.eject.as_ref(), "eject", DEFAULT_EJECT, index, problems);
    Some(HealthPolicy {
        failures: failures?,
        eject: eject?,
    })
}

fn legacy_tls(
    spec: LegacyTlsSpec,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<LegacyTls> {
    let setting = |value: Option<toml::Spanned<String>>| {
        value.map(|value| {
            let problem = index.problem(value.span().start, "");
            FileSetting {
                value: PathBuf::from(value.into_inner()),
                line: problem.line,
                column: problem.column,
            }
        })
    };
    let tls = LegacyTls {
        ca_file: setting(spec.ca_file),
        client_cert_file: setting(spec.client_cert_file),
        client_key_file: setting(spec.client_key_file),
        server_name: setting(spec.server_name),
        insecure_skip_verify: spec
            .insecure_skip_verify
            .is_some_and(toml::Spanned::into_inner),
    };
    let mut valid = true;
    for value in [
        &tls.ca_file,
        &tls.client_cert_file,
        &tls.client_key_file,
        &tls.server_name,
    ]
    .into_iter()
    .flatten()
    {
        if value.value.as_os_str().is_empty() {
            problems.push(value.problem("must not be empty"));
            valid = false;
        }
    }
    match (&tls.client_cert_file, &tls.client_key_file) {
        (Some(cert), None) => {
            problems.push(cert.problem("client_cert_file needs client_key_file too"));
            valid = false;
        }
        (None, Some(key)) => {
            problems.push(key.problem("client_key_file needs client_cert_file too"));
            valid = false;
        }
        _ => {}
    }
    valid.then_some(tls)
}

/// Checks the legacy base URL: `http[s]://host[:port][/base]`.
fn parse_legacy_url(raw: &str) -> Result<Uri, String> {
    // `http::Uri` silently drops a fragment: look for it first.
    if raw.contains('#') {
        return Err(format!(
            "invalid legacy url {raw:?}: it must not have a fragment ('#')"
        ));
    }
    let uri: Uri = raw
        .parse()
        .map_err(|err| format!("invalid legacy url {raw:?}: {err}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "invalid legacy url {raw:?}: scheme `{other}` is not supported, use http:// or https://"
            ));
        }
        None => {
            return Err(format!(
                "invalid legacy url {raw:?}: it must be absolute, like \"http://127.0.0.1:8000\""
            ));
        }
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("invalid legacy url {raw:?}: it has no host"));
    };
    if authority.host().is_empty() {
        return Err(format!("invalid legacy url {raw:?}: it has no host"));
    }
    if authority.as_str().contains('@') {
        return Err(format!(
            "invalid legacy url {raw:?}: it must not contain credentials"
        ));
    }
    if raw.contains('?') {
        return Err(format!(
            "invalid legacy url {raw:?}: it must not have a query"
        ));
    }
    Ok(uri)
}
