//! What the console's pages show, gathered from the table in force, the
//! shadow summaries (the admin API's, with gating's verdict) and the
//! database; the pages ([`super::pages`]) only lay it out.

use std::sync::Arc;

use gateway_routing::{FlipRequirement, Route, ShadowPolicy};
use serde::Serialize;

use crate::admin::{AdminError, AdminState, summaries};
use crate::reload::Hold;
use crate::shadow::results::{MinutePoint, minute_series};
use crate::shadow::store::MismatchRecord;
use crate::shadow::summary::{FieldList, RankedField, RouteSummary, in_window, ranked_fields};

/// How many recent records the route page reads for its field ranking.
const RECENT_RECORDS: u64 = 1000;
/// Fields shown per list, and examples per field.
const TOP_FIELDS: usize = 20;
const EXAMPLES: usize = 3;
/// Recent mismatches listed on the route page.
const RECENT_LISTED: usize = 20;

/// One route of the table in force, as the routes view shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RouteRow {
    /// The route's name.
    pub name: String,
    /// Its match, e.g. `pattern /v1/accounts/users/{id}`.
    pub matcher: String,
    /// Its methods, `*` for all.
    pub methods: String,
    /// Where it is on the migration path, e.g. `legacy + shadow`.
    pub stage: String,
    /// The share of its requests the service answers, in percent (legacy has the rest).
    pub service_percent: f64,
    /// Held below the share its file asks for, and why.
    pub held: Option<Hold>,
    /// Its shadow results and verdict, if it is shadowed or has results.
    pub summary: Option<RouteSummary>,
    /// Comparisons per minute, every replica's (empty without results).
    pub series: Vec<MinutePoint>,
}

/// One route in detail.
#[derive(Debug, Clone, Serialize)]
pub struct RouteDetail {
    /// The route as the routes view shows it.
    pub row: RouteRow,
    /// The comparison rules in force, if the route is shadowed.
    pub rules: Option<Arc<ShadowPolicy>>,
    /// What a flip requires.
    pub require: FlipRequirement,
    /// Real differences in the window's records, most frequent first, with examples.
    pub fields: Vec<RankedField>,
    /// Differences explained by learned noise, apart.
    pub noise: Vec<RankedField>,
    /// Differences the ignore rules cover.
    pub ignored: Vec<RankedField>,
    /// The pointers a noise-free comparison would ignore: the rules' own and the noise's.
    pub suggested_ignore: Vec<String>,
    /// How many records of the window the ranking read.
    pub records_read: usize,
    /// The newest mismatches of the window.
    pub recent: Vec<MismatchRecord>,
}

fn row(
    route: &Route,
    held: Option<Hold>,
    summary: Option<RouteSummary>,
    series: Vec<MinutePoint>,
) -> RouteRow {
    let view = serde_json::to_value(route).unwrap_or_default();
    RouteRow {
        name: route.name().to_owned(),
        matcher: route.matcher().to_string(),
        methods: route
            .methods()
            .map(|m| {
                m.iter()
                    .map(http::Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| "*".to_owned()),
        stage: crate::status::stage(&view),
        service_percent: route.service_percent(),
        held,
        summary,
        series,
    }
}

/// Every route of the table in force, with its results and `minutes` of series.
///
/// # Errors
///
/// [`AdminError`] when the database cannot be read.
pub async fn route_rows(state: &AdminState, minutes: u32) -> Result<Vec<RouteRow>, AdminError> {
    let active = state.routes.current();
    let mut all = match summaries(state, None).await {
        Ok(all) => all,
        Err(AdminError::NoRecords) => Vec::new(),
        Err(err) => return Err(err),
    };
    let mut rows = Vec::new();
    for route in active.table.routes() {
        let summary = all
            .iter()
            .position(|s| s.route == route.name())
            .map(|i| all.swap_remove(i));
        let series = match (state.shadowing.recorder(), &summary) {
            (Some(recorder), Some(_)) => {
                minute_series(recorder, route.name(), &route.require(), minutes).await?
            }
            _ => Vec::new(),
        };
        let held = active
            .held
            .iter()
            .find(|h| h.route == route.name())
            .cloned();
        rows.push(row(route, held, summary, series));
    }
    Ok(rows)
}

/// The route `name` of the table in force in detail.
///
/// # Errors
///
/// [`AdminError::NotFound`] without such a route; [`AdminError`] when the database cannot be read.
pub async fn route_detail(
    state: &AdminState,
    name: &str,
    minutes: u32,
) -> Result<RouteDetail, AdminError> {
    let active = state.routes.current();
    let route = active
        .table
        .routes()
        .iter()
        .find(|r| r.name() == name)
        .ok_or_else(|| AdminError::NotFound(format!("no route {name:?} in the table in force")))?;
    let recorder = state.shadowing.recorder().ok_or(AdminError::NoRecords)?;
    let summary = summaries(state, Some(name)).await?.into_iter().next();
    let series = match &summary {
        Some(_) => minute_series(recorder, name, &route.require(), minutes).await?,
        None => Vec::new(),
    };
    let recent = recorder
        .store()
        .list(Some(name), None, RECENT_RECORDS)
        .await?;
    let records = match &summary {
        Some(summary) => in_window(&recent, &summary.window),
        None => Vec::new(),
    };
    let rank = |list| ranked_fields(&records, list, TOP_FIELDS, EXAMPLES);
    let (fields, noise, ignored) = (
        rank(FieldList::Differences),
        rank(FieldList::Noise),
        rank(FieldList::Ignored),
    );
    let suggested_ignore = suggested_ignore(
        route
            .shadow()
            .map(|s| s.ignore.as_slice())
            .unwrap_or_default(),
        summary
            .as_ref()
            .map(|s| s.suggested_ignore.as_slice())
            .unwrap_or_default(),
        &noise,
    );
    let listed = records
        .iter()
        .take(RECENT_LISTED)
        .map(|r| (*r).clone())
        .collect();
    let records_read = records.len();
    let held = active.held.iter().find(|h| h.route == name).cloned();
    Ok(RouteDetail {
        rules: route.shadow().cloned(),
        require: route.require(),
        row: row(route, held, summary, series),
        fields,
        noise,
        ignored,
        suggested_ignore,
        records_read,
        recent: listed,
    })
}

/// The ignore rules in force, then the learned suggestions and the noise
/// fields' pointers they lack (JSON Pointers only: headers and status are
/// not ignored this way), each once.
pub fn suggested_ignore(
    in_force: &[String],
    learned: &[String],
    noise: &[RankedField],
) -> Vec<String> {
    let mut out: Vec<String> = in_force.to_vec();
    let candidates = learned
        .iter()
        .map(String::as_str)
        .chain(noise.iter().map(|f| f.path.as_str()));
    for pointer in candidates {
        if pointer.starts_with('/') && !out.iter().any(|p| p == pointer) {
            out.push(pointer.to_owned());
        }
    }
    out
}

/// `ignore = ["/a", "/b"]`: the routes.toml line for `pointers` (TOML basic strings).
pub fn ignore_line(pointers: &[String]) -> String {
    let quoted: Vec<String> = pointers
        .iter()
        .map(|p| serde_json::Value::String(p.clone()).to_string())
        .collect();
    format!("ignore = [{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(path: &str) -> RankedField {
        RankedField {
            path: path.to_owned(),
            count: 1,
            examples: Vec::new(),
        }
    }

    #[test]
    fn the_suggestion_keeps_the_rules_in_force_and_adds_noise_pointers_once() {
        let suggested = suggested_ignore(
            &["/created_at".to_owned()],
            &["/items/*/id".to_owned(), "/created_at".to_owned()],
            &[
                field("/request_id"),
                field("header:date"),
                field("/items/*/id"),
            ],
        );
        assert_eq!(suggested, ["/created_at", "/items/*/id", "/request_id"]);
    }

    #[test]
    fn the_ignore_line_is_toml() {
        let line = ignore_line(&["/a".to_owned(), "/quo\"te".to_owned()]);
        assert_eq!(line, r#"ignore = ["/a", "/quo\"te"]"#);
        let parsed: toml::Table = toml::from_str(&line).expect("a TOML line");
        assert_eq!(parsed["ignore"][1].as_str(), Some("/quo\"te"));
    }
}
