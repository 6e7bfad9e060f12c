//! The per-route shadow summary the admin API serves: counts, match rate, fields, latency, verdict.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::results::RouteResults;
use super::stats::{Latency, RouteSnapshot};
use super::store::MismatchRecord;
use gateway_routing::Route;
use gateway_routing::flip::{Readiness, Window, readiness};
use shadow_diff::Outcome;

/// One route's shadow results.
#[derive(Debug, Clone, Serialize)]
pub struct RouteSummary {
    /// The route's name.
    pub route: String,
    /// The route's match.
    pub template: String,
    /// The side serving the route.
    pub primary: String,
    /// The side mirrored to, if the route is shadowed now.
    pub shadow_to: Option<String>,
    /// Which comparisons the figures cover: since the rules changed, the last reset, or `require.window`.
    pub window: Window,
    /// Every outcome label with its count in the window (all replicas).
    pub counts: BTreeMap<String, u64>,
    /// Comparisons made: matched + mismatched.
    pub compared: u64,
    /// Comparisons that matched, differed only in form, or only where ignored or noise.
    pub matched: u64,
    /// Comparisons with a real difference.
    pub mismatched: u64,
    /// Comparisons whose answers agree but wrote some value in another form
    /// (an instant in another timestamp format, a number as a string):
    /// counted in `matched`, and here apart.
    pub format_only: u64,
    /// Comparisons where learned noise explained some difference.
    pub noise: u64,
    /// Mirrors that failed or timed out (either side).
    pub errors: u64,
    /// Requests not mirrored (sampled out, method not mirrored, body too large).
    pub skipped: u64,
    /// Mirrors dropped because `max_in_flight` was reached.
    pub dropped: u64,
    /// `matched / compared`, or `None` before the first comparison.
    pub match_rate: Option<f64>,
    /// The fields that differed most in the window's recent records, with counts.
    pub top_fields: Vec<FieldCount>,
    /// The fields that differed in form only most often (this replica's
    /// comparisons since it started), with counts.
    pub format_fields: Vec<FieldCount>,
    /// The primary's latency (this replica's recent requests).
    pub primary_latency: Latency,
    /// The mirrored side's latency (this replica's recent requests).
    pub shadow_latency: Latency,
    /// Ignore rules suggested by the noise learned on this replica.
    pub suggested_ignore: Vec<String>,
    /// What one mirror of this route costs the workers on average, in
    /// microseconds (this replica; its task's polling time, not the time it waits).
    pub mirror_cost_us: Option<f64>,
    /// Whether the route is ready to flip, and why: the rule flip gating applies.
    pub verdict: Readiness,
}

/// A field path and how often it differed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldCount {
    /// The JSON Pointer, `status`, `header:<name>` or `body`.
    pub path: String,
    /// How many recent records have it.
    pub count: u64,
}

/// Builds the summary of `route` from its windowed results, recent records and this replica's statistics.
///
/// Records recorded before the window starts are left out of the top fields.
pub fn summarise(
    route: &Route,
    results: RouteResults,
    recent: &[MismatchRecord],
    snapshot: RouteSnapshot,
) -> RouteSummary {
    let counts = results.counts;
    let by_prefix = |prefix: &str| {
        counts
            .iter()
            .filter(|(label, _)| label.starts_with(prefix))
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    let verdict = readiness(route.require(), &counts);
    let in_window = in_window(recent, &results.window);
    RouteSummary {
        route: route.name().to_owned(),
        template: route.matcher().to_string(),
        primary: route.target().to_string(),
        shadow_to: route.shadow().map(|s| s.to.to_string()),
        window: results.window,
        compared: verdict.compared,
        matched: verdict.matched,
        mismatched: verdict.mismatched,
        format_only: counts
            .get(Outcome::FormatOnly.label())
            .copied()
            .unwrap_or(0),
        noise: counts.get("with_noise").copied().unwrap_or(0),
        errors: by_prefix("error_"),
        skipped: by_prefix("skipped_"),
        dropped: by_prefix("dropped_"),
        match_rate: verdict.match_rate,
        top_fields: top_fields(&in_window, 10),
        format_fields: snapshot
            .format_fields
            .into_iter()
            .map(|(path, count)| FieldCount { path, count })
            .collect(),
        primary_latency: snapshot.primary,
        shadow_latency: snapshot.shadow,
        suggested_ignore: snapshot.noise_suggestions,
        mirror_cost_us: snapshot.mirror_cost_us,
        counts,
        verdict,
    }
}

/// The records of `recent` recorded within `window`.
pub fn in_window<'a>(recent: &'a [MismatchRecord], window: &Window) -> Vec<&'a MismatchRecord> {
    recent
        .iter()
        .filter(|r| window.since.is_none_or(|since| r.recorded_at >= since))
        .collect()
}

/// The paths that differ most often in `records`.
fn top_fields(records: &[&MismatchRecord], top: usize) -> Vec<FieldCount> {
    ranked_fields(records, FieldList::Differences, top, 0)
        .into_iter()
        .map(|field| FieldCount {
            path: field.path,
            count: field.count,
        })
        .collect()
}

/// Which list of a record's comparison to rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldList {
    /// The real differences.
    Differences,
    /// The differences explained by learned noise.
    Noise,
    /// The differences the route's ignore rules cover.
    Ignored,
}

impl FieldList {
    fn key(self) -> &'static str {
        match self {
            Self::Differences => "differences",
            Self::Noise => "noise",
            Self::Ignored => "ignored",
        }
    }
}

/// A field path, how many records have it, and a few of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankedField {
    /// The JSON Pointer, `status`, `header:<name>` or `body`.
    pub path: String,
    /// How many of the records have it.
    pub count: u64,
    /// The newest records that have it, up to the number asked for.
    pub examples: Vec<FieldExample>,
}

/// One recorded value pair of a field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldExample {
    /// The record's id.
    pub record: uuid::Uuid,
    /// What differs (`value_changed`, `missing` …).
    pub kind: String,
    /// The primary's value (truncated, redacted), if present.
    pub primary: Option<String>,
    /// The mirror's value, if present.
    pub shadow: Option<String>,
}

/// The paths of `list` in `records` (newest first), most frequent first
/// (ties by path), each with up to `examples` examples; at most `top` paths.
pub fn ranked_fields(
    records: &[&MismatchRecord],
    list: FieldList,
    top: usize,
    examples: usize,
) -> Vec<RankedField> {
    let mut fields: HashMap<&str, RankedField> = HashMap::new();
    for record in records {
        for difference in record.differences[list.key()]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(path) = difference["path"].as_str() else {
                continue;
            };
            let field = fields.entry(path).or_insert_with(|| RankedField {
                path: path.to_owned(),
                count: 0,
                examples: Vec::new(),
            });
            field.count += 1;
            if field.examples.len() < examples {
                let text = |side: &str| difference[side].as_str().map(str::to_owned);
                field.examples.push(FieldExample {
                    record: record.id,
                    kind: difference["kind"].as_str().unwrap_or("").to_owned(),
                    primary: text("primary"),
                    shadow: text("shadow"),
                });
            }
        }
    }
    let mut fields: Vec<RankedField> = fields.into_values().collect();
    fields.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
    fields.truncate(top);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u128, differences: serde_json::Value) -> MismatchRecord {
        MismatchRecord {
            id: uuid::Uuid::from_u128(n),
            ..MismatchRecord::for_test("r", differences)
        }
    }

    #[test]
    fn top_fields_count_paths_across_records() {
        let record = |paths: &[&str]| {
            record(
                0,
                serde_json::json!({ "differences": paths.iter().map(|p| serde_json::json!({"path": p})).collect::<Vec<_>>() }),
            )
        };
        let fields = top_fields(&[&record(&["/a", "/b"]), &record(&["/b"])], 10);
        assert_eq!(
            fields,
            vec![
                FieldCount {
                    path: "/b".into(),
                    count: 2
                },
                FieldCount {
                    path: "/a".into(),
                    count: 1
                }
            ]
        );
    }

    #[test]
    fn ranked_fields_keep_the_newest_examples_of_each_list_apart() {
        let diff = |path: &str, primary: &str, shadow: &str| serde_json::json!({"path": path, "kind": "value_changed", "primary": primary, "shadow": shadow});
        // Newest first, as the store lists them.
        let records = [
            record(
                3,
                serde_json::json!({"differences": [diff("/name", "\"c\"", "\"C\"")], "noise": [diff("/at", "1", "2")]}),
            ),
            record(
                2,
                serde_json::json!({"differences": [diff("/name", "\"b\"", "\"B\""), diff("/id", "1", "2")]}),
            ),
            record(
                1,
                serde_json::json!({"differences": [diff("/name", "\"a\"", "\"A\"")]}),
            ),
        ];
        let records: Vec<&MismatchRecord> = records.iter().collect();
        let fields = ranked_fields(&records, FieldList::Differences, 10, 2);
        assert_eq!(
            fields
                .iter()
                .map(|f| (f.path.as_str(), f.count))
                .collect::<Vec<_>>(),
            [("/name", 3), ("/id", 1)]
        );
        let examples: Vec<(u128, Option<&str>)> = fields[0]
            .examples
            .iter()
            .map(|e| (e.record.as_u128(), e.primary.as_deref()))
            .collect();
        assert_eq!(examples, [(3, Some("\"c\"")), (2, Some("\"b\""))]);
        let noise = ranked_fields(&records, FieldList::Noise, 10, 2);
        assert_eq!(noise.len(), 1);
        assert_eq!(
            (noise[0].path.as_str(), noise[0].examples[0].kind.as_str()),
            ("/at", "value_changed")
        );
        assert!(ranked_fields(&records, FieldList::Ignored, 10, 2).is_empty());
    }
}
