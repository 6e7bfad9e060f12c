//! `[legacy]`: where and how to reach the legacy backend ([`LegacySettings`]),
//! the check of its base URL (`http[s]://host[:port][/base]`, no query,
//! fragment or credentials), and `[legacy.tls]` ([`LegacyTls`]).

use std::path::PathBuf;
use std::time::Duration;

use http::Uri;

use crate::error::{LineIndex, Problem};
use crate::spec::{LegacySpec, LegacyTlsSpec};
use crate::values::duration_setting;

/// `[legacy] connect_timeout` when absent.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// `[legacy] timeout` when absent.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to reach the legacy backend (`[legacy]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySettings {
    url: Uri,
    connect_timeout: Duration,
    timeout: Duration,
    tls: Option<LegacyTls>,
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
    /// The base URL: `http` or `https`, with a host, maybe a path prefix, no query.
    pub fn url(&self) -> &Uri {
        &self.url
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

/// Validates `[legacy]`, pushing its problems.
pub(crate) fn legacy_settings(
    spec: LegacySpec,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<LegacySettings> {
    let url = parse_legacy_url(spec.url.get_ref())
        .map_err(|message| problems.push(index.problem(spec.url.span().start, message)))
        .ok();
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
    let is_https = url
        .as_ref()
        .is_some_and(|url| url.scheme_str() == Some("https"));
    let tls = match spec.tls {
        Some(tls) if !is_https && url.is_some() => {
            problems.push(index.problem(
                tls.span().start,
                "`[legacy.tls]` applies to an https:// url only",
            ));
            None
        }
        Some(tls) => Some(legacy_tls(tls.into_inner(), index, problems)?),
        None => None,
    };
    Some(LegacySettings {
        url: url?,
        connect_timeout: connect_timeout?,
        timeout: timeout?,
        tls,
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
