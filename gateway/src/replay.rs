//! `gateway replay`: asks a running gateway to replay a route's recorded
//! mismatches (`POST /-/shadow/routes/{route}/replay`) and prints its report.

use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// The admin API path of a replay of `route`, with its query.
pub fn path(route: &str, since: Option<Duration>, limit: Option<u64>) -> String {
    let mut query = Vec::new();
    if let Some(since) = since {
        query.push(format!("since={}s", since.as_secs().max(1)));
    }
    if let Some(limit) = limit {
        query.push(format!("limit={limit}"));
    }
    let route = utf8_percent_encode(route, NON_ALPHANUMERIC);
    let mut path = format!("/-/shadow/routes/{route}/replay");
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    path
}

/// Renders a replay report: one line per request, its fields, notes and
/// reason indented below it, and the summary line last.
pub fn render(report: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    let label = |v: &Value| text(v).replace('_', " ");
    let mut out = String::new();
    for request in report["requests"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<16} {} {}  (record {})\n",
            label(&request["result"]),
            text(&request["method"]),
            text(&request["path_and_query"]),
            text(&request["record_id"]),
        ));
        for field in request["fields"].as_array().into_iter().flatten() {
            let values = match (field["primary"].as_str(), field["shadow"].as_str()) {
                (None, None) => String::new(),
                (primary, shadow) => format!(
                    ": primary {} ≠ shadow {}",
                    primary.unwrap_or("(absent)"),
                    shadow.unwrap_or("(absent)")
                ),
            };
            out.push_str(&format!(
                "    {} {}{values}\n",
                text(&field["path"]),
                label(&field["result"]),
            ));
        }
        if let Some(reason) = request["reason"].as_str() {
            out.push_str(&format!("    reason: {reason}\n"));
        }
        for note in request["notes"].as_array().into_iter().flatten() {
            out.push_str(&format!("    note: {}\n", text(note)));
        }
    }
    out.push_str(&format!(
        "route {}: {}",
        text(&report["route"]),
        text(&report["line"])
    ));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_path_carries_the_route_encoded_and_the_query() {
        assert_eq!(path("users", None, None), "/-/shadow/routes/users/replay");
        assert_eq!(
            path("get user", Some(Duration::from_secs(5400)), Some(20)),
            "/-/shadow/routes/get%20user/replay?since=5400s&limit=20"
        );
    }

    #[test]
    fn the_report_shows_each_request_its_fields_and_the_summary_last() {
        let report = json!({
            "route": "users",
            "line": "replayed 1 of 2 recorded mismatches: 1 fixed, 0 still differing, 0 newly differing, 1 refused, 0 failed",
            "requests": [
                {"result": "fixed", "method": "GET", "path_and_query": "/v1/u/1", "record_id": "r1",
                 "fields": [{"path": "/created_at", "result": "fixed", "primary": null, "shadow": null}],
                 "notes": ["header authorization was redacted when recorded: sent without it"]},
                {"result": "still_differing", "method": "GET", "path_and_query": "/v1/u/2", "record_id": "r2",
                 "fields": [{"path": "/name", "result": "still_differing", "primary": "\"a\"", "shadow": "\"b\""}],
                 "notes": []},
                {"result": "refused", "method": "POST", "path_and_query": "/v1/u", "record_id": "r3",
                 "fields": [], "notes": [], "reason": "POST is a write"}
            ]
        });
        let text = render(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("fixed            GET /v1/u/1"),
            "{text}"
        );
        assert_eq!(lines[1], "    /created_at fixed");
        assert!(lines[2].contains("authorization"));
        assert_eq!(
            lines[4],
            "    /name still differing: primary \"a\" ≠ shadow \"b\""
        );
        assert_eq!(lines[6], "    reason: POST is a write");
        assert!(
            lines[7].starts_with("route users: replayed 1 of 2"),
            "{text}"
        );
    }
}
