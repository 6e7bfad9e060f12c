//! The access log: one JSON line per request, written without `tracing`'s formatter.
//!
//! The line has the fields the `access_log` event had, flat, as the JSON log
//! layer writes events (`timestamp`, `level`, `target` and the request's
//! fields), so a log collector reads one format. It is formatted here, into
//! a reused buffer, and handed to the same writer thread as every other log
//! line ([`crate::telemetry`]): formatting it through `tracing` cost a
//! request a third of its CPU. Off a terminal and with `access_log` events
//! enabled by `RUST_LOG` (checked once, at start), this path is taken; on a
//! terminal, or before the log writer is installed, the line is an ordinary
//! `tracing` event, human-readable there.

use std::cell::RefCell;
use std::io::Write;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode};
use tracing_appender::non_blocking::NonBlocking;

/// The writer access-log lines go to, when they bypass `tracing`.
static WRITER: OnceLock<NonBlocking> = OnceLock::new();

/// Sends access-log lines to `writer` from now on (once; later calls are ignored).
pub(crate) fn install(writer: NonBlocking) {
    let _ = WRITER.set(writer);
}

/// One request, as its access-log line tells it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccessLine<'a> {
    /// The request's method.
    pub(crate) method: &'a Method,
    /// The route's name, `(default)` or `(unrouted)`.
    pub(crate) route: &'a str,
    /// `legacy`, `service` or `gateway`.
    pub(crate) side: &'static str,
    /// The status sent.
    pub(crate) status: StatusCode,
    /// Time to the response head.
    pub(crate) duration: Duration,
    /// The request id.
    pub(crate) request_id: &'a str,
    /// The body's length, when known before it is sent.
    pub(crate) response_bytes: Option<u64>,
    /// The client's address.
    pub(crate) client: IpAddr,
}

/// Logs `line`: through the writer thread when installed, else as a `tracing` event.
pub(crate) fn log(line: &AccessLine<'_>) {
    let Some(writer) = WRITER.get() else {
        tracing::info!(
            target: "access_log",
            method = %line.method,
            route = %line.route,
            side = line.side,
            status = line.status.as_u16(),
            duration_ms = line.duration.as_secs_f64() * 1000.0,
            request_id = line.request_id,
            response_bytes = line.response_bytes,
            client = %line.client,
        );
        return;
    };
    thread_local! {
        static BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
    }
    BUFFER.with_borrow_mut(|buffer| {
        buffer.clear();
        format_line(buffer, SystemTime::now(), line);
        // A full queue drops the line and counts it (`gateway_log_lines_dropped_total`).
        let _ = writer.clone().write_all(buffer);
    });
}

/// Writes `line` at `now` as one JSON object and a newline.
fn format_line(out: &mut Vec<u8>, now: SystemTime, line: &AccessLine<'_>) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(out, now);
    out.extend_from_slice(b"\",\"level\":\"INFO\",\"method\":");
    json_string(out, line.method.as_str());
    out.extend_from_slice(b",\"route\":");
    json_string(out, line.route);
    out.extend_from_slice(b",\"side\":");
    json_string(out, line.side);
    let _ = write!(out, ",\"status\":{}", line.status.as_u16());
    let micros = line.duration.as_micros();
    let _ = write!(
        out,
        ",\"duration_ms\":{}.{:03}",
        micros / 1000,
        micros % 1000
    );
    out.extend_from_slice(b",\"request_id\":");
    json_string(out, line.request_id);
    match line.response_bytes {
        Some(bytes) => {
            let _ = write!(out, ",\"response_bytes\":{bytes}");
        }
        None => out.extend_from_slice(b",\"response_bytes\":null"),
    }
    let _ = writeln!(
        out,
        ",\"client\":\"{}\",\"target\":\"access_log\"}}",
        line.client
    );
}

/// `now` in RFC 3339, UTC, to the microsecond, as the JSON log layer writes it.
///
/// The date and time of day change once a second: they are formatted then
/// and kept (per thread), the microseconds appended to them.
fn timestamp(out: &mut Vec<u8>, now: SystemTime) {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(cached, formatted)| {
        if *cached != seconds {
            *cached = seconds;
            *formatted = i64::try_from(seconds)
                .ok()
                .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
                .map_or_else(
                    || "1970-01-01T00:00:00".to_owned(),
                    |at| at.format("%Y-%m-%dT%H:%M:%S").to_string(),
                );
        }
        out.extend_from_slice(formatted.as_bytes());
    });
    let _ = write!(out, ".{:06}Z", since_epoch.subsec_micros());
}

/// `value` as a JSON string, quoted and escaped.
fn json_string(out: &mut Vec<u8>, value: &str) {
    // Writing a `&str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(route: &str, request_id: &str, response_bytes: Option<u64>) -> serde_json::Value {
        let mut out = Vec::new();
        let at = UNIX_EPOCH + Duration::new(1_764_590_400, 123_456_789);
        format_line(
            &mut out,
            at,
            &AccessLine {
                method: &Method::GET,
                route,
                side: "legacy",
                status: StatusCode::NOT_FOUND,
                duration: Duration::from_micros(1_234_567),
                request_id,
                response_bytes,
                client: "127.0.0.1".parse().unwrap(),
            },
        );
        assert_eq!(out.last(), Some(&b'\n'), "one line");
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1, "one line");
        serde_json::from_slice(&out).expect("a JSON object")
    }

    #[test]
    fn the_line_is_the_json_the_log_layer_writes_for_an_event() {
        assert_eq!(
            line("get-user", "req-1", Some(62)),
            serde_json::json!({
                "timestamp": "2025-12-01T12:00:00.123456Z",
                "level": "INFO",
                "target": "access_log",
                "method": "GET",
                "route": "get-user",
                "side": "legacy",
                "status": 404,
                "duration_ms": 1234.567,
                "request_id": "req-1",
                "response_bytes": 62,
                "client": "127.0.0.1",
            })
        );
    }

    #[test]
    fn quotes_and_controls_in_names_and_ids_are_escaped() {
        let parsed = line("a \"route\"\n\\", "id\"with\\quote", None);
        assert_eq!(parsed["route"], "a \"route\"\n\\");
        assert_eq!(parsed["request_id"], "id\"with\\quote");
        assert!(parsed["response_bytes"].is_null());
    }
}
