//! The console's HTML, laid out with maud (every value escaped).

use std::collections::HashSet;

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::chart::{self, Size};
use super::json::{Highlighted, MarkKind, Marks};
use super::view::{RouteDetail, RouteRow, ignore_line};
use crate::admin::UpstreamView;
use crate::shadow::exchange::{RecordedAnswer, RecordedBody, RecordedHeader};
use crate::shadow::stats::Latency;
use crate::shadow::store::MismatchRecord;
use crate::shadow::summary::RankedField;

fn layout(title: &str, signed_in: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · gateway console" }
                link rel="stylesheet" href="/-/console/assets/console.css";
                script src="/-/console/assets/console.js" defer {}
            }
            body {
                header class="top" {
                    a class="brand" href="/-/console/" { "Migration console" }
                    a href="/-/console/" { "Routes" }
                    @if signed_in {
                        form method="post" action="/-/console/logout" {
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn millis(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |ms| format!("{ms:.1} ms"))
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |r| format!("{:.2}%", r * 100.0))
}

fn verdict(row: &RouteRow) -> Markup {
    html! {
        @match &row.summary {
            Some(summary) => {
                @if summary.verdict.ready {
                    span class="verdict ready" data-verdict="ready" { "Ready to flip" }
                } @else {
                    span class="verdict not-ready" data-verdict="not-ready" { "Not ready" }
                }
                div class="reason" data-reason { (summary.verdict.reason) }
            }
            None => { span class="verdict none" data-verdict="none" { "Not shadowed" } }
        }
    }
}

fn share(row: &RouteRow) -> Markup {
    let service = row.service_percent;
    let legacy = 100.0 - service;
    html! {
        div { "service " (format!("{service:.0}")) "% · legacy " (format!("{legacy:.0}")) "%" }
        svg class="share" aria-hidden="true" width="128" height="8" xmlns="http://www.w3.org/2000/svg" {
            rect x="0" y="0" width="128" height="8" fill="#9aa4b5" {}
            rect x="0" y="0" width=(format!("{:.1}", 128.0 * service / 100.0)) height="8" fill="#2656a8" {}
        }
        @if let Some(held) = &row.held {
            div class="held" { "Held at " (held.service_percent) "% (file asks " (held.file_service_percent) "%)" }
        }
    }
}

fn latency(label: &str, latency: &Latency) -> Markup {
    html! {
        div { (label) ": p50 " (millis(latency.p50_ms)) ", p99 " (millis(latency.p99_ms)) }
    }
}

fn quantiles(label: &str, latency: &Latency) -> Markup {
    let ms = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |ms| format!("{ms:.1}"));
    html! {
        div { (label) " " (ms(latency.p50_ms)) " / " (ms(latency.p99_ms)) " ms" }
    }
}

/// The routes view.
pub(super) fn routes(
    rows: &[RouteRow],
    upstreams: &[UpstreamView],
    version: &str,
    signed_in: bool,
) -> Markup {
    let body = html! {
        h1 { "Routes" }
        p class="lead" {
            "The route table in force (version " code { (version) } "). Comparisons are every replica's, per minute over the last "
            (super::CHART_MINUTES / 60) " hours; latencies are this replica's recent requests."
        }
        table id="routes" {
            thead {
                tr {
                    th { "Route" }
                    th { "Stage" }
                    th { "Traffic" }
                    th { "Last " (super::CHART_MINUTES / 60) " hours" }
                    th class="num" { "Match rate" }
                    th { "p50 / p99" }
                    th { "Verdict" }
                }
            }
            tbody {
                @for row in rows {
                    tr data-route=(row.name) {
                        td {
                            a href=(format!("/-/console/routes/{}", path_segment(&row.name))) { strong { (row.name) } }
                            div class="reason mono" { (row.matcher) " · " (row.methods) }
                        }
                        td class="stage" { (row.stage) }
                        td { (share(row)) }
                        td {
                            @if row.summary.is_some() {
                                (chart::chart(&row.series, row.summary.as_ref().and_then(|s| s.window.since), Size::Small))
                            } @else {
                                span class="empty" { "no comparisons" }
                            }
                        }
                        td class="num" {
                            @if let Some(summary) = &row.summary {
                                (rate(summary.match_rate))
                                div class="reason" { (summary.compared) " compared, " (summary.mismatched) " mismatched" }
                            }
                        }
                        td class="nowrap" {
                            @if let Some(summary) = &row.summary {
                                (quantiles("primary", &summary.primary_latency))
                                (quantiles("mirror", &summary.shadow_latency))
                            }
                        }
                        td { (verdict(row)) }
                    }
                }
            }
        }
        p class="legend" {
            span class="swatch compared" {} "comparisons per minute"
            span class="swatch mismatch" {} "mismatch rate (0–100 %)"
            span class="swatch window" {} "start of the verdict's window"
        }
        (upstream_table(upstreams))
    };
    layout("Routes", signed_in, body)
}

/// The legacy upstreams and their addresses' health (passive: what the requests met).
fn upstream_table(upstreams: &[UpstreamView]) -> Markup {
    html! {
        h2 { "Upstreams" }
        table id="upstreams" {
            thead {
                tr {
                    th { "Upstream" }
                    th { "Address" }
                    th { "State" }
                    th class="num" { "Failures in a row" }
                    th class="num" { "Ejections" }
                    th class="num" { "In flight" }
                }
            }
            tbody {
                @for upstream in upstreams {
                    @for (i, address) in upstream.addresses.iter().enumerate() {
                        tr data-upstream=(upstream.name) data-state=(address.health.state) {
                            td {
                                @if i == 0 {
                                    strong { (upstream.name) }
                                    div class="reason" {
                                        (upstream.balance) ", ejected after " (upstream.failures)
                                        " failures for " (upstream.eject) " · "
                                        @if upstream.routes.is_empty() { "no route" } @else { (upstream.routes.join(", ")) }
                                    }
                                }
                            }
                            td class="mono" { (address.url) }
                            td { (address.health.state) }
                            td class="num" { (address.health.consecutive_failures) }
                            td class="num" { (address.health.ejections) }
                            td class="num" { (address.health.in_flight) }
                        }
                    }
                }
            }
        }
    }
}

/// A route name as a path segment.
fn path_segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn field_table(fields: &[RankedField], id: &str, records: usize) -> Markup {
    html! {
        @if fields.is_empty() {
            p class="empty" { "None in the window's records." }
        } @else {
            table id=(id) {
                thead { tr { th { "#" } th { "Field" } th class="num" { "Records" } th { "Examples (primary → mirror)" } } }
                tbody {
                    @for (n, field) in fields.iter().enumerate() {
                        tr data-field=(field.path) {
                            td class="num" { (n + 1) }
                            td class="mono" { (field.path) }
                            td class="num" {
                                (field.count)
                                @if records > 0 {
                                    div class="reason" { (format!("{:.0}%", field.count as f64 * 100.0 / records as f64)) }
                                }
                            }
                            td {
                                @for example in &field.examples {
                                    div {
                                        code { (example.primary.as_deref().unwrap_or("(absent)")) }
                                        " → "
                                        code { (example.shadow.as_deref().unwrap_or("(absent)")) }
                                        " "
                                        a href=(format!("/-/console/diffs/{}", example.record)) { "diff" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn copy_line(line: &str) -> Markup {
    html! {
        div class="copyline" { pre { code data-copy { (line) } } }
    }
}

/// The route page.
pub(super) fn route(detail: &RouteDetail, signed_in: bool) -> Markup {
    let row = &detail.row;
    let body = html! {
        nav class="crumbs" { a href="/-/console/" { "Routes" } " / " (row.name) }
        h1 { (row.name) " " span class="reason mono" { (row.matcher) " · " (row.methods) } }
        section class="card" {
            div class="figures" {
                div { span class="label" { "Stage" } span class="value" { (row.stage) } }
                div { span class="label" { "Traffic" } (share(row)) }
                @if let Some(summary) = &row.summary {
                    div { span class="label" { "Compared" } span class="value" { (summary.compared) } }
                    div { span class="label" { "Mismatched" } span class="value" { (summary.mismatched) } }
                    div { span class="label" { "Format only" } span class="value" { (summary.format_only) } }
                    div { span class="label" { "Match rate" } span class="value" { (rate(summary.match_rate)) } }
                    div { span class="label" { "Required" } span class="value" {
                        (format!("{:.2}%", detail.require.match_rate * 100.0)) " of ≥ " (detail.require.min_samples)
                    } }
                    div { span class="label" { "Errors / skipped / dropped" } span class="value" {
                        (summary.errors) " / " (summary.skipped) " / " (summary.dropped)
                    } }
                }
            }
            div { (verdict(row)) }
            @if let Some(summary) = &row.summary {
                div class="reason" {
                    "Window: " (window_words(summary)) ". "
                    (latency("Primary", &summary.primary_latency))
                    (latency("Mirror", &summary.shadow_latency))
                }
            }
        }
        h2 { "Fields that differ, most frequent first" }
        p class="lead" { "From the " (detail.records_read) " most recent mismatch records in the verdict's window. Fix the first one first." }
        (field_table(&detail.fields, "fields", detail.records_read))
        @if let Some((top, line)) = accept_line(detail) {
            p class="reason" { "To accept the difference at " code { (top) } " instead of fixing it, set in the route's " code { "shadow" } " table:" }
            (copy_line(&line))
        }
        @if row.summary.is_some() {
            section class="card" {
                h2 { "Comparisons per minute" }
                (chart::chart(&row.series, row.summary.as_ref().and_then(|s| s.window.since), Size::Large))
                p class="legend" {
                    span class="swatch compared" {} "comparisons per minute (every replica)"
                    span class="swatch mismatch" {} "mismatch rate"
                    span class="swatch window" {} "start of the verdict's window"
                }
                details { summary { "The figures, minute by minute" } (chart::table(&row.series)) }
            }
        }
        h2 { "Noise" }
        p class="lead" { "Fields that differ between two answers of the primary itself (generated ids, timestamps): not counted as mismatches." }
        (field_table(&detail.noise, "noise", detail.records_read))
        @if detail.rules.is_some() && detail.suggested_ignore.len() > detail.rules.as_ref().map_or(0, |r| r.ignore.len()) {
            p class="reason" { "Suggested rule: in the route's " code { "shadow" } " table in routes.toml, set" }
            (copy_line(&ignore_line(&detail.suggested_ignore)))
        }
        @if !detail.ignored.is_empty() {
            h3 { "Ignored by the rules in force" }
            (field_table(&detail.ignored, "ignored", detail.records_read))
        }
        h2 { "Rules in force" }
        @match &detail.rules {
            Some(rules) => {
                table id="rules" {
                    tbody {
                        tr { th { "Mirrored to" } td { (rules.to) } }
                        tr { th { "Sample" } td { (rules.sample) } }
                        tr { th { "Methods" } td { (rules.methods.iter().map(http::Method::as_str).collect::<Vec<_>>().join(", ")) } }
                        tr { th { "Ignore" } td class="mono" {
                            @if rules.ignore.is_empty() { span class="empty" { "none" } }
                            @for rule in &rules.ignore { div { (rule) } }
                        } }
                        tr { th { "Compared headers" } td class="mono" { (rules.compare_headers.join(", ")) } }
                        tr { th { "Array order" } td { (format!("{:?}", rules.rules.array_order()).to_lowercase()) } }
                        tr { th { "Added fields allowed" } td { (rules.rules.allow_added_fields()) } }
                        tr { th { "Noise detection" } td { (rules.detect_noise) } }
                        tr { th { "Require" } td {
                            "match rate ≥ " (detail.require.match_rate) ", at least " (detail.require.min_samples) " comparisons"
                            @if let Some(window) = detail.require.window { ", over the last " (humantime::format_duration(window)) }
                        } }
                    }
                }
            }
            None => p class="empty" { "The route is not shadowed." }
        }
        h2 { "Recent mismatches" }
        @if detail.recent.is_empty() {
            p class="empty" { "No mismatch recorded in the window." }
        } @else {
            table id="recent" {
                thead { tr { th { "Recorded (UTC)" } th { "Request" } th { "Statuses" } th { "Fields" } th {} } }
                tbody {
                    @for record in &detail.recent {
                        tr {
                            td { (record.recorded_at.format("%Y-%m-%d %H:%M:%S")) }
                            td class="mono" { (record.method) " " (record.path) }
                            td class="num" { (record.primary_status) " / " (record.shadow_status) }
                            td class="mono" { (paths(record, "differences").join(", ")) }
                            td { a href=(format!("/-/console/diffs/{}", record.id)) { "diff" } }
                        }
                    }
                }
            }
        }
    };
    layout(&row.name, signed_in, body)
}

/// The most frequent differing pointer, and the ignore line that would accept it.
fn accept_line(detail: &RouteDetail) -> Option<(&str, String)> {
    let top = detail.fields.first()?;
    let rules = detail.rules.as_ref()?;
    if !top.path.starts_with('/') || rules.ignore.contains(&top.path) {
        return None;
    }
    let mut accept = rules.ignore.clone();
    accept.push(top.path.clone());
    Some((&top.path, ignore_line(&accept)))
}

fn window_words(summary: &crate::shadow::summary::RouteSummary) -> String {
    let basis = serde_json::to_value(&summary.window).unwrap_or_default();
    let since = summary
        .window
        .since
        .map(|s| s.format(" %Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    match basis["basis"].as_str() {
        Some("reset") => format!("since the reset at{since}"),
        Some("rules-changed") => format!("since the comparison rules came into force at{since}"),
        Some("duration") => format!("the last {}", basis["duration"].as_str().unwrap_or("?")),
        _ => "every comparison recorded".to_owned(),
    }
}

/// The paths of one of a record's lists.
fn paths(record: &MismatchRecord, list: &str) -> Vec<String> {
    record.differences[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["path"].as_str().map(str::to_owned))
        .collect()
}

fn marks_of(record: &MismatchRecord) -> Marks {
    let mut marks = Marks::new();
    for (list, kind) in [
        ("ignored", MarkKind::Ignored),
        ("noise", MarkKind::Noise),
        ("differences", MarkKind::Differs),
    ] {
        for path in paths(record, list) {
            let pointer = if path == "body" {
                String::new()
            } else if path.starts_with('/') {
                path
            } else {
                continue;
            };
            marks.insert(pointer, kind);
        }
    }
    marks
}

fn body(body: &RecordedBody, marks: &Marks) -> Markup {
    html! {
        @match body {
            RecordedBody::Json { text, truncated } => {
                @match serde_json::from_str::<Value>(text) {
                    Ok(value) if !truncated => pre class="body" { (Highlighted { value: &value, marks }) },
                    _ => {
                        pre class="body" { (text) }
                        p class="reason" { "Cut at " (crate::shadow::exchange::MAX_BODY_BYTES) " bytes: shown as recorded." }
                    }
                }
            }
            RecordedBody::Text { text, truncated } => {
                pre class="body" { (text) }
                @if *truncated { p class="reason" { "Cut at " (crate::shadow::exchange::MAX_BODY_BYTES) " bytes." } }
            }
            RecordedBody::Binary { bytes } => p class="empty" { "A binary body of " (bytes) " bytes (not kept)." }
            RecordedBody::Redacted { bytes } => p class="empty" { "A body of " (bytes) " bytes that names a redacted field (not kept)." }
            RecordedBody::TooLarge { limit } => p class="empty" { "Larger than " (limit) " bytes: not compared." }
        }
    }
}

fn header_rows(headers: &[RecordedHeader], differing: &HashSet<String>) -> Markup {
    html! {
        @if headers.is_empty() {
            p class="empty" { "None of the compared headers." }
        } @else {
            table {
                tbody {
                    @for h in headers {
                        tr class=[differing.contains(&format!("header:{}", h.name)).then_some("differs")] {
                            th class="mono" { (h.name) }
                            td class="mono" { (h.value) }
                        }
                    }
                }
            }
        }
    }
}

fn side(
    title: &str,
    side_name: &str,
    status: u16,
    latency_ms: f64,
    answer: Option<&RecordedAnswer>,
    marks: &Marks,
    differing: &HashSet<String>,
) -> Markup {
    html! {
        div data-side=(title) {
            h2 { (title) " · " (side_name) }
            table {
                tbody {
                    tr class=[differing.contains("status").then_some("differs")] { th { "Status" } td class="num" { (status) } }
                    tr { th { "Latency" } td class="num" { (format!("{latency_ms:.1} ms")) } }
                }
            }
            @match answer {
                Some(answer) => {
                    h3 { "Compared headers" }
                    (header_rows(&answer.headers, differing))
                    h3 { "Body" }
                    (body(&answer.body, marks))
                }
                None => p class="empty" { "This record predates stored bodies: only its differences are known." }
            }
        }
    }
}

/// The diff view of one record.
pub(super) fn diff(record: &MismatchRecord, signed_in: bool) -> Markup {
    let marks = marks_of(record);
    let differing: HashSet<String> = paths(record, "differences").into_iter().collect();
    let shadow_side = if record.primary_side == "legacy" {
        "service"
    } else {
        "legacy"
    };
    let differences = record.differences["differences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let body = html! {
        nav class="crumbs" {
            a href="/-/console/" { "Routes" } " / "
            a href=(format!("/-/console/routes/{}", path_segment(&record.route))) { (record.route) } " / mismatch"
        }
        h1 { "Mismatch on " (record.route) }
        section class="card" {
            div class="figures" {
                div { span class="label" { "Request id" } span class="value mono" id="request-id" { (record.request_id) } }
                div { span class="label" { "Recorded" } span class="value" { (record.recorded_at.format("%Y-%m-%d %H:%M:%S UTC")) } }
                div { span class="label" { "Route" } span class="value mono" { (record.template) } }
            }
        }
        section class="card" {
            h2 { "Differences" }
            table id="differences" {
                thead { tr { th { "Field" } th { "Kind" } th { "Primary (" (record.primary_side) ")" } th { "Mirror (" (shadow_side) ")" } } }
                tbody {
                    @for d in &differences {
                        tr {
                            td class="mono" { (d["path"].as_str().unwrap_or("")) }
                            td { (d["kind"].as_str().unwrap_or("")) }
                            td class="mono" { (d["primary"].as_str().unwrap_or("(absent)")) }
                            td class="mono" { (d["shadow"].as_str().unwrap_or("(absent)")) }
                        }
                    }
                }
            }
            @if record.differences["truncated"] == true { p class="reason" { "More differences than the comparison keeps: the list is cut." } }
            p class="legend" { mark { "differs" } " " mark class="ignored" { "ignored or noise" } }
        }
        section class="card sides" {
            (side("Primary", &record.primary_side, record.primary_status, record.primary_latency_ms,
                record.exchange.as_ref().map(|e| &e.primary), &marks, &differing))
            (side("Mirror", shadow_side, record.shadow_status, record.shadow_latency_ms,
                record.exchange.as_ref().map(|e| &e.shadow), &marks, &differing))
        }
        section class="card" id="request" {
            h2 { "The request" }
            @match &record.request {
                Some(request) => {
                    pre class="mono" { (request.method) " " (request.path_and_query) }
                    (header_rows(&request.headers, &HashSet::new()))
                    @if request.truncated { p class="reason" { "Cut to the record's size bound." } }
                    p class="reason" { "Values of redacted names are replaced by [redacted]." }
                }
                None => pre class="mono" { (record.method) " " (record.path) }
            }
        }
    };
    layout("Mismatch", signed_in, body)
}

/// The login form.
pub(super) fn login(next: &str, error: Option<&str>) -> Markup {
    let body = html! {
        section class="card login" {
            h1 { "Sign in" }
            p class="lead" { "The console needs the admin token (" code { "GATEWAY_ADMIN_TOKEN" } ")." }
            @if let Some(error) = error { p class="error" role="alert" { (error) } }
            form method="post" action="/-/console/login" {
                input type="hidden" name="next" value=(next);
                label for="token" { "Admin token" }
                input type="password" id="token" name="token" autocomplete="current-password" required autofocus;
                button type="submit" { "Sign in" }
            }
        }
    };
    layout("Sign in", false, body)
}
