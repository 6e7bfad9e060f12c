//! JSON text without recursion: the canonical form used to compare
//! subtrees as strings (unordered arrays, nesting beyond the depth limit) and
//! the truncated rendering of values shown in differences.
//!
//! Both are written with an explicit stack, so no nesting depth can overflow
//! the thread's stack.

use serde_json::{Number, Value};

use crate::format::Formats;
use crate::pointer::{IgnoreRule, Step};

/// Appended to values that were cut short.
pub(crate) const ELLIPSIS: char = '…';

/// Numbers by value: `1 == 1.0`, exact for integers beyond 2^53.
pub(crate) fn numbers_equal(a: &Number, b: &Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    number_key(a) == number_key(b)
}

/// A number's canonical text: integral values as exact integers (so `1.0`
/// and `1` agree), others as the shortest round-trip float.
pub(crate) fn number_key(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    if let Some(f) = n.as_f64()
        && f.fract() == 0.0
        && f.abs() < 1e38
    {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "integral and below 1e38 < i128::MAX, so the cast is exact"
        )]
        let i = f as i128;
        return i.to_string();
    }
    n.to_string()
}

/// At most `max` characters of `text`, then `…` if anything was cut.
pub(crate) fn truncate_chars(mut text: String, max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
        text.push(ELLIPSIS);
    }
    text
}

/// Compact JSON of a value as sent (members sorted by name), stopping early
/// once more than `max_chars` characters are certain.
pub(crate) fn render(value: &Value, max_chars: usize) -> String {
    write_json(
        value,
        &[],
        &WriteOptions {
            strip: &[],
            canonical: false,
            formats: None,
            sort_arrays: false,
            byte_limit: max_chars.saturating_mul(4).saturating_add(4),
        },
    )
}

/// How [`write_json`] writes: which paths to leave out, canonical or as sent.
pub(crate) struct WriteOptions<'a, 'r> {
    /// Paths left out: object members are dropped, array items become `?`
    /// (never valid JSON, so no collision with a real item).
    pub(crate) strip: &'a [&'r IgnoreRule],
    /// Normalise numbers (see [`number_key`]).
    pub(crate) canonical: bool,
    /// With `canonical`, write strings these formats read as values as
    /// those values ([`Formats::canonical_string`]).
    pub(crate) formats: Option<&'a Formats>,
    /// Sort array items by their text (unordered arrays); items then have
    /// no position, so their step is [`Step::AnyIndex`].
    pub(crate) sort_arrays: bool,
    /// Stop writing once the output is longer than this many bytes.
    pub(crate) byte_limit: usize,
}

enum Frame<'v> {
    Object {
        entries: Vec<(&'v str, &'v Value)>,
        next: usize,
        child_open: bool,
    },
    Array {
        items: &'v [Value],
        next: usize,
        /// Output start of the item being written.
        child_start: Option<usize>,
        /// Output ranges of the items written so far.
        parts: Vec<(usize, usize)>,
    },
}

/// Writes JSON without recursion: an explicit stack of frames, so nesting
/// depth cannot overflow the thread's stack.
pub(crate) fn write_json<'v>(
    root: &'v Value,
    base: &[Step<'v>],
    options: &WriteOptions<'_, '_>,
) -> String {
    let mut out = String::new();
    let mut path: Vec<Step<'v>> = base.to_vec();
    let mut stack: Vec<Frame<'v>> = Vec::new();
    let mut pending = Some(root);
    let stripped = |path: &[Step<'_>]| options.strip.iter().any(|r| r.matches_exactly(path));
    loop {
        if out.len() > options.byte_limit {
            return out;
        }
        if let Some(node) = pending.take() {
            match node {
                Value::Object(map) => {
                    let mut entries: Vec<(&str, &Value)> =
                        map.iter().map(|(k, v)| (k.as_str(), v)).collect();
                    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                    out.push('{');
                    stack.push(Frame::Object {
                        entries,
                        next: 0,
                        child_open: false,
                    });
                }
                Value::Array(items) => {
                    out.push('[');
                    stack.push(Frame::Array {
                        items,
                        next: 0,
                        child_start: None,
                        parts: Vec::new(),
                    });
                }
                scalar => write_scalar(&mut out, scalar, options),
            }
        }
        // Close finished frames until one has another child to write.
        loop {
            let Some(frame) = stack.last_mut() else {
                return out;
            };
            let finished = match frame {
                Frame::Object {
                    entries,
                    next,
                    child_open,
                } => {
                    if *child_open {
                        path.pop();
                        *child_open = false;
                    }
                    let mut chosen = None;
                    while let Some(&(key, value)) = entries.get(*next) {
                        *next += 1;
                        path.push(Step::Key(key));
                        if stripped(&path) {
                            path.pop();
                        } else {
                            chosen = Some((key, value));
                            break;
                        }
                    }
                    match chosen {
                        Some((key, value)) => {
                            // Only an object's opening brace ends with `{`:
                            // no written value does.
                            if !out.ends_with('{') {
                                out.push(',');
                            }
                            write_json_str(&mut out, key);
                            out.push(':');
                            *child_open = true;
                            pending = Some(value);
                            false
                        }
                        None => {
                            out.push('}');
                            true
                        }
                    }
                }
                Frame::Array {
                    items,
                    next,
                    child_start,
                    parts,
                } => {
                    if let Some(start) = child_start.take() {
                        path.pop();
                        parts.push((start, out.len()));
                    }
                    let mut chosen = None;
                    while let Some(item) = items.get(*next) {
                        let i = *next;
                        *next += 1;
                        if i > 0 {
                            out.push(',');
                        }
                        path.push(if options.sort_arrays {
                            Step::AnyIndex
                        } else {
                            Step::Index(i)
                        });
                        if stripped(&path) {
                            path.pop();
                            let start = out.len();
                            out.push('?');
                            parts.push((start, out.len()));
                        } else {
                            *child_start = Some(out.len());
                            chosen = Some(item);
                            break;
                        }
                    }
                    match chosen {
                        Some(item) => {
                            pending = Some(item);
                            false
                        }
                        None => {
                            if options.sort_arrays && parts.len() > 1 {
                                let mut texts: Vec<String> =
                                    parts.iter().map(|&(a, b)| out[a..b].to_owned()).collect();
                                texts.sort_unstable();
                                out.truncate(parts[0].0);
                                out.push_str(&texts.join(","));
                            }
                            out.push(']');
                            true
                        }
                    }
                }
            };
            if finished {
                stack.pop();
            } else {
                break;
            }
        }
    }
}

fn write_scalar(out: &mut String, value: &Value, options: &WriteOptions<'_, '_>) {
    let canonical = options.canonical;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) if canonical => out.push_str(&number_key(n)),
        Value::String(s)
            if let Some(text) = options
                .formats
                .filter(|_| canonical)
                .and_then(|f| f.canonical_string(s)) =>
        {
            out.push_str(&text);
        }
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_json_str(out, s),
        Value::Array(_) | Value::Object(_) => {}
    }
}

pub(crate) fn write_json_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let b = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0x0f]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn canonical(value: &Value, strip: &[&IgnoreRule], sort_arrays: bool) -> String {
        write_json(
            value,
            &[],
            &WriteOptions {
                strip,
                canonical: true,
                formats: None,
                sort_arrays,
                byte_limit: usize::MAX,
            },
        )
    }

    #[test]
    fn canonical_form_sorts_members_and_normalises_numbers() {
        let value: Value = serde_json::from_str(
            r#"{"b": [2.0, 1e0, -0.0, 0.5, 1e300], "a": {"y": null, "x": "é\n\u0001"}}"#,
        )
        .unwrap();
        assert_eq!(
            canonical(&value, &[], false),
            r#"{"a":{"x":"é\n\u0001","y":null},"b":[2,1,0,0.5,1e+300]}"#
        );
        assert_eq!(
            canonical(&json!([[3, 1], [2], [1, 3]]), &[], true),
            "[[1,3],[1,3],[2]]",
            "nested arrays are sorted before their parent"
        );
    }

    #[test]
    fn stripped_paths_are_left_out() {
        let id = IgnoreRule::parse("/items/*/id").unwrap();
        let whole = IgnoreRule::parse("/items/*").unwrap();
        let value = json!({"items": [{"id": 2, "n": "b"}, {"id": 1, "n": "a"}]});
        assert_eq!(
            canonical(&value, &[&id], true),
            r#"{"items":[{"n":"a"},{"n":"b"}]}"#
        );
        assert_eq!(canonical(&value, &[&whole], false), r#"{"items":[?,?]}"#);
    }

    #[test]
    fn numbers_compare_by_value() {
        let n = |text: &str| serde_json::from_str::<Number>(text).unwrap();
        let equal = [
            ("1", "1.0"),
            ("100", "1e2"),
            ("0", "-0.0"),
            ("-7", "-7.0"),
            ("0.5", "5e-1"),
        ];
        for (a, b) in equal {
            assert!(numbers_equal(&n(a), &n(b)), "{a} == {b}");
            assert!(numbers_equal(&n(b), &n(a)), "{b} == {a}");
        }
        let different = [
            ("1", "1.5"),
            ("9007199254740993", "9007199254740992.0"),
            ("18446744073709551615", "-1"),
            ("1e300", "1e301"),
        ];
        for (a, b) in different {
            assert!(!numbers_equal(&n(a), &n(b)), "{a} != {b}");
        }
    }

    #[test]
    fn rendering_stops_early_and_truncates_by_characters() {
        let big = Value::Array((0..1_000_000).map(Value::from).collect());
        let text = render(&big, 12);
        assert!(text.len() < 100, "stopped early: {} bytes", text.len());
        assert_eq!(truncate_chars(text, 12), "[0,1,2,3,4,5…");
        assert_eq!(truncate_chars("ééé".to_owned(), 2), "éé…");
        assert_eq!(truncate_chars("ééé".to_owned(), 3), "ééé");
        assert_eq!(
            render(&json!({"b": 1.0, "a": "x"}), 100),
            r#"{"a":"x","b":1.0}"#
        );
    }

    #[test]
    fn writing_is_not_recursive() {
        let mut deep = json!(1);
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        let text = canonical(&deep, &[], true);
        assert_eq!(text.len(), 200_001);
        // Dropping a `Value` is recursive; take it apart by hand.
        let mut node = deep;
        while let Value::Array(mut items) = node {
            node = items.pop().unwrap_or(Value::Null);
        }
    }
}
