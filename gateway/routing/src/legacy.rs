//! `[legacy]`: where and how to reach the legacy backend ([`LegacySettings`]),
//! and the check of its base URL (`http://host[:port][/base]`, no query,
//! fragment or credentials).

use std::time::Duration;

use http::Uri;

use crate::error::{LineIndex, Problem};
use crate::spec::LegacySpec;
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
}

impl LegacySettings {
    /// The base URL: `http`, with a host, maybe a path prefix, no query.
    pub fn url(&self) -> &Uri {
        &self.url
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
    Some(LegacySettings {
        url: url?,
        connect_timeout: connect_timeout?,
        timeout: timeout?,
    })
}

/// Checks the legacy base URL: `http://host[:port][/base]`.
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
        Some("http") => {}
        Some("https") => return Err("https upstreams are not supported yet".to_owned()),
        Some(other) => {
            return Err(format!(
                "invalid legacy url {raw:?}: scheme `{other}` is not supported, use http://"
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
