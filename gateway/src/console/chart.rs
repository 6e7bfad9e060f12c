//! The per-minute chart as inline SVG: comparisons as bars, the mismatch
//! rate as a line on a 0–100 % scale, the start of the verdict's window as a
//! marker. Drawn on the server: no script, and each bar has a title.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::shadow::results::MinutePoint;

/// How large to draw.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Size {
    /// In a table row.
    Small,
    /// On a route's page, with axes.
    Large,
}

impl Size {
    fn dimensions(self) -> (f64, f64, f64, f64) {
        // width, height, left pad, bottom pad
        match self {
            Self::Small => (240.0, 40.0, 0.0, 0.0),
            Self::Large => (960.0, 140.0, 44.0, 18.0),
        }
    }
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M").to_string()
}

/// The chart of `points` (oldest first), with the window starting at `window_since`.
pub(crate) fn chart(
    points: &[MinutePoint],
    window_since: Option<DateTime<Utc>>,
    size: Size,
) -> Markup {
    let (width, height, left, bottom) = size.dimensions();
    let top = if matches!(size, Size::Large) {
        8.0
    } else {
        2.0
    };
    let right = if matches!(size, Size::Large) {
        40.0
    } else {
        0.0
    };
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let n = points.len().max(1) as f64;
    let step = plot_w / n;
    let max = points.iter().map(|p| p.compared).max().unwrap_or(0);
    let compared: u64 = points.iter().map(|p| p.compared).sum();
    let mismatched: u64 = points.iter().map(|p| p.mismatched).sum();
    let x = |i: usize| left + step * i as f64;
    let y_rate = |rate: f64| top + plot_h * (1.0 - rate.clamp(0.0, 1.0));
    // One polyline per run of minutes with comparisons; a dot for a run of one.
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for (i, point) in points.iter().enumerate() {
        match point.mismatch_rate {
            Some(rate) => current.push((x(i) + step / 2.0, y_rate(rate))),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    let polyline = |run: &[(f64, f64)]| {
        run.iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let window_x = window_since.and_then(|since| {
        let first = points.first()?.minute;
        let last = points.last()?.minute;
        (since >= first && since <= last + chrono::Duration::minutes(1)).then(|| {
            let minutes = (since - first).num_seconds() as f64 / 60.0;
            left + step * minutes
        })
    });
    let label = format!(
        "{compared} comparisons and {mismatched} mismatches over the last {} minutes",
        points.len()
    );
    html! {
        svg class="chart" role="img" aria-label=(label) viewBox=(format!("0 0 {width} {height}"))
            width=(width) height=(height) xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            rect x=(left) y=(top) width=(plot_w) height=(plot_h) fill="#f7f8fa" {}
            @for (i, point) in points.iter().enumerate() {
                @if point.compared > 0 {
                    @let h = plot_h * point.compared as f64 / max.max(1) as f64;
                    rect x=(format!("{:.1}", x(i))) y=(format!("{:.1}", top + plot_h - h))
                        width=(format!("{:.2}", (step - 0.4).max(0.6))) height=(format!("{h:.1}")) fill="#9fb6dc" {
                        title {
                            (clock(point.minute)) " UTC: " (point.compared) " compared, "
                            (point.mismatched) " mismatched"
                            @if let Some(rate) = point.mismatch_rate { " (" (percent(rate)) ")" }
                        }
                    }
                }
            }
            @for run in &runs {
                @if let [(cx, cy)] = run.as_slice() {
                    circle cx=(format!("{cx:.1}")) cy=(format!("{cy:.1}")) r="2.2" fill="#b42318" {}
                } @else {
                    polyline points=(polyline(run)) fill="none" stroke="#b42318" stroke-width="1.6" {}
                }
            }
            @if let Some(wx) = window_x {
                line x1=(format!("{wx:.1}")) x2=(format!("{wx:.1}")) y1=(top) y2=(top + plot_h)
                    stroke="#9a6700" stroke-width="1.2" stroke-dasharray="3 2" {
                    title { "The verdict's window starts here" }
                }
            }
            @if matches!(size, Size::Large) {
                text x=(left - 4.0) y=(top + 10.0) text-anchor="end" font-size="10" fill="#5b6678" { (max) "/min" }
                text x=(left - 4.0) y=(top + plot_h) text-anchor="end" font-size="10" fill="#5b6678" { "0" }
                text x=(width - right + 4.0) y=(top + 10.0) font-size="10" fill="#b42318" { "100%" }
                text x=(width - right + 4.0) y=(top + plot_h) font-size="10" fill="#b42318" { "0%" }
                @if let (Some(first), Some(last)) = (points.first(), points.last()) {
                    text x=(left) y=(height - 4.0) font-size="10" fill="#5b6678" { (clock(first.minute)) " UTC" }
                    text x=(width - right) y=(height - 4.0) text-anchor="end" font-size="10" fill="#5b6678" { (clock(last.minute)) " UTC" }
                }
            }
        }
    }
}

/// The minutes with comparisons, newest first, as a table (the chart's data, readable without the chart).
pub(crate) fn table(points: &[MinutePoint]) -> Markup {
    let busy: Vec<&MinutePoint> = points.iter().rev().filter(|p| p.compared > 0).collect();
    html! {
        @if busy.is_empty() {
            p class="empty" { "No comparisons in this span." }
        } @else {
            table {
                thead { tr { th { "Minute (UTC)" } th class="num" { "Compared" } th class="num" { "Mismatched" } th class="num" { "Mismatch rate" } } }
                tbody {
                    @for point in busy {
                        tr {
                            td { (point.minute.format("%Y-%m-%d %H:%M")) }
                            td class="num" { (point.compared) }
                            td class="num" { (point.mismatched) }
                            td class="num" { @if let Some(rate) = point.mismatch_rate { (percent(rate)) } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shadow::store::OutcomeCounts;

    fn point(minute: i64, compared: u64, mismatched: u64) -> MinutePoint {
        MinutePoint {
            minute: DateTime::<Utc>::from_timestamp(minute * 60, 0).unwrap_or_default(),
            compared,
            mismatched,
            mismatch_rate: (compared > 0).then(|| mismatched as f64 / compared as f64),
            counts: OutcomeCounts::new(),
        }
    }

    #[test]
    fn bars_for_busy_minutes_and_a_line_per_run_of_them() {
        let points = [
            point(0, 4, 1),
            point(1, 2, 0),
            point(2, 0, 0),
            point(3, 8, 8),
        ];
        let svg = chart(&points, None, Size::Large).into_string();
        assert_eq!(svg.matches("<rect").count(), 1 + 3, "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 1, "{svg}");
        assert_eq!(
            svg.matches("<circle").count(),
            1,
            "a run of one minute is a dot: {svg}"
        );
        assert!(
            svg.contains("00:03 UTC: 8 compared, 8 mismatched (100.0%)"),
            "{svg}"
        );
        assert!(svg.contains("14 comparisons and 9 mismatches"), "{svg}");
    }

    #[test]
    fn the_table_lists_busy_minutes_newest_first() {
        let html = table(&[point(0, 4, 1), point(1, 0, 0), point(2, 2, 0)]).into_string();
        let first = html.find("00:02").unwrap_or(usize::MAX);
        let second = html.find("00:00").unwrap_or(0);
        assert!(first < second, "{html}");
        assert!(html.contains("25.0%"), "{html}");
        assert!(!html.contains("00:01"), "{html}");
    }
}
