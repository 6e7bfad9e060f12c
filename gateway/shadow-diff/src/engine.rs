//! The comparison engine: [`compare`] walks two answers under the rules
//! (status, the listed headers, then the body, JSON structurally or as
//! bytes) and sorts each difference into real, ignored or noise;
//! [`detect_noise`] runs the same walk in learning mode over two answers of
//! the primary. The rules are in the crate docs.

use std::cell::Cell;
use std::cmp::Ordering;
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
/// `allow_added_fields` forces a search for a pairing (see the crate docs).
pub const PAIRING_BUDGET: usize = 10_000;

/// Compares the primary's answer with the shadow's under `rules`; `noise`
/// (from [`detect_noise`]) moves matching differences into
/// [`Comparison::noise`]. Pure and deterministic. See the crate docs for the
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
    /// A difference of form only, where it would otherwise be real.
    Format = 3,
}

impl Bucket {
    /// The bucket of a difference of form only at a node in `self`: ignore
    /// rules and noise keep it, otherwise it is filed apart from real ones.
    fn of_format(self) -> Bucket {
        match self {
            Bucket::Real => Bucket::Format,
            other => other,
        }
    }
}

/// Which paths an equivalence check disregards, and whether it sees
/// through differences of form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// None, and values as written.
    Strict,
    /// None; values that agree under the rules' formats are equal.
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
    lists: [Vec<Difference>; 4],
    counts: [usize; 4],
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
            lists: [Vec::new(), Vec::new(), Vec::new(), Vec::new()],
            counts: [0; 4],
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
        let [real, ignored, noise, format] = self.counts;
        let outcome = if body_skipped {
            Outcome::Skipped(SkipReason::BodyTooLarge)
        } else if real > 0 {
            Outcome::Mismatch
        } else if ignored + noise > 0 {
            Outcome::IgnoredOnly
        } else if format > 0 {
            Outcome::FormatOnly
        } else {
            Outcome::Match
        };
        let [differences, ignored, noise, formats] = self.lists;
        Comparison {
            outcome,
            differences,
            ignored,
            noise,
            formats,
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
            _ if p == s => {}
            _ if self.rules.formats().agree(p, s) => {
                self.record_values(bucket.of_format(), path, DiffKind::FormatChanged, p, s);
            }
            _ if same_type(p, s) => self.record_values(bucket, path, DiffKind::ValueChanged, p, s),
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
        // Both maps iterate in key order (serde_json's `Map` is a
        // `BTreeMap`; a test holds it to that), so one pass over both
        // visits the union of their keys in order, without a lookup.
        let (mut ours, mut theirs) = (pm.iter().peekable(), sm.iter().peekable());
        loop {
            let order = match (ours.peek(), theirs.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((pk, _)), Some((sk, _))) => pk.cmp(sk),
            };
            let (key, pv, sv) = match order {
                Ordering::Less => match ours.next() {
                    Some((key, pv)) => (key, Some(pv), None),
                    None => break,
                },
                Ordering::Greater => match theirs.next() {
                    Some((key, sv)) => (key, None, Some(sv)),
                    None => break,
                },
                Ordering::Equal => match (ours.next(), theirs.next()) {
                    (Some((key, pv)), Some((_, sv))) => (key, Some(pv), Some(sv)),
                    _ => break,
                },
            };
            path.push(Step::Key(key.as_str()));
            match (pv, sv) {
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
    /// bucket that explains it: if seeing through differences of form makes
    /// both sides equivalent it is a difference of form, else if stripping
    /// ignored paths does it is ignored, else if stripping noise too does,
    /// it is noise.
    fn settle<'v>(
        &mut self,
        p: &'v Value,
        s: &'v Value,
        path: &mut Vec<Step<'v>>,
        bucket: Bucket,
        depth: usize,
        kind: DiffKind,
    ) {
        if self.equivalent(p, s, path, Level::Strict, depth) {
            return;
        }
        if self.rules.formats().any() && self.equivalent(p, s, path, Level::Exact, depth) {
            let bucket = bucket.of_format();
            self.record_values(bucket, path, DiffKind::FormatChanged, p, s);
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
            other => other,
        };
        self.record_values(bucket, path, kind, p, s);
    }

    fn strip(&self, level: Level) -> &[&'r IgnoreRule] {
        match level {
            Level::Strict | Level::Exact => &[],
            Level::Ignore => &self.ignore_only,
            Level::IgnoreAndNoise => &self.ignore_and_noise,
        }
    }

    fn stripped(&self, path: &[Step<'_>], level: Level) -> bool {
        self.strip(level).iter().any(|r| r.matches_exactly(path))
    }

    /// Whether two subtrees are equal under the rules, disregarding the paths
    /// `level` strips. Agrees with `walk` finding no difference at `Strict`,
    /// and no difference but of form at `Exact`.
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
            _ => p == s || (level != Level::Strict && self.rules.formats().agree(p, s)),
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
    /// normalised (`1.0` as `1`), values that differ in form only written
    /// alike (but at `Strict`), unordered arrays sorted, stripped paths left
    /// out. Iterative, so any depth is safe.
    fn canonical(&self, value: &Value, path: &[Step<'_>], level: Level) -> String {
        write_json(
            value,
            path,
            &WriteOptions {
                strip: self.strip(level),
                canonical: true,
                formats: (level != Level::Strict).then(|| self.rules.formats()),
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
    let essence = text.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.split_once('/').is_some_and(|(kind, sub)| {
            !kind.is_empty()
                && sub.len() > 5
                && sub
                    .get(sub.len() - 5..)
                    .is_some_and(|end| end.eq_ignore_ascii_case("+json"))
        })
}
#[cfg(test)]
mod tests;
