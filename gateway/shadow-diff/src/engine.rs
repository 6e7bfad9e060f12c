//! The comparison engine: walks two answers under the rules and sorts each
//! difference into real, ignored or noise.

use std::cell::Cell;
use std::collections::BTreeSet;

use http::HeaderMap;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::answer::{Captured, CapturedBody};
use crate::canonical::{WriteOptions, numbers_equal, render, truncate_chars, write_json};
use crate::noise::{NoiseEntry, NoiseSet};
use crate::outcome::{Outcome, SkipReason};
use crate::pointer::{IgnoreRule, Step, pointer_string};
use crate::preview::{bytes_preview, header_preview};
use crate::report::{Comparison, DiffKind, Difference};
use crate::rules::{ArrayOrder, CompareRules};

/// JSON nesting depth beyond which subtrees are compared as canonical strings
/// instead of member by member.
pub const MAX_DEPTH: usize = 128;
/// Item pairs an unordered-array comparison may try, per comparison, when
/// `allow_added_fields` forces a search for a pairing (see the module docs).
pub const PAIRING_BUDGET: usize = 10_000;

/// Compares the primary's answer with the shadow's under `rules`; `noise`
/// (from [`detect_noise`]) moves matching differences into
/// [`Comparison::noise`]. Pure and deterministic. See the module docs for the
/// rules.
#[must_use]
pub fn compare(
    primary: &Captured,
    shadow: &Captured,
    rules: &CompareRules,
    noise: Option<&NoiseSet>,
) -> Comparison {
    let mut engine = Engine::new(rules, noise, false);
    let body_skipped = engine.run(primary, shadow);
    engine.finish(body_skipped)
}

/// Learns noise from two answers of the primary side to the same request:
/// the engine in learning mode.
///
/// Compares status, every header present on either side, and the body (JSON
/// structurally with strict array order, otherwise bytes); every differing
/// location becomes an entry. Not capped: all differences are learned. A
/// body that is [`CapturedBody::TooLarge`] on either side teaches
/// nothing about the body.
#[must_use]
pub fn detect_noise(first: &Captured, second: &Captured) -> NoiseSet {
    let rules = CompareRules::learning(
        first
            .headers
            .keys()
            .chain(second.headers.keys())
            .cloned()
            .collect(),
    );
    let mut engine = Engine::new(&rules, None, true);
    engine.run(first, second);
    NoiseSet::from_entries(engine.learned.unwrap_or_default())
}

/// Where a difference was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Real = 0,
    Ignored = 1,
    Noise = 2,
}

/// Which paths an equivalence check disregards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// None.
    Exact,
    /// Paths covered by ignore rules.
    Ignore,
    /// Paths covered by ignore rules or noise.
    IgnoreAndNoise,
}

/// Where a difference is.
#[derive(Debug, Clone, Copy)]
enum Loc<'a> {
    Status,
    Header(&'a HeaderName),
    /// A JSON path; empty for the body as a whole.
    Body(&'a [Step<'a>]),
}

impl Loc<'_> {
    fn path(&self) -> String {
        match self {
            Loc::Status => "status".to_owned(),
            Loc::Header(name) => format!("header:{}", name.as_str()),
            Loc::Body([]) => "body".to_owned(),
            Loc::Body(path) => pointer_string(path),
        }
    }

    fn noise_entry(&self) -> NoiseEntry {
        match self {
            Loc::Status => NoiseEntry::Status,
            Loc::Header(name) => NoiseEntry::Header(name.as_str().to_owned()),
            Loc::Body(path) => {
                IgnoreRule::generalised(path).map_or(NoiseEntry::Body, NoiseEntry::Pointer)
            }
        }
    }
}

/// A value to show in a difference, rendered only if the difference is kept.
enum Shown<'a> {
    Absent,
    Json(&'a Value),
    Text(String),
}

struct Engine<'r> {
    rules: &'r CompareRules,
    noise: Option<&'r NoiseSet>,
    noise_pointers: Vec<&'r IgnoreRule>,
    ignore_only: Vec<&'r IgnoreRule>,
    ignore_and_noise: Vec<&'r IgnoreRule>,
    lists: [Vec<Difference>; 3],
    counts: [usize; 3],
    truncated: bool,
    /// `Some` when learning noise: every difference's location, uncapped.
    learned: Option<BTreeSet<NoiseEntry>>,
    pairing_budget: Cell<usize>,
}

impl<'r> Engine<'r> {
    fn new(rules: &'r CompareRules, noise: Option<&'r NoiseSet>, learn: bool) -> Self {
        let noise_pointers: Vec<&IgnoreRule> =
            noise.map(|n| n.pointers().collect()).unwrap_or_default();
        let ignore_only: Vec<&IgnoreRule> = rules.ignore().iter().collect();
        let ignore_and_noise = ignore_only.iter().chain(&noise_pointers).copied().collect();
        Self {
            rules,
            noise,
            noise_pointers,
            ignore_only,
            ignore_and_noise,
            lists: [Vec::new(), Vec::new(), Vec::new()],
            counts: [0; 3],
            truncated: false,
            learned: learn.then(BTreeSet::new),
            pairing_budget: Cell::new(PAIRING_BUDGET),
        }
    }

    /// Compares everything; returns whether the body comparison was skipped
    /// because a body was too large.
    fn run(&mut self, primary: &Captured, shadow: &Captured) -> bool {
        if primary.status != shadow.status {
            let bucket = if self.noise.is_some_and(NoiseSet::has_status) {
                Bucket::Noise
            } else {
                Bucket::Real
            };
            self.record(
                bucket,
                Loc::Status,
                DiffKind::ValueChanged,
                Shown::Text(primary.status.as_u16().to_string()),
                Shown::Text(shadow.status.as_u16().to_string()),
            );
        }
        let rules = self.rules;
        for name in rules.compare_headers() {
            self.header(name, &primary.headers, &shadow.headers);
        }
        self.body(primary, shadow)
    }

    fn finish(self, body_skipped: bool) -> Comparison {
        let [real, ignored, noise] = self.counts;
        let outcome = if body_skipped {
            Outcome::Skipped(SkipReason::BodyTooLarge)
        } else if real > 0 {
            Outcome::Mismatch
        } else if ignored + noise > 0 {
            Outcome::IgnoredOnly
        } else {
            Outcome::Match
        };
        let [differences, ignored, noise] = self.lists;
        Comparison {
            outcome,
            differences,
            ignored,
            noise,
            truncated: self.truncated,
        }
    }

    fn header(&mut self, name: &HeaderName, primary: &HeaderMap, shadow: &HeaderMap) {
        let ours: Vec<&HeaderValue> = primary.get_all(name).iter().collect();
        let theirs: Vec<&HeaderValue> = shadow.get_all(name).iter().collect();
        if ours == theirs {
            return;
        }
        let kind = if ours.is_empty() {
            DiffKind::Added
        } else if theirs.is_empty() {
            DiffKind::Missing
        } else {
            DiffKind::ValueChanged
        };
        let bucket = if self.noise.is_some_and(|n| n.has_header(name.as_str())) {
            Bucket::Noise
        } else {
            Bucket::Real
        };
        let shown =
            |values: &[&HeaderValue]| header_preview(values).map_or(Shown::Absent, Shown::Text);
        let (ours, theirs) = (shown(&ours), shown(&theirs));
        self.record(bucket, Loc::Header(name), kind, ours, theirs);
    }

    fn body(&mut self, primary: &Captured, shadow: &Captured) -> bool {
        let limit = self.rules.max_body_bytes();
        let (ours, theirs) = match (&primary.body, &shadow.body) {
            (CapturedBody::Complete(a), CapturedBody::Complete(b))
                if a.len() <= limit && b.len() <= limit =>
            {
                (a, b)
            }
            _ => return true,
        };
        let bucket = if self.noise.is_some_and(NoiseSet::has_body) {
            Bucket::Noise
        } else {
            Bucket::Real
        };
        if is_json(&primary.headers) && is_json(&shadow.headers) {
            let parsed = (
                serde_json::from_slice::<Value>(ours),
                serde_json::from_slice::<Value>(theirs),
            );
            let (kind, whole) = (DiffKind::TypeChanged, Loc::Body(&[]));
            match parsed {
                (Ok(a), Ok(b)) => {
                    let mut path = Vec::new();
                    self.walk(&a, &b, &mut path, bucket, 0);
                    return false;
                }
                (Ok(a), Err(_)) => {
                    let theirs = Shown::Text(bytes_preview(theirs, None));
                    self.record(bucket, whole, kind, Shown::Json(&a), theirs);
                    return false;
                }
                (Err(_), Ok(b)) => {
                    let ours = Shown::Text(bytes_preview(ours, None));
                    self.record(bucket, whole, kind, ours, Shown::Json(&b));
                    return false;
                }
                (Err(_), Err(_)) => {}
            }
        }
        if ours != theirs {
            let at = ours
                .iter()
                .zip(theirs.iter())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| ours.len().min(theirs.len()));
            self.record(
                bucket,
                Loc::Body(&[]),
                DiffKind::BodyBytes,
                Shown::Text(bytes_preview(ours, Some(at))),
                Shown::Text(bytes_preview(theirs, Some(at))),
            );
        }
        false
    }

    /// The bucket of the node at `path`, given its parent's: ignore rules
    /// win over noise, and a decision holds for the whole subtree.
    fn classify(&self, path: &[Step<'_>], inherited: Bucket) -> Bucket {
        if inherited == Bucket::Ignored || path.is_empty() {
            return inherited;
        }
        if self.ignore_only.iter().any(|r| r.matches_exactly(path)) {
            return Bucket::Ignored;
        }
        if inherited == Bucket::Real && self.noise_pointers.iter().any(|r| r.matches_exactly(path))
        {
            return Bucket::Noise;
        }
        inherited
    }

    fn walk<'v>(
        &mut self,
        p: &'v Value,
        s: &'v Value,
        path: &mut Vec<Step<'v>>,
        inherited: Bucket,
        depth: usize,
    ) {
        let bucket = self.classify(path, inherited);
        if depth >= MAX_DEPTH {
            let kind = if same_type(p, s) {
                DiffKind::ValueChanged
            } else {
                DiffKind::TypeChanged
            };
            self.settle(p, s, path, bucket, depth, kind);
            return;
        }
        match (p, s) {
            (Value::Object(pm), Value::Object(sm)) => self.walk_object(pm, sm, path, bucket, depth),
            (Value::Array(pa), Value::Array(sa)) => {
                if pa.len() != sa.len() {
                    self.record(
                        bucket,
                        Loc::Body(path),
                        DiffKind::ArrayLength,
                        Shown::Text(pa.len().to_string()),
                        Shown::Text(sa.len().to_string()),
                    );
                }
                match self.rules.array_order() {
                    ArrayOrder::Strict => {
                        for (i, (pv, sv)) in pa.iter().zip(sa).enumerate() {
                            path.push(Step::Index(i));
                            self.walk(pv, sv, path, bucket, depth + 1);
                            path.pop();
                        }
                    }
                    ArrayOrder::Ignore => {
                        if pa.len() == sa.len() {
                            self.settle(p, s, path, bucket, depth, DiffKind::ValueChanged);
                        }
                    }
                }
            }
            (Value::Number(a), Value::Number(b)) => {
                if !numbers_equal(a, b) {
                    self.record_values(bucket, path, DiffKind::ValueChanged, p, s);
                }
            }
            _ if same_type(p, s) => {
                if p != s {
                    self.record_values(bucket, path, DiffKind::ValueChanged, p, s);
                }
            }
            _ => self.record_values(bucket, path, DiffKind::TypeChanged, p, s),
        }
    }

    fn walk_object<'v>(
        &mut self,
        pm: &'v Map<String, Value>,
        sm: &'v Map<String, Value>,
        path: &mut Vec<Step<'v>>,
        bucket: Bucket,
        depth: usize,
    ) {
        let mut keys: Vec<&'v str> = pm.keys().chain(sm.keys()).map(String::as_str).collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            path.push(Step::Key(key));
            match (pm.get(key), sm.get(key)) {
                (Some(pv), Some(sv)) => self.walk(pv, sv, path, bucket, depth + 1),
                (Some(pv), None) => {
                    let child = self.classify(path, bucket);
                    let loc = Loc::Body(path);
                    self.record(
                        child,
                        loc,
                        DiffKind::Missing,
                        Shown::Json(pv),
                        Shown::Absent,
                    );
                }
                (None, Some(sv)) => {
                    if !self.rules.allow_added_fields() {
                        let child = self.classify(path, bucket);
                        let loc = Loc::Body(path);
                        self.record(child, loc, DiffKind::Added, Shown::Absent, Shown::Json(sv));
                    }
                }
                (None, None) => {}
            }
            path.pop();
        }
    }

    /// Records one difference for a whole subtree (an unordered array, or a
    /// subtree beyond [`MAX_DEPTH`]) if it differs, in the least severe
    /// bucket that explains it: if stripping ignored paths makes both sides
    /// equivalent it is ignored, else if stripping noise too does, it is noise.
    fn settle<'v>(
        &mut self,
        p: &'v Value,
        s: &'v Value,
        path: &mut Vec<Step<'v>>,
        bucket: Bucket,
        depth: usize,
        kind: DiffKind,
    ) {
        if self.equivalent(p, s, path, Level::Exact, depth) {
            return;
        }
        let bucket = match bucket {
            Bucket::Ignored => Bucket::Ignored,
            _ if !self.ignore_only.is_empty()
                && self.equivalent(p, s, path, Level::Ignore, depth) =>
            {
                Bucket::Ignored
            }
            Bucket::Noise => Bucket::Noise,
            Bucket::Real
                if !self.noise_pointers.is_empty()
                    && self.equivalent(p, s, path, Level::IgnoreAndNoise, depth) =>
            {
                Bucket::Noise
            }
            Bucket::Real => Bucket::Real,
        };
        self.record_values(bucket, path, kind, p, s);
    }

    fn strip(&self, level: Level) -> &[&'r IgnoreRule] {
        match level {
            Level::Exact => &[],
            Level::Ignore => &self.ignore_only,
            Level::IgnoreAndNoise => &self.ignore_and_noise,
        }
    }

    fn stripped(&self, path: &[Step<'_>], level: Level) -> bool {
        self.strip(level).iter().any(|r| r.matches_exactly(path))
    }

    /// Whether two subtrees are equal under the rules, disregarding the paths
    /// `level` strips. Agrees with `walk` finding no difference at `Exact`.
    fn equivalent<'v>(
        &self,
        p: &'v Value,
        s: &'v Value,
        path: &mut Vec<Step<'v>>,
        level: Level,
        depth: usize,
    ) -> bool {
        if depth >= MAX_DEPTH {
            return self.canonical(p, path, level) == self.canonical(s, path, level);
        }
        match (p, s) {
            (Value::Object(pm), Value::Object(sm)) => {
                for (key, pv) in pm {
                    path.push(Step::Key(key));
                    let ok = self.stripped(path, level)
                        || sm
                            .get(key)
                            .is_some_and(|sv| self.equivalent(pv, sv, path, level, depth + 1));
                    path.pop();
                    if !ok {
                        return false;
                    }
                }
                if !self.rules.allow_added_fields() {
                    for key in sm.keys().filter(|key| !pm.contains_key(*key)) {
                        path.push(Step::Key(key));
                        let ok = self.stripped(path, level);
                        path.pop();
                        if !ok {
                            return false;
                        }
                    }
                }
                true
            }
            (Value::Array(pa), Value::Array(sa)) => {
                if pa.len() != sa.len() {
                    return false;
                }
                match self.rules.array_order() {
                    ArrayOrder::Strict => {
                        for (i, (pv, sv)) in pa.iter().zip(sa).enumerate() {
                            path.push(Step::Index(i));
                            let ok = self.stripped(path, level)
                                || self.equivalent(pv, sv, path, level, depth + 1);
                            path.pop();
                            if !ok {
                                return false;
                            }
                        }
                        true
                    }
                    ArrayOrder::Ignore => {
                        path.push(Step::AnyIndex);
                        let ok = self.same_multiset(pa, sa, path, level, depth + 1);
                        path.pop();
                        ok
                    }
                }
            }
            (Value::Number(a), Value::Number(b)) => numbers_equal(a, b),
            _ => p == s,
        }
    }

    /// Unordered arrays of equal length; `path` ends with the items' step.
    /// Items are matched by canonical form; with `allow_added_fields`, the
    /// leftovers are paired by a bounded search for a perfect matching.
    fn same_multiset<'v>(
        &self,
        pa: &'v [Value],
        sa: &'v [Value],
        path: &mut Vec<Step<'v>>,
        level: Level,
        depth: usize,
    ) -> bool {
        if self.stripped(path, level) {
            return true;
        }
        let keyed = |items: &'v [Value]| {
            let mut keys: Vec<(String, usize)> = items
                .iter()
                .enumerate()
                .map(|(i, item)| (self.canonical(item, path, level), i))
                .collect();
            keys.sort_unstable();
            keys
        };
        let (ours, theirs) = (keyed(pa), keyed(sa));
        let (mut i, mut j) = (0, 0);
        let (mut left_ours, mut left_theirs) = (Vec::new(), Vec::new());
        while i < ours.len() && j < theirs.len() {
            match ours[i].0.cmp(&theirs[j].0) {
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                }
                std::cmp::Ordering::Less => {
                    left_ours.push(ours[i].1);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    left_theirs.push(theirs[j].1);
                    j += 1;
                }
            }
        }
        left_ours.extend(ours[i..].iter().map(|k| k.1));
        left_theirs.extend(theirs[j..].iter().map(|k| k.1));
        if left_ours.is_empty() && left_theirs.is_empty() {
            return true;
        }
        if !self.rules.allow_added_fields() || left_ours.len() != left_theirs.len() {
            return false;
        }
        let n = left_ours.len();
        let pairs = n.saturating_mul(n);
        let budget = self.pairing_budget.get();
        if pairs > budget {
            return false;
        }
        self.pairing_budget.set(budget - pairs);
        let mut adjacency: Vec<Vec<usize>> = Vec::with_capacity(n);
        for &pi in &left_ours {
            let mut row = Vec::new();
            for (j, &sj) in left_theirs.iter().enumerate() {
                if self.equivalent(&pa[pi], &sa[sj], path, level, depth) {
                    row.push(j);
                }
            }
            if row.is_empty() {
                return false;
            }
            adjacency.push(row);
        }
        let mut owner: Vec<Option<usize>> = vec![None; n];
        (0..n).all(|u| augment(u, &adjacency, &mut vec![false; n], &mut owner))
    }

    /// Canonical JSON of a subtree at `path`: object members sorted, numbers
    /// normalised (`1.0` as `1`), unordered arrays sorted, stripped paths
    /// left out. Iterative, so any depth is safe.
    fn canonical(&self, value: &Value, path: &[Step<'_>], level: Level) -> String {
        write_json(
            value,
            path,
            &WriteOptions {
                strip: self.strip(level),
                canonical: true,
                sort_arrays: self.rules.array_order() == ArrayOrder::Ignore,
                byte_limit: usize::MAX,
            },
        )
    }

    fn record_values(
        &mut self,
        bucket: Bucket,
        path: &[Step<'_>],
        kind: DiffKind,
        p: &Value,
        s: &Value,
    ) {
        self.record(
            bucket,
            Loc::Body(path),
            kind,
            Shown::Json(p),
            Shown::Json(s),
        );
    }

    fn record(
        &mut self,
        bucket: Bucket,
        loc: Loc<'_>,
        kind: DiffKind,
        primary: Shown<'_>,
        shadow: Shown<'_>,
    ) {
        if let Some(learned) = self.learned.as_mut() {
            learned.insert(loc.noise_entry());
        }
        let index = bucket as usize;
        self.counts[index] += 1;
        if self.lists[index].len() >= self.rules.max_differences() {
            self.truncated = true;
            return;
        }
        let difference = Difference {
            path: loc.path(),
            kind,
            primary: self.show(primary),
            shadow: self.show(shadow),
        };
        self.lists[index].push(difference);
    }

    fn show(&self, shown: Shown<'_>) -> Option<String> {
        let max = self.rules.max_value_chars();
        match shown {
            Shown::Absent => None,
            Shown::Json(value) => Some(truncate_chars(render(value, max), max)),
            Shown::Text(text) => Some(truncate_chars(text, max)),
        }
    }
}

/// Kuhn's augmenting path step; recursion depth is at most the number of
/// items, which the pairing budget keeps small.
fn augment(
    u: usize,
    adjacency: &[Vec<usize>],
    seen: &mut [bool],
    owner: &mut [Option<usize>],
) -> bool {
    for &v in &adjacency[u] {
        if !seen[v] {
            seen[v] = true;
            if owner[v].is_none_or(|w| augment(w, adjacency, seen, owner)) {
                owner[v] = Some(u);
                return true;
            }
        }
    }
    false
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// JSON bodies: `application/json` or any `+json` type, parameters ignored.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .split_once('/')
            .is_some_and(|(kind, sub)| !kind.is_empty() && sub.len() > 5 && sub.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use bytes::Bytes;
    use http::StatusCode;
    use http::header::{CONTENT_TYPE, HeaderName};

    use super::*;
    use crate::outcome::DropReason;
    use crate::pointer::PointerError;
    use crate::rules::{
        CompareRulesBuilder, DEFAULT_MAX_DIFFERENCES, DEFAULT_MAX_VALUE_CHARS, RulesError,
    };
    use crate::test_support::{answer, json};

    fn builder() -> CompareRulesBuilder {
        CompareRules::builder()
    }

    fn kinds(list: &[Difference]) -> Vec<(&str, DiffKind)> {
        list.iter().map(|d| (d.path.as_str(), d.kind)).collect()
    }

    fn noise_of(paths: &[&str]) -> NoiseSet {
        let mut noise = NoiseSet::new();
        for path in paths {
            noise.insert(path).unwrap();
        }
        noise
    }

    use DiffKind::{Added, ArrayLength, BodyBytes, Missing, TypeChanged, ValueChanged};

    /// One JSON case: rules, both bodies, and what must come out.
    struct Case {
        name: &'static str,
        rules: CompareRulesBuilder,
        primary: Value,
        shadow: Value,
        outcome: Outcome,
        differences: &'static [(&'static str, DiffKind)],
        ignored: &'static [(&'static str, DiffKind)],
    }

    fn json_cases() -> Vec<Case> {
        let strict = builder;
        let unordered = || builder().array_order(ArrayOrder::Ignore);
        vec![
            Case {
                name: "equal nested documents",
                rules: strict(),
                primary: json!({"user": {"id": 1, "tags": ["a", "b"], "address": {"city": "Oslo"}}}),
                shadow: json!({"user": {"address": {"city": "Oslo"}, "tags": ["a", "b"], "id": 1}}),
                outcome: Outcome::Match,
                differences: &[],
                ignored: &[],
            },
            Case {
                name: "nested value changed",
                rules: strict(),
                primary: json!({"user": {"address": {"city": "Oslo", "zip": "0150"}}}),
                shadow: json!({"user": {"address": {"city": "Bergen", "zip": "0150"}}}),
                outcome: Outcome::Mismatch,
                differences: &[("/user/address/city", ValueChanged)],
                ignored: &[],
            },
            Case {
                name: "string vs number is a type change",
                rules: strict(),
                primary: json!({"id": "1"}),
                shadow: json!({"id": 1}),
                outcome: Outcome::Mismatch,
                differences: &[("/id", TypeChanged)],
                ignored: &[],
            },
            Case {
                name: "null vs zero is a type change",
                rules: strict(),
                primary: json!({"n": null}),
                shadow: json!({"n": 0}),
                outcome: Outcome::Mismatch,
                differences: &[("/n", TypeChanged)],
                ignored: &[],
            },
            Case {
                name: "object vs array is a type change, not a walk",
                rules: strict(),
                primary: json!({"x": {"0": 1}}),
                shadow: json!({"x": [1]}),
                outcome: Outcome::Mismatch,
                differences: &[("/x", TypeChanged)],
                ignored: &[],
            },
            Case {
                name: "root difference is reported at body",
                rules: strict(),
                primary: json!([1]),
                shadow: json!({"a": 1}),
                outcome: Outcome::Mismatch,
                differences: &[("body", TypeChanged)],
                ignored: &[],
            },
            Case {
                name: "root scalars",
                rules: strict(),
                primary: json!("a"),
                shadow: json!("b"),
                outcome: Outcome::Mismatch,
                differences: &[("body", ValueChanged)],
                ignored: &[],
            },
            Case {
                name: "member missing in shadow",
                rules: strict(),
                primary: json!({"a": 1, "b": {"c": 2}}),
                shadow: json!({"a": 1}),
                outcome: Outcome::Mismatch,
                differences: &[("/b", Missing)],
                ignored: &[],
            },
            Case {
                name: "member added by shadow, not allowed",
                rules: strict(),
                primary: json!({"a": 1}),
                shadow: json!({"a": 1, "c": {"d": true}}),
                outcome: Outcome::Mismatch,
                differences: &[("/c", Added)],
                ignored: &[],
            },
            Case {
                name: "members added by shadow, allowed, at any depth",
                rules: strict().allow_added_fields(true),
                primary: json!({"a": 1, "o": {"p": 2}, "l": [{"q": 3}]}),
                shadow: json!({"a": 1, "c": 3, "o": {"p": 2, "new": 1}, "l": [{"q": 3, "r": 4}]}),
                outcome: Outcome::Match,
                differences: &[],
                ignored: &[],
            },
            Case {
                name: "allowing added members does not allow missing ones",
                rules: strict().allow_added_fields(true),
                primary: json!({"a": 1, "b": 2}),
                shadow: json!({"a": 1, "c": 2}),
                outcome: Outcome::Mismatch,
                differences: &[("/b", Missing)],
                ignored: &[],
            },
            Case {
                name: "numbers by value: 1 == 1.0 == 1e0, 0 == -0.0",
                rules: strict(),
                primary: json!({"a": 1, "b": 100, "c": 0, "d": 2.5, "e": -3}),
                shadow: serde_json::from_str(
                    r#"{"a": 1.0, "b": 1e2, "c": -0.0, "d": 2.50, "e": -3.0}"#,
                )
                .unwrap(),
                outcome: Outcome::Match,
                differences: &[],
                ignored: &[],
            },
            Case {
                name: "numbers that differ",
                rules: strict(),
                primary: json!({"a": 1, "b": 9_007_199_254_740_993_u64, "c": 0.1}),
                shadow: serde_json::from_str(
                    r#"{"a": 1.5, "b": 9007199254740992.0, "c": 0.10000001}"#,
                )
                .unwrap(),
                outcome: Outcome::Mismatch,
                differences: &[
                    ("/a", ValueChanged),
                    ("/b", ValueChanged),
                    ("/c", ValueChanged),
                ],
                ignored: &[],
            },
            Case {
                name: "strict arrays compare by position",
                rules: strict(),
                primary: json!({"items": [1, 2, 3]}),
                shadow: json!({"items": [1, 3, 2]}),
                outcome: Outcome::Mismatch,
                differences: &[("/items/1", ValueChanged), ("/items/2", ValueChanged)],
                ignored: &[],
            },
            Case {
                name: "strict arrays of different length: length first, then common items",
                rules: strict(),
                primary: json!({"items": [{"n": 1}, {"n": 2}]}),
                shadow: json!({"items": [{"n": 1}, {"n": 5}, {"n": 3}]}),
                outcome: Outcome::Mismatch,
                differences: &[("/items", ArrayLength), ("/items/1/n", ValueChanged)],
                ignored: &[],
            },
            Case {
                name: "unordered arrays: any order matches",
                rules: unordered(),
                primary: json!({"items": [1, "two", {"a": 1, "b": [1, 2]}, null]}),
                shadow: json!({"items": [null, {"b": [2, 1.0], "a": 1}, 1.0, "two"]}),
                outcome: Outcome::Match,
                differences: &[],
                ignored: &[],
            },
            Case {
                name: "unordered arrays are multisets, not sets",
                rules: unordered(),
                primary: json!({"items": [1, 2, 2]}),
                shadow: json!({"items": [1, 1, 2]}),
                outcome: Outcome::Mismatch,
                differences: &[("/items", ValueChanged)],
                ignored: &[],
            },
            Case {
                name: "unordered arrays of different length",
                rules: unordered(),
                primary: json!({"items": [1, 2]}),
                shadow: json!({"items": [2, 1, 3]}),
                outcome: Outcome::Mismatch,
                differences: &[("/items", ArrayLength)],
                ignored: &[],
            },
            Case {
                name: "unordered nested arrays keep nested structure (Diffy PR #51)",
                rules: unordered(),
                primary: json!({"m": [[1, 2], [3, 4]]}),
                shadow: json!({"m": [[1, 3], [2, 4]]}),
                outcome: Outcome::Mismatch,
                differences: &[("/m", ValueChanged)],
                ignored: &[],
            },
            Case {
                name: "unordered items may gain members when allowed",
                rules: unordered().allow_added_fields(true),
                primary: json!({"items": [{"id": 1}, {"id": 2}, {"id": 2}]}),
                shadow: json!({"items": [{"id": 2, "x": 1}, {"id": 1, "x": 0}, {"id": 2}]}),
                outcome: Outcome::Match,
                differences: &[],
                ignored: &[],
            },
            Case {
                name: "unordered items gaining members when not allowed",
                rules: unordered(),
                primary: json!({"items": [{"id": 1}, {"id": 2}]}),
                shadow: json!({"items": [{"id": 2, "x": 1}, {"id": 1}]}),
                outcome: Outcome::Mismatch,
                differences: &[("/items", ValueChanged)],
                ignored: &[],
            },
            Case {
                name: "unordered items losing members are never allowed",
                rules: unordered().allow_added_fields(true),
                primary: json!({"items": [{"id": 1, "n": "a"}, {"id": 2}]}),
                shadow: json!({"items": [{"id": 2}, {"id": 1}]}),
                outcome: Outcome::Mismatch,
                differences: &[("/items", ValueChanged)],
                ignored: &[],
            },
            Case {
                name: "ignore /items/*/id with strict arrays",
                rules: strict().ignore("/items/*/id"),
                primary: json!({"items": [{"id": "u1", "n": "a"}, {"id": "u2", "n": "b"}]}),
                shadow: json!({"items": [{"id": "v1", "n": "a"}, {"id": "v2", "n": "b"}]}),
                outcome: Outcome::IgnoredOnly,
                differences: &[],
                ignored: &[("/items/0/id", ValueChanged), ("/items/1/id", ValueChanged)],
            },
            Case {
                name: "ignore /items/*/id with unordered arrays",
                rules: unordered().ignore("/items/*/id"),
                primary: json!({"items": [{"id": "u1", "n": "a"}, {"id": "u2", "n": "b"}]}),
                shadow: json!({"items": [{"id": "v2", "n": "b"}, {"id": "v1", "n": "a"}]}),
                outcome: Outcome::IgnoredOnly,
                differences: &[],
                ignored: &[("/items", ValueChanged)],
            },
            Case {
                name: "ignore rules do not hide other changes in unordered arrays",
                rules: unordered().ignore("/items/*/id"),
                primary: json!({"items": [{"id": "u1", "n": "a"}, {"id": "u2", "n": "b"}]}),
                shadow: json!({"items": [{"id": "v2", "n": "b"}, {"id": "v1", "n": "c"}]}),
                outcome: Outcome::Mismatch,
                differences: &[("/items", ValueChanged)],
                ignored: &[],
            },
            Case {
                name: "unordered items have no position: /items/0/id does not reach them",
                rules: unordered().ignore("/items/0/id"),
                primary: json!({"items": [{"id": "u1"}]}),
                shadow: json!({"items": [{"id": "v1"}]}),
                outcome: Outcome::Mismatch,
                differences: &[("/items", ValueChanged)],
                ignored: &[],
            },
            Case {
                name: "ignore /*/updated_at: any top-level member",
                rules: strict().ignore("/*/updated_at"),
                primary: json!({"user": {"updated_at": "t1", "n": 1}, "org": {"updated_at": "t1"}}),
                shadow: json!({"user": {"updated_at": "t2", "n": 1}, "org": {"updated_at": "t3"}}),
                outcome: Outcome::IgnoredOnly,
                differences: &[],
                ignored: &[
                    ("/org/updated_at", ValueChanged),
                    ("/user/updated_at", ValueChanged),
                ],
            },
            Case {
                name: "ignore /*/updated_at does not reach other depths",
                rules: strict().ignore("/*/updated_at"),
                primary: json!({"updated_at": "t1", "a": {"b": {"updated_at": "t1"}}}),
                shadow: json!({"updated_at": "t2", "a": {"b": {"updated_at": "t2"}}}),
                outcome: Outcome::Mismatch,
                differences: &[
                    ("/a/b/updated_at", ValueChanged),
                    ("/updated_at", ValueChanged),
                ],
                ignored: &[],
            },
            Case {
                name: "an ignore rule covers its whole subtree, including missing and added",
                rules: strict().ignore("/user"),
                primary: json!({"user": {"name": "a", "email": "e"}, "ok": true}),
                shadow: json!({"user": {"name": "b", "extra": 1}, "ok": true}),
                outcome: Outcome::IgnoredOnly,
                differences: &[],
                ignored: &[
                    ("/user/email", Missing),
                    ("/user/extra", Added),
                    ("/user/name", ValueChanged),
                ],
            },
            Case {
                name: "ignore rules on the member itself: missing or added",
                rules: strict().ignore("/debug").ignore("/trace"),
                primary: json!({"debug": 1}),
                shadow: json!({"trace": "x"}),
                outcome: Outcome::IgnoredOnly,
                differences: &[],
                ignored: &[("/debug", Missing), ("/trace", Added)],
            },
            Case {
                name: "ignored and real differences together",
                rules: strict().ignore("/meta"),
                primary: json!({"meta": {"t": 1}, "name": "a"}),
                shadow: json!({"meta": {"t": 2}, "name": "b"}),
                outcome: Outcome::Mismatch,
                differences: &[("/name", ValueChanged)],
                ignored: &[("/meta/t", ValueChanged)],
            },
            Case {
                name: "ignore rule with ~1 escape for `/` in a key",
                rules: strict().ignore("/links/a~1b"),
                primary: json!({"links": {"a/b": 1, "ab": 1}}),
                shadow: json!({"links": {"a/b": 2, "ab": 1}}),
                outcome: Outcome::IgnoredOnly,
                differences: &[],
                ignored: &[("/links/a~1b", ValueChanged)],
            },
            Case {
                name: "ignore rule with ~0 escape for `~` in a key",
                rules: strict().ignore("/m~0n"),
                primary: json!({"m~n": 1}),
                shadow: json!({"m~n": 2}),
                outcome: Outcome::IgnoredOnly,
                differences: &[],
                ignored: &[("/m~0n", ValueChanged)],
            },
            Case {
                name: "escapes decode once: /a~01 names the key `a~1`, not `a/`",
                rules: strict().ignore("/a~01"),
                primary: json!({"a~1": 1, "a/": 1}),
                shadow: json!({"a~1": 2, "a/": 2}),
                outcome: Outcome::Mismatch,
                differences: &[("/a~1", ValueChanged)],
                ignored: &[("/a~01", ValueChanged)],
            },
            Case {
                name: "decimal segment reaches a strict array item",
                rules: strict().ignore("/items/1"),
                primary: json!({"items": [1, 2]}),
                shadow: json!({"items": [1, 3]}),
                outcome: Outcome::IgnoredOnly,
                differences: &[],
                ignored: &[("/items/1", ValueChanged)],
            },
        ]
    }

    #[test]
    fn json_bodies_follow_the_rules() {
        for case in json_cases() {
            let rules = case.rules.build().unwrap();
            let got = compare(&json(&case.primary), &json(&case.shadow), &rules, None);
            assert_eq!(got.outcome, case.outcome, "{}: {got:#?}", case.name);
            assert_eq!(kinds(&got.differences), case.differences, "{}", case.name);
            assert_eq!(kinds(&got.ignored), case.ignored, "{}", case.name);
            assert!(got.noise.is_empty(), "{}", case.name);
            assert!(!got.truncated, "{}", case.name);
        }
    }

    #[test]
    fn differences_carry_rendered_values() {
        let rules = CompareRules::default();
        let got = compare(
            &json(&json!({"a": {"b": [1, 2]}, "s": "x\"y", "gone": null})),
            &json(&json!({"a": {"b": "2"}, "s": "z", "new": {"k": 1.5}})),
            &rules,
            None,
        );
        let rendered: Vec<(&str, Option<&str>, Option<&str>)> = got
            .differences
            .iter()
            .map(|d| (d.path.as_str(), d.primary.as_deref(), d.shadow.as_deref()))
            .collect();
        assert_eq!(
            rendered,
            [
                ("/a/b", Some("[1,2]"), Some("\"2\"")),
                ("/gone", Some("null"), None),
                ("/new", None, Some("{\"k\":1.5}")),
                ("/s", Some("\"x\\\"y\""), Some("\"z\"")),
            ]
        );
        let lengths = compare(
            &json(&json!([1, 2, 3])),
            &json(&json!([1, 2])),
            &rules,
            None,
        );
        assert_eq!(lengths.differences[0].primary.as_deref(), Some("3"));
        assert_eq!(lengths.differences[0].shadow.as_deref(), Some("2"));
        assert_eq!(
            lengths.differences[0].to_string(),
            "body array_length: primary 3, shadow 2"
        );
    }

    #[test]
    fn status_is_compared_exactly() {
        let rules = CompareRules::default();
        let cases: &[(u16, u16, Outcome)] = &[
            (200, 200, Outcome::Match),
            (200, 201, Outcome::Mismatch),
            (404, 500, Outcome::Mismatch),
            (204, 204, Outcome::Match),
        ];
        for &(ours, theirs, outcome) in cases {
            let got = compare(
                &answer(ours, &[], b""),
                &answer(theirs, &[], b""),
                &rules,
                None,
            );
            assert_eq!(got.outcome, outcome, "{ours} vs {theirs}");
            if outcome == Outcome::Mismatch {
                assert_eq!(
                    got.differences,
                    [Difference {
                        path: "status".into(),
                        kind: ValueChanged,
                        primary: Some(ours.to_string()),
                        shadow: Some(theirs.to_string()),
                    }]
                );
            }
        }
    }

    #[test]
    fn only_listed_headers_are_compared() {
        type Headers = &'static [(&'static str, &'static str)];
        struct HeaderCase {
            name: &'static str,
            rules: CompareRulesBuilder,
            primary: Headers,
            shadow: Headers,
            expected: &'static [(
                &'static str,
                DiffKind,
                Option<&'static str>,
                Option<&'static str>,
            )],
        }
        let cases = [
            HeaderCase {
                name: "same content-type",
                rules: builder(),
                primary: &[("content-type", "text/plain")],
                shadow: &[("Content-Type", "text/plain")],
                expected: &[],
            },
            HeaderCase {
                name: "content-type values compared exactly",
                rules: builder(),
                primary: &[("content-type", "text/plain")],
                shadow: &[("content-type", "text/plain; charset=utf-8")],
                expected: &[(
                    "header:content-type",
                    ValueChanged,
                    Some("\"text/plain\""),
                    Some("\"text/plain; charset=utf-8\""),
                )],
            },
            HeaderCase {
                name: "unlisted headers are not compared",
                rules: builder(),
                primary: &[("x-request-id", "1"), ("date", "Mon")],
                shadow: &[("x-request-id", "2"), ("server", "new")],
                expected: &[],
            },
            HeaderCase {
                name: "names are case-insensitive in rules and answers",
                rules: builder().compare_header("ETag"),
                primary: &[("ETag", "\"v1\"")],
                shadow: &[("etag", "\"v1\"")],
                expected: &[],
            },
            HeaderCase {
                name: "values are case-sensitive",
                rules: builder().compare_header("etag"),
                primary: &[("etag", "abc")],
                shadow: &[("etag", "ABC")],
                expected: &[(
                    "header:etag",
                    ValueChanged,
                    Some("\"abc\""),
                    Some("\"ABC\""),
                )],
            },
            HeaderCase {
                name: "missing in shadow",
                rules: builder().compare_header("cache-control"),
                primary: &[("cache-control", "no-store")],
                shadow: &[],
                expected: &[("header:cache-control", Missing, Some("\"no-store\""), None)],
            },
            HeaderCase {
                name: "added by shadow",
                rules: builder().compare_header("cache-control"),
                primary: &[],
                shadow: &[("cache-control", "no-store")],
                expected: &[("header:cache-control", Added, None, Some("\"no-store\""))],
            },
            HeaderCase {
                name: "repeated values compared in order",
                rules: builder().compare_headers(["vary"]),
                primary: &[("vary", "a"), ("vary", "b")],
                shadow: &[("vary", "b"), ("vary", "a")],
                expected: &[(
                    "header:vary",
                    ValueChanged,
                    Some("[\"a\",\"b\"]"),
                    Some("[\"b\",\"a\"]"),
                )],
            },
            HeaderCase {
                name: "an empty list compares no header",
                rules: builder().compare_headers(Vec::<String>::new()),
                primary: &[("content-type", "text/html")],
                shadow: &[("content-type", "text/plain")],
                expected: &[],
            },
            HeaderCase {
                name: "headers are listed by name",
                rules: builder().compare_header("x-b").compare_header("X-A"),
                primary: &[("x-b", "1"), ("x-a", "1")],
                shadow: &[],
                expected: &[
                    ("header:x-a", Missing, Some("\"1\""), None),
                    ("header:x-b", Missing, Some("\"1\""), None),
                ],
            },
        ];
        for case in cases {
            let rules = case.rules.build().unwrap();
            let got = compare(
                &answer(200, case.primary, b"same"),
                &answer(200, case.shadow, b"same"),
                &rules,
                None,
            );
            let found: Vec<_> = got
                .differences
                .iter()
                .map(|d| {
                    (
                        d.path.as_str(),
                        d.kind,
                        d.primary.as_deref(),
                        d.shadow.as_deref(),
                    )
                })
                .collect();
            assert_eq!(found, case.expected, "{}", case.name);
            let outcome = if case.expected.is_empty() {
                Outcome::Match
            } else {
                Outcome::Mismatch
            };
            assert_eq!(got.outcome, outcome, "{}", case.name);
        }
    }

    #[test]
    fn bodies_follow_the_content_types() {
        const JSON: (&str, &str) = ("content-type", "application/json");
        type Side = (&'static [(&'static str, &'static str)], &'static [u8]);
        type BodyCase = (
            &'static str,
            Side,
            Side,
            &'static [(&'static str, DiffKind)],
        );
        let cases: &[BodyCase] = &[
            (
                "JSON compared structurally, not by bytes",
                (&[JSON], br#"{"a": 1, "b": [1, 2]}"#),
                (&[JSON], br#"{"b":[1,2.0],"a":1}"#),
                &[],
            ),
            (
                "+json types and parameters count as JSON",
                (
                    &[("content-type", "application/problem+json")],
                    br#"{"status": 404}"#,
                ),
                (
                    &[("content-type", "application/problem+json")],
                    br#"{"status":404.0}"#,
                ),
                &[],
            ),
            (
                "vendor +json with charset",
                (
                    &[("content-type", "Application/Vnd.Api+JSON; charset=utf-8")],
                    b"[1]",
                ),
                (
                    &[("content-type", "Application/Vnd.Api+JSON; charset=utf-8")],
                    b"[1.0]",
                ),
                &[],
            ),
            (
                "text/json is not JSON: bytes",
                (&[("content-type", "text/json")], b"1"),
                (&[("content-type", "text/json")], b"1.0"),
                &[("body", BodyBytes)],
            ),
            (
                "JSON on one side only: bytes (and the header differs)",
                (&[JSON], b"1"),
                (&[("content-type", "text/plain")], b"1"),
                &[("header:content-type", ValueChanged)],
            ),
            (
                "no content-type: bytes",
                (&[], b"{\"a\":1}"),
                (&[], b"{\"a\": 1}"),
                &[("body", BodyBytes)],
            ),
            (
                "JSON body that does not parse on one side",
                (&[JSON], br#"{"a":1}"#),
                (&[JSON], b"<html>oops</html>"),
                &[("body", TypeChanged)],
            ),
            (
                "empty body on one JSON side",
                (&[JSON], b""),
                (&[JSON], b"{}"),
                &[("body", TypeChanged)],
            ),
            (
                "JSON bodies that parse on neither side: bytes",
                (&[JSON], b"{oops"),
                (&[JSON], b"{oops!"),
                &[("body", BodyBytes)],
            ),
            (
                "empty JSON bodies on both sides are equal",
                (&[JSON], b""),
                (&[JSON], b""),
                &[],
            ),
            (
                "equal bytes",
                (&[("content-type", "text/plain")], b"hello"),
                (&[("content-type", "text/plain")], b"hello"),
                &[],
            ),
        ];
        for (name, (ph, pb), (sh, sb), expected) in cases {
            let got = compare(
                &answer(200, ph, pb),
                &answer(200, sh, sb),
                &CompareRules::default(),
                None,
            );
            assert_eq!(kinds(&got.differences), *expected, "{name}");
        }
    }

    #[test]
    fn byte_bodies_render_length_and_a_preview_near_the_difference() {
        let text = [("content-type", "text/plain")];
        let render = |a: &[u8], b: &[u8]| {
            let got = compare(
                &answer(200, &text, a),
                &answer(200, &text, b),
                &CompareRules::default(),
                None,
            );
            assert_eq!(got.outcome, Outcome::Mismatch);
            let d = &got.differences[0];
            assert_eq!((d.path.as_str(), d.kind), ("body", BodyBytes));
            (d.primary.clone().unwrap(), d.shadow.clone().unwrap())
        };
        assert_eq!(
            render(b"hello world", b"hello there"),
            (
                "11 bytes, first difference at byte 6: \"hello world\"".to_owned(),
                "11 bytes, first difference at byte 6: \"hello there\"".to_owned(),
            )
        );
        let long = |c: &str| format!("{}{c}{}", "a".repeat(100), "b".repeat(100));
        let (ours, theirs) = render(long("X").as_bytes(), long("Y").as_bytes());
        let window = |c: &str| {
            format!(
                "201 bytes, first difference at byte 100: …\"{}{c}{}\"…",
                "a".repeat(16),
                "b".repeat(31)
            )
        };
        assert_eq!((ours, theirs), (window("X"), window("Y")));
        assert_eq!(
            render(&[0xff, 0x00, 0x01], &[0xff, 0x00]),
            (
                "3 bytes, first difference at byte 2: 0xff0001".to_owned(),
                "2 bytes, first difference at byte 2: 0xff00".to_owned(),
            )
        );
        assert_eq!(
            render(b"", b"x"),
            (
                "0 bytes, first difference at byte 0".to_owned(),
                "1 bytes, first difference at byte 0: \"x\"".to_owned(),
            )
        );
    }

    #[test]
    fn a_body_that_is_json_on_one_side_renders_both_forms() {
        let ct = [("content-type", "application/json")];
        let got = compare(
            &answer(200, &ct, br#"{"a": 1}"#),
            &answer(200, &ct, b"<html>oops</html>"),
            &CompareRules::default(),
            None,
        );
        assert_eq!(got.outcome, Outcome::Mismatch);
        assert_eq!(
            got.differences,
            [Difference {
                path: "body".into(),
                kind: TypeChanged,
                primary: Some("{\"a\":1}".into()),
                shadow: Some("17 bytes: \"<html>oops</html>\"".into()),
            }]
        );
    }

    #[test]
    fn too_large_bodies_skip_the_comparison_and_never_match() {
        let small = builder().max_body_bytes(4).build().unwrap();
        let ok = answer(200, &[], b"same");
        let mut too_large = ok.clone();
        too_large.body = CapturedBody::TooLarge { limit: 4 };
        let mut other_status = too_large.clone();
        other_status.status = StatusCode::BAD_GATEWAY;
        let cases: &[(&str, &Captured, &Captured, &CompareRules, usize)] = &[
            ("shadow too large", &ok, &too_large, &small, 0),
            ("primary too large", &too_large, &ok, &small, 0),
            ("both too large", &too_large, &too_large, &small, 0),
            ("status still listed", &ok, &other_status, &small, 1),
            (
                "complete but over the rules' limit",
                &answer(200, &[], b"12345"),
                &answer(200, &[], b"12345"),
                &small,
                0,
            ),
        ];
        for (name, p, s, rules, listed) in cases {
            let got = compare(p, s, rules, None);
            assert_eq!(
                got.outcome,
                Outcome::Skipped(SkipReason::BodyTooLarge),
                "{name}"
            );
            assert_eq!(got.differences.len(), *listed, "{name}");
        }
        assert_eq!(
            compare(&ok, &ok, &small, None).outcome,
            Outcome::Match,
            "at the limit is fine"
        );
        assert_eq!(
            CapturedBody::from_bytes(Bytes::from_static(b"12345"), 4),
            CapturedBody::TooLarge { limit: 4 }
        );
        assert_eq!(
            CapturedBody::from_bytes(Bytes::from_static(b"1234"), 4),
            CapturedBody::Complete(Bytes::from_static(b"1234"))
        );
    }

    #[test]
    fn long_values_are_truncated_with_an_ellipsis() {
        let long = "é".repeat(500);
        let got = compare(
            &json(&json!({"s": long})),
            &json(&json!({"s": "short"})),
            &CompareRules::default(),
            None,
        );
        let primary = got.differences[0].primary.clone().unwrap();
        assert_eq!(primary.chars().count(), DEFAULT_MAX_VALUE_CHARS + 1);
        assert!(primary.starts_with("\"éé"));
        assert!(primary.ends_with("é…"));
        assert_eq!(got.differences[0].shadow.as_deref(), Some("\"short\""));

        let ten = builder().max_value_chars(10).build().unwrap();
        let big: Vec<u32> = (0..100_000).collect();
        let got = compare(
            &json(&json!({"a": big})),
            &json(&json!({"a": 1})),
            &ten,
            None,
        );
        assert_eq!(got.differences[0].primary.as_deref(), Some("[0,1,2,3,4…"));
        assert_eq!(got.differences[0].shadow.as_deref(), Some("1"));
        let exact = compare(
            &json(&json!({"a": "12345678"})),
            &json(&json!({"a": "x"})),
            &ten,
            None,
        );
        assert_eq!(
            exact.differences[0].primary.as_deref(),
            Some("\"12345678\""),
            "exactly at the cap is not cut"
        );
    }

    #[test]
    fn the_number_of_differences_is_capped_but_the_outcome_is_not() {
        let primary: Map<String, Value> =
            (0..150).map(|i| (format!("k{i:03}"), json!(i))).collect();
        let shadow: Map<String, Value> = (0..150)
            .map(|i| (format!("k{i:03}"), json!(i + 1)))
            .collect();
        let (primary, shadow) = (Value::Object(primary), Value::Object(shadow));

        let got = compare(
            &json(&primary),
            &json(&shadow),
            &CompareRules::default(),
            None,
        );
        assert_eq!(got.outcome, Outcome::Mismatch);
        assert_eq!(got.differences.len(), DEFAULT_MAX_DIFFERENCES);
        assert!(got.truncated);
        assert_eq!(got.differences[0].path, "/k000");
        assert_eq!(got.differences[99].path, "/k099");

        let ignored = builder().ignore("/*").max_differences(5).build().unwrap();
        let got = compare(&json(&primary), &json(&shadow), &ignored, None);
        assert_eq!(got.outcome, Outcome::IgnoredOnly);
        assert_eq!(got.ignored.len(), 5);
        assert!(got.differences.is_empty() && got.truncated);

        let few = compare(
            &json(&json!({"a": 1})),
            &json(&json!({"a": 2})),
            &builder().max_differences(1).build().unwrap(),
            None,
        );
        assert!(!few.truncated, "exactly at the cap is not truncated");
    }

    #[test]
    fn differences_are_in_path_order() {
        let got = compare(
            &answer(
                200,
                &[("content-type", "application/json"), ("etag", "1")],
                br#"{"z": 1, "items": [0,0,0,0,0,0,0,0,0,0,0,0], "a": {"b": 1}}"#,
            ),
            &answer(
                500,
                &[("content-type", "application/json")],
                br#"{"z": 2, "items": [0,0,1,0,0,0,0,0,0,0,1], "a": {"b": 2}}"#,
            ),
            &builder().compare_header("etag").build().unwrap(),
            None,
        );
        let paths: Vec<&str> = got.differences.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "status",
                "header:etag",
                "/a/b",
                "/items",
                "/items/2",
                "/items/10",
                "/z"
            ]
        );
        let again = compare(
            &answer(
                200,
                &[("content-type", "application/json"), ("etag", "1")],
                br#"{"a": {"b": 1}, "items": [0,0,0,0,0,0,0,0,0,0,0,0], "z": 1}"#,
            ),
            &answer(
                500,
                &[("content-type", "application/json")],
                br#"{"items": [0,0,1,0,0,0,0,0,0,0,1], "a": {"b": 2}, "z": 2}"#,
            ),
            &builder().compare_header("etag").build().unwrap(),
            None,
        );
        assert_eq!(got, again, "member order in the body does not matter");
    }

    #[test]
    fn noise_moves_differences_out_of_the_real_list() {
        let noise = noise_of(&["/items/*/id", "header:date", "status"]);
        let primary = answer(
            200,
            &[("content-type", "application/json"), ("date", "Mon")],
            br#"{"items": [{"id": "a", "n": 1}], "x": 1}"#,
        );
        let shadow = answer(
            201,
            &[("content-type", "application/json"), ("date", "Tue")],
            br#"{"items": [{"id": "b", "n": 1}], "x": 1}"#,
        );
        let rules = builder().compare_header("date").build().unwrap();
        let got = compare(&primary, &shadow, &rules, Some(&noise));
        assert_eq!(got.outcome, Outcome::IgnoredOnly);
        assert!(got.differences.is_empty());
        assert_eq!(
            kinds(&got.noise),
            [
                ("status", ValueChanged),
                ("header:date", ValueChanged),
                ("/items/0/id", ValueChanged)
            ]
        );
        let without = compare(&primary, &shadow, &rules, None);
        assert_eq!(without.outcome, Outcome::Mismatch);
        assert_eq!(without.differences.len(), 3);

        let both = rules_with_ignore_and_noise();
        let got = compare(&primary, &shadow, &both, Some(&noise));
        assert_eq!(
            kinds(&got.ignored),
            [("/items/0/id", ValueChanged)],
            "ignore wins"
        );
        assert_eq!(kinds(&got.noise), [("status", ValueChanged)]);
    }

    fn rules_with_ignore_and_noise() -> CompareRules {
        builder().ignore("/items").build().unwrap()
    }

    #[test]
    fn noise_applies_inside_unordered_arrays_and_to_whole_bodies() {
        let noise = noise_of(&["/items/*/id"]);
        let unordered = builder().array_order(ArrayOrder::Ignore).build().unwrap();
        let got = compare(
            &json(&json!({"items": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}]})),
            &json(&json!({"items": [{"id": 3, "n": "b"}, {"id": 4, "n": "a"}]})),
            &unordered,
            Some(&noise),
        );
        assert_eq!(got.outcome, Outcome::IgnoredOnly);
        assert_eq!(kinds(&got.noise), [("/items", ValueChanged)]);

        let whole = noise_of(&["body"]);
        let text = [("content-type", "text/plain")];
        let got = compare(
            &answer(200, &text, b"generated at 10:00"),
            &answer(200, &text, b"generated at 10:01"),
            &CompareRules::default(),
            Some(&whole),
        );
        assert_eq!(got.outcome, Outcome::IgnoredOnly);
        assert_eq!(kinds(&got.noise), [("body", BodyBytes)]);
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_compared_without_recursion() {
        fn nest(depth: usize, leaf: Value) -> Value {
            (0..depth).fold(leaf, |inner, _| json!({"k": inner}))
        }
        let rules = CompareRules::default();
        let mut engine = Engine::new(&rules, None, false);
        let (a, b) = (nest(300, json!(1)), nest(300, json!(1.0)));
        engine.walk(&a, &b, &mut Vec::new(), Bucket::Real, 0);
        assert_eq!(engine.counts, [0, 0, 0], "equal deep trees");

        let c = nest(300, json!(2));
        let mut engine = Engine::new(&rules, None, false);
        engine.walk(&a, &c, &mut Vec::new(), Bucket::Real, 0);
        let got = engine.finish(false);
        assert_eq!(got.outcome, Outcome::Mismatch);
        assert_eq!(got.differences.len(), 1);
        assert_eq!(got.differences[0].path, "/k".repeat(MAX_DEPTH));
        assert!(
            got.differences[0]
                .primary
                .as_deref()
                .unwrap()
                .ends_with('…')
        );

        let ignore_leaf = builder().ignore("/k".repeat(300)).build().unwrap();
        let mut engine = Engine::new(&ignore_leaf, None, false);
        engine.walk(&a, &c, &mut Vec::new(), Bucket::Real, 0);
        assert_eq!(engine.finish(false).outcome, Outcome::IgnoredOnly);

        // Through `compare`, bodies nested beyond serde_json's own limit do
        // not parse, so they are compared as bytes, without overflowing.
        let deep = |leaf: &str| format!("{}{leaf}{}", "[".repeat(50_000), "]".repeat(50_000));
        let got = compare(
            &answer(
                200,
                &[("content-type", "application/json")],
                deep("1").as_bytes(),
            ),
            &answer(
                200,
                &[("content-type", "application/json")],
                deep("2").as_bytes(),
            ),
            &CompareRules::default(),
            None,
        );
        assert_eq!(kinds(&got.differences), [("body", BodyBytes)]);
    }

    #[test]
    fn pairing_search_is_bounded() {
        let rules = builder()
            .array_order(ArrayOrder::Ignore)
            .allow_added_fields(true)
            .build()
            .unwrap();
        let primary: Vec<Value> = (0..200).map(|i| json!({"id": i})).collect();
        let shadow: Vec<Value> = (0..200).rev().map(|i| json!({"id": i, "x": 1})).collect();
        let got = compare(
            &json(&Value::Array(primary.clone())),
            &json(&Value::Array(shadow)),
            &rules,
            None,
        );
        assert_eq!(
            got.outcome,
            Outcome::Mismatch,
            "200 x 200 pairs exceed the budget: reported, never guessed equal"
        );
        let shadow: Vec<Value> = (0..100).rev().map(|i| json!({"id": i, "x": 1})).collect();
        let got = compare(
            &json(&Value::Array(primary[..100].to_vec())),
            &json(&Value::Array(shadow)),
            &rules,
            None,
        );
        assert_eq!(got.outcome, Outcome::Match, "100 x 100 pairs fit");
    }

    #[test]
    fn rules_are_validated() {
        let err = |builder: CompareRulesBuilder| builder.build().unwrap_err().to_string();
        assert_eq!(
            err(builder().ignore("items")),
            "ignore rule `items` must start with `/`"
        );
        assert!(err(builder().ignore("/ok").ignore("/a~x")).contains("bad escape at byte 2"));
        assert!(matches!(
            builder().ignore("").build(),
            Err(RulesError::Pointer(PointerError::Empty))
        ));
        assert_eq!(
            err(builder().compare_header("bad header")),
            "`bad header` is not a valid header name"
        );
        assert_eq!(
            err(builder().max_body_bytes(0)),
            "max_body_bytes must be greater than zero"
        );
        assert_eq!(
            err(builder().max_differences(0)),
            "max_differences must be greater than zero"
        );
        assert_eq!(
            err(builder().max_value_chars(0)),
            "max_value_chars must be greater than zero"
        );
        assert!(matches!(
            CompareRules::new(Vec::new(), Vec::new(), ArrayOrder::Strict, false, 0),
            Err(RulesError::ZeroLimit {
                setting: "max_body_bytes"
            })
        ));

        let built = builder()
            .ignore("/b")
            .ignore("/a")
            .ignore("/b")
            .compare_header(" ETag ")
            .compare_header("etag")
            .build()
            .unwrap();
        let ignore: Vec<String> = built.ignore().iter().map(ToString::to_string).collect();
        assert_eq!(ignore, ["/a", "/b"]);
        let headers: Vec<&str> = built
            .compare_headers()
            .iter()
            .map(HeaderName::as_str)
            .collect();
        assert_eq!(headers, ["content-type", "etag"]);

        let via_new = CompareRules::new(
            vec![CompareRules::parse_pointer("/items/*/id").unwrap()],
            vec![CONTENT_TYPE],
            ArrayOrder::Ignore,
            true,
            10,
        )
        .unwrap();
        assert_eq!(via_new.array_order(), ArrayOrder::Ignore);
        assert!(via_new.allow_added_fields());
        assert_eq!(via_new.max_body_bytes(), 10);
        assert_eq!(via_new.max_differences(), DEFAULT_MAX_DIFFERENCES);
        assert_eq!(via_new.max_value_chars(), DEFAULT_MAX_VALUE_CHARS);
        assert_eq!(
            CompareRules::builder().build().unwrap(),
            CompareRules::default()
        );
    }

    #[test]
    fn array_order_and_kinds_serialise_as_snake_case() {
        assert_eq!(
            serde_json::to_string(&ArrayOrder::Ignore).unwrap(),
            "\"ignore\""
        );
        assert_eq!(
            serde_json::from_str::<ArrayOrder>("\"strict\"").unwrap(),
            ArrayOrder::Strict
        );
        for kind in [
            ValueChanged,
            TypeChanged,
            Missing,
            Added,
            ArrayLength,
            BodyBytes,
        ] {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        let comparison = Comparison::not_compared(Outcome::Dropped(DropReason::Overloaded));
        let text = serde_json::to_string(&comparison).unwrap();
        assert!(
            text.contains("\"outcome\":\"dropped_overloaded\""),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<Comparison>(&text).unwrap(),
            comparison
        );
    }

    // ---- properties -------------------------------------------------------

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1.0e9..1.0e9f64).prop_map(Value::from),
            (-3i32..3).prop_map(|i| Value::from(f64::from(i))),
            "[a-c~/*é0-9\"\\\\]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("[a-c~/*0-9]{0,3}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_order() -> impl Strategy<Value = ArrayOrder> {
        prop_oneof![Just(ArrayOrder::Strict), Just(ArrayOrder::Ignore)]
    }

    #[derive(Debug, Clone)]
    enum Part {
        Key(String),
        Index(usize),
    }

    /// Every non-root path of `value`.
    fn all_paths(value: &Value) -> Vec<Vec<Part>> {
        let mut out = Vec::new();
        let mut todo = vec![(Vec::new(), value)];
        while let Some((path, node)) = todo.pop() {
            let children: Vec<(Part, &Value)> = match node {
                Value::Object(map) => map.iter().map(|(k, v)| (Part::Key(k.clone()), v)).collect(),
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (Part::Index(i), v))
                    .collect(),
                _ => Vec::new(),
            };
            for (part, child) in children {
                let mut child_path: Vec<Part> = path.clone();
                child_path.push(part);
                out.push(child_path.clone());
                todo.push((child_path, child));
            }
        }
        out
    }

    fn node_mut<'a>(value: &'a mut Value, path: &[Part]) -> &'a mut Value {
        path.iter().fold(value, |node, part| match part {
            Part::Key(k) => node.get_mut(k.as_str()).unwrap(),
            Part::Index(i) => node.get_mut(*i).unwrap(),
        })
    }

    /// The rule for `path`; array positions become `*` if `generalise`.
    fn rule_for(path: &[Part], generalise: bool) -> String {
        path.iter()
            .map(|part| match part {
                Part::Key(k) => format!("/{}", crate::pointer::escape(k)),
                Part::Index(_) if generalise => "/*".to_owned(),
                Part::Index(i) => format!("/{i}"),
            })
            .collect()
    }

    /// A document, a path in it, and the document with that node replaced.
    fn arb_edit() -> impl Strategy<Value = (Value, Vec<Part>, Value)> {
        (arb_json(), arb_json(), any::<prop::sample::Index>()).prop_map(|(x, replacement, pick)| {
            let original = json!({"a": x, "b": [1, {"c": 2}]});
            let paths = all_paths(&original);
            let path = paths[pick.index(paths.len())].clone();
            let mut edited = original.clone();
            *node_mut(&mut edited, &path) = replacement;
            (original, path, edited)
        })
    }

    fn arb_pair() -> impl Strategy<Value = (Value, Value)> {
        prop_oneof![
            (arb_json(), arb_json()),
            arb_edit().prop_map(|(x, _, y)| (x, y)),
            arb_json().prop_map(|x| (x.clone(), x)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn an_answer_always_matches_itself(
            x in arb_json(),
            order in arb_order(),
            allow in any::<bool>(),
        ) {
            let rules = builder().array_order(order).allow_added_fields(allow).build().unwrap();
            let compact = json(&x);
            let mut pretty = compact.clone();
            pretty.body = CapturedBody::Complete(serde_json::to_vec_pretty(&x).unwrap().into());
            let got = compare(&compact, &pretty, &rules, None);
            prop_assert_eq!(got.outcome, Outcome::Match, "{:?}", got);
        }

        #[test]
        fn whether_anything_differs_is_symmetric((x, y) in arb_pair(), order in arb_order()) {
            let rules = builder().array_order(order).build().unwrap();
            let there = compare(&json(&x), &json(&y), &rules, None);
            let back = compare(&json(&y), &json(&x), &rules, None);
            prop_assert_eq!(
                there.outcome == Outcome::Match,
                back.outcome == Outcome::Match,
                "{:?} / {:?}", there, back
            );
            prop_assert_eq!(there.differences.len(), back.differences.len());
        }

        #[test]
        fn a_difference_at_an_ignored_path_is_never_a_mismatch(
            (original, path, edited) in arb_edit(),
            order in arb_order(),
            allow in any::<bool>(),
            generalise in any::<bool>(),
        ) {
            // Unordered items have no position: only `*` reaches into them.
            let generalise = generalise || order == ArrayOrder::Ignore;
            let rule = rule_for(&path, generalise);
            let rules = builder()
                .array_order(order)
                .allow_added_fields(allow)
                .ignore(rule.clone())
                .build()
                .unwrap();
            let got = compare(&json(&original), &json(&edited), &rules, None);
            prop_assert_ne!(got.outcome, Outcome::Mismatch, "rule {}: {:?}", rule, got);
            prop_assert!(got.noise.is_empty());

            let mut noise = NoiseSet::new();
            noise.insert(&rule_for(&path, true)).unwrap();
            let plain = builder().array_order(order).allow_added_fields(allow).build().unwrap();
            let got = compare(&json(&original), &json(&edited), &plain, Some(&noise));
            prop_assert_ne!(got.outcome, Outcome::Mismatch, "noise {}: {:?}", rule, got);
        }

        #[test]
        fn equivalence_agrees_with_the_walk(
            (x, y) in arb_pair(),
            order in arb_order(),
            allow in any::<bool>(),
        ) {
            let rules = builder().array_order(order).allow_added_fields(allow).build().unwrap();
            let mut engine = Engine::new(&rules, None, false);
            let equivalent = engine.equivalent(&x, &y, &mut Vec::new(), Level::Exact, 0);
            engine.walk(&x, &y, &mut Vec::new(), Bucket::Real, 0);
            prop_assert_eq!(equivalent, engine.counts == [0, 0, 0], "{:?}", engine.lists);
        }

        #[test]
        fn an_edit_is_found_unless_it_changes_nothing(
            (original, _path, edited) in arb_edit(),
            order in arb_order(),
        ) {
            let rules = builder().array_order(order).build().unwrap();
            let got = compare(&json(&original), &json(&edited), &rules, None);
            let same_text = serde_json::to_string(&original).unwrap()
                == serde_json::to_string(&edited).unwrap();
            if same_text {
                prop_assert_eq!(got.outcome, Outcome::Match);
            } else if order == ArrayOrder::Strict && got.outcome == Outcome::Match {
                // Only numeric normalisation may make different texts equal.
                let normalised = |v: &Value| {
                    let rules = CompareRules::default();
                    Engine::new(&rules, None, false).canonical(v, &[], Level::Exact)
                };
                prop_assert_eq!(normalised(&original), normalised(&edited));
            }
        }
    }
}
