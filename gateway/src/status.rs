//! `gateway status`: the route table in force, each route's migration stage and its shadow results.

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// GETs `path` from the admin API at `base` and parses the JSON answer.
///
/// # Errors
///
/// When the admin API cannot be reached, answers with an error, or not with JSON.
pub async fn fetch(base: &str, path: &str, token: Option<&str>) -> anyhow::Result<Value> {
    call(http::Method::GET, base, path, token).await
}

/// Sends `method path` (no body) to the admin API at `base` and parses the JSON answer.
///
/// # Errors
///
/// When the admin API cannot be reached, answers with an error, or not with JSON.
pub async fn call(
    method: http::Method,
    base: &str,
    path: &str,
    token: Option<&str>,
) -> anyhow::Result<Value> {
    let uri: http::Uri = format!("{}{path}", base.trim_end_matches('/'))
        .parse()
        .with_context(|| format!("invalid admin URL {base}"))?;
    let mut request = http::Request::builder().method(method).uri(uri.clone());
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(request.body(Empty::new())?)
        .await
        .with_context(|| format!("reaching the admin API at {uri}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .context("reading the admin API's answer")?
        .to_bytes();
    if !status.is_success() {
        bail!(
            "the admin API answered {status} for {path}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    serde_json::from_slice(&body)
        .with_context(|| format!("the admin API's answer for {path} is not JSON"))
}

/// The migration stage of a route as `/-/routes` describes it.
///
/// `legacy` → `legacy + shadow` → `canary N%` → `service + shadow` → `service`.
pub fn stage(route: &Value) -> String {
    // The legacy side names its upstream when it is not `legacy`.
    let upstream = route["upstream"].as_str().unwrap_or("legacy");
    let side = |name: &str| {
        if name == "legacy" && upstream != "legacy" {
            format!("legacy ({upstream})")
        } else {
            name.to_owned()
        }
    };
    let target = side(route["target"].as_str().unwrap_or("?"));
    let shadowed = route["shadow"]["to"].as_str().is_some();
    let canary = route["canary"]["percent"]
        .as_f64()
        .map(|p| (p, side(route["canary"]["to"].as_str().unwrap_or("?"))));
    let mut stage = match canary {
        Some((percent, to)) => format!("{target}, canary {percent}% to {to}"),
        None => target,
    };
    if shadowed {
        stage.push_str(" + shadow");
    }
    stage
}

/// Renders the `/-/routes` document, with the `/-/shadow` one when available, as a table.
pub fn render(routes: &Value, shadow: Option<&Value>) -> String {
    let table = &routes["table"];
    let results = |name: &str| {
        shadow
            .and_then(|s| s["routes"].as_array())
            .and_then(|all| all.iter().find(|r| r["route"] == name))
    };
    let held = |name: &str| {
        routes["held"]
            .as_array()
            .and_then(|all| all.iter().find(|h| h["route"] == name))
    };
    let mut rows = vec![
        [
            "ROUTE",
            "MATCH",
            "METHODS",
            "STAGE",
            "SERVICE",
            "MATCH RATE",
            "VERDICT",
        ]
        .map(str::to_owned),
    ];
    for route in table["routes"].as_array().into_iter().flatten() {
        let name = route["name"].as_str().unwrap_or("?");
        let methods = route["methods"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_else(|| "*".to_owned());
        let (rate, verdict) = match results(name) {
            Some(r) => (
                match r["match_rate"].as_f64() {
                    Some(rate) => format!(
                        "{:.2}% of {} ({}){}",
                        rate * 100.0,
                        r["compared"],
                        window_label(&r["window"]),
                        match r["format_only"].as_u64() {
                            Some(n) if n > 0 => format!(", {n} format only"),
                            _ => String::new(),
                        }
                    ),
                    None => format!("- ({})", window_label(&r["window"])),
                },
                if r["verdict"]["ready"] == true {
                    "ready".to_owned()
                } else {
                    "not ready".to_owned()
                },
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        rows.push([
            name.to_owned(),
            format!(
                "{} {}",
                route["match"]["kind"].as_str().unwrap_or("?"),
                route["match"]["value"].as_str().unwrap_or("?")
            ),
            methods,
            stage(route),
            match held(name) {
                Some(hold) => format!(
                    "{}% HELD (file: {}%)",
                    route["service_percent"].as_f64().unwrap_or(0.0),
                    hold["file_service_percent"].as_f64().unwrap_or(0.0)
                ),
                None => format!("{}%", route["service_percent"].as_f64().unwrap_or(0.0)),
            },
            rate,
            verdict,
        ]);
    }
    let default = table["default_target"].as_str().unwrap_or("?");
    rows.push([
        "(default)".to_owned(),
        "anything else".to_owned(),
        "*".to_owned(),
        default.to_owned(),
        if default == "service" { "100%" } else { "0%" }.to_owned(),
        "-".to_owned(),
        "-".to_owned(),
    ]);
    let mut out = format!(
        "route table {} loaded {} from {}\n",
        table["version"].as_str().unwrap_or("?"),
        routes["loaded_at"].as_str().unwrap_or("?"),
        routes["file"].as_str().unwrap_or("?")
    );
    if let Some(error) = routes["reloads"]["last_error"].as_object() {
        out.push_str(&format!(
            "LAST RELOAD REJECTED at {}:\n",
            error.get("at").and_then(Value::as_str).unwrap_or("?")
        ));
        for problem in error
            .get("problems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push_str(&format!("  {}\n", problem.as_str().unwrap_or("?")));
        }
    }
    let holds = routes["held"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !holds.is_empty() {
        out.push_str("HELD AT THE EARNED SHARE (the file's flip is not earned yet):\n");
        for hold in holds {
            out.push_str(&format!("  {}\n", hold["reason"].as_str().unwrap_or("?")));
        }
    }
    out.push_str(&columns(&rows));
    out
}

/// Renders the `/-/upstreams` document: each upstream, the routes it
/// serves, and each address's health, as a table.
pub fn render_upstreams(upstreams: &Value) -> String {
    let mut rows = vec![
        [
            "UPSTREAM",
            "ADDRESS",
            "STATE",
            "FAILURES",
            "EJECTIONS",
            "IN FLIGHT",
        ]
        .map(str::to_owned),
    ];
    let mut out = String::from("UPSTREAMS:\n");
    for upstream in upstreams["upstreams"].as_array().into_iter().flatten() {
        let name = upstream["name"].as_str().unwrap_or("?");
        let routes: Vec<&str> = upstream["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        out.push_str(&format!(
            "  {name}: {}, ejected after {} failures for {}; serves {}\n",
            upstream["balance"].as_str().unwrap_or("?"),
            upstream["failures"],
            upstream["eject"].as_str().unwrap_or("?"),
            if routes.is_empty() {
                "no route".to_owned()
            } else {
                routes.join(", ")
            }
        ));
        for address in upstream["addresses"].as_array().into_iter().flatten() {
            let state = address["state"].as_str().unwrap_or("?");
            rows.push([
                name.to_owned(),
                address["url"].as_str().unwrap_or("?").to_owned(),
                match address["readmitted_in_ms"].as_u64() {
                    Some(ms) => format!("{state} (again in {}s)", ms.div_ceil(1000)),
                    None => state.to_owned(),
                },
                address["consecutive_failures"].to_string(),
                address["ejections"].to_string(),
                address["in_flight"].to_string(),
            ]);
        }
    }
    out.push_str(&columns(&rows));
    out
}

/// `rows` as left-aligned columns two spaces apart, one line each.
fn columns<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Which comparisons a summary's figures cover, in words.
fn window_label(window: &Value) -> String {
    match window["basis"].as_str() {
        Some("reset") => "since reset".to_owned(),
        Some("rules-changed") => "since rules changed".to_owned(),
        Some("duration") => format!("last {}", window["duration"].as_str().unwrap_or("?")),
        _ => "all".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stages_follow_the_migration_path() {
        let cases = [
            (json!({"target": "legacy"}), "legacy"),
            (
                json!({"target": "legacy", "upstream": "billing"}),
                "legacy (billing)",
            ),
            (
                json!({"target": "service", "upstream": "billing", "canary": {"to": "legacy", "percent": 5.0}}),
                "service, canary 5% to legacy (billing)",
            ),
            (
                json!({"target": "legacy", "shadow": {"to": "service"}}),
                "legacy + shadow",
            ),
            (
                json!({"target": "legacy", "canary": {"to": "service", "percent": 5.0}, "shadow": {"to": "service"}}),
                "legacy, canary 5% to service + shadow",
            ),
            (
                json!({"target": "service", "shadow": {"to": "legacy"}}),
                "service + shadow",
            ),
            (json!({"target": "service"}), "service"),
        ];
        for (route, expected) in cases {
            assert_eq!(stage(&route), expected, "{route}");
        }
    }

    #[test]
    fn the_table_shows_split_and_results() {
        let routes = json!({
            "file": "routes.toml", "loaded_at": "now",
            "table": {"version": "abc", "default_target": "legacy", "routes": [
                {"name": "get-user", "target": "legacy", "match": {"kind": "pattern", "value": "/u/{id}"}, "methods": ["GET"],
                 "shadow": {"to": "service"}, "canary": {"to": "service", "percent": 5.0}, "service_percent": 5.0}
            ]},
            "reloads": {"last_error": null}
        });
        let shadow = json!({"routes": [{"route": "get-user", "compared": 200, "match_rate": 0.995, "verdict": {"ready": true},
            "format_only": 150, "window": {"basis": "duration", "duration": "1h"}}]});
        let out = render(&routes, Some(&shadow));
        let line = out.lines().find(|l| l.starts_with("get-user")).unwrap();
        for expected in [
            "pattern /u/{id}",
            "GET",
            "legacy, canary 5% to service + shadow",
            "5%",
            "99.50% of 200 (last 1h), 150 format only",
            "ready",
        ] {
            assert!(line.contains(expected), "{expected:?} missing in {line:?}");
        }
        assert!(!out.contains("HELD"), "{out}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("(default)") && l.contains("0%"))
        );
    }

    #[test]
    fn a_held_route_says_so_with_the_reason() {
        let routes = json!({
            "file": "routes.toml", "loaded_at": "now",
            "table": {"version": "abc", "default_target": "legacy", "routes": [
                {"name": "get-user", "target": "legacy", "match": {"kind": "pattern", "value": "/u/{id}"}, "methods": ["GET"],
                 "service_percent": 0.0}
            ]},
            "held": [{"route": "get-user", "file_service_percent": 100.0, "service_percent": 0.0,
                      "reason": "route \"get-user\": raising the service share from 0% to 100% needs …"}],
            "reloads": {"last_error": null}
        });
        let out = render(&routes, None);
        let line = out.lines().find(|l| l.starts_with("get-user")).unwrap();
        assert!(line.contains("0% HELD (file: 100%)"), "{line}");
        assert!(out.contains("HELD AT THE EARNED SHARE"), "{out}");
        assert!(
            out.contains("raising the service share from 0% to 100%"),
            "{out}"
        );
    }

    #[test]
    fn upstreams_show_each_address_health() {
        let upstreams = json!({"version": "abc", "upstreams": [
            {"name": "legacy", "balance": "round_robin", "failures": 3, "eject": "30s",
             "routes": ["get-user", "(default)"],
             "addresses": [{"url": "http://a:1/", "state": "healthy", "consecutive_failures": 0, "ejections": 0, "in_flight": 2}]},
            {"name": "billing", "balance": "least_requests", "failures": 5, "eject": "10s", "routes": [],
             "addresses": [
                {"url": "http://b1:1/", "state": "ejected", "consecutive_failures": 5, "ejections": 2, "in_flight": 0, "readmitted_in_ms": 4200},
                {"url": "http://b2:1/", "state": "healthy", "consecutive_failures": 0, "ejections": 0, "in_flight": 1}]}
        ]});
        let out = render_upstreams(&upstreams);
        assert!(
            out.contains(
                "legacy: round_robin, ejected after 3 failures for 30s; serves get-user, (default)"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "billing: least_requests, ejected after 5 failures for 10s; serves no route"
            ),
            "{out}"
        );
        let b1 = out.lines().find(|l| l.contains("http://b1:1/")).unwrap();
        let cells: Vec<&str> = b1
            .split("  ")
            .filter(|c| !c.is_empty())
            .map(str::trim)
            .collect();
        assert_eq!(
            cells,
            [
                "billing",
                "http://b1:1/",
                "ejected (again in 5s)",
                "5",
                "2",
                "0"
            ],
            "{out}"
        );
    }
}
