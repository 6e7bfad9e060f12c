//! A JSON body pretty-printed as HTML, the members and items at given
//! JSON Pointers wrapped in `<mark>`.

use std::collections::HashMap;
use std::fmt::Write as _;

use maud::{Escaper, Render};
use serde_json::Value;

/// Why a pointer is marked: it differs, or its difference is ignored or noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkKind {
    /// A real difference.
    Differs,
    /// Covered by an ignore rule.
    Ignored,
    /// Explained by learned noise.
    Noise,
}

impl MarkKind {
    fn class(self) -> &'static str {
        match self {
            Self::Differs => "differs",
            Self::Ignored => "ignored",
            Self::Noise => "noise",
        }
    }
}

/// JSON Pointer → why it is marked. `""` marks the whole body.
pub(crate) type Marks = HashMap<String, MarkKind>;

/// A JSON value rendered for a `<pre>`, two spaces per level.
pub(crate) struct Highlighted<'a> {
    /// The value.
    pub(crate) value: &'a Value,
    /// What to mark.
    pub(crate) marks: &'a Marks,
}

impl Render for Highlighted<'_> {
    fn render_to(&self, buffer: &mut String) {
        let mut pointer = String::new();
        write_value(self.value, &mut pointer, 0, self.marks, true, buffer);
    }
}

/// A pointer segment: `~` as `~0`, `/` as `~1` (RFC 6901).
fn escape_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn open_mark(kind: MarkKind, pointer: &str, out: &mut String) {
    out.push_str("<mark class=\"");
    out.push_str(kind.class());
    out.push_str("\" data-pointer=\"");
    let _ = Escaper::new(out).write_str(pointer);
    out.push_str("\">");
}

fn text(value: &str, out: &mut String) {
    let _ = Escaper::new(out).write_str(value);
}

/// Writes `value` at `pointer`, `depth` levels in, marked if `marks` says
/// so and `own_mark` (a member's mark already covers its value). serde_json
/// parses at most 128 levels, which bounds the recursion.
fn write_value(
    value: &Value,
    pointer: &mut String,
    depth: usize,
    marks: &Marks,
    own_mark: bool,
    out: &mut String,
) {
    let mark = own_mark
        .then(|| marks.get(pointer.as_str()).copied())
        .flatten();
    if let Some(kind) = mark {
        open_mark(kind, pointer, out);
    }
    let indent = |out: &mut String, depth: usize| {
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    match value {
        Value::Object(members) if !members.is_empty() => {
            out.push_str("{\n");
            let last = members.len() - 1;
            for (n, (key, member)) in members.iter().enumerate() {
                let length = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_segment(key));
                indent(out, depth + 1);
                let member_mark = marks.get(pointer.as_str()).copied();
                if let Some(kind) = member_mark {
                    // The member's name is part of what is marked.
                    open_mark(kind, pointer, out);
                }
                text(&Value::String(key.clone()).to_string(), out);
                out.push_str(": ");
                write_value(
                    member,
                    pointer,
                    depth + 1,
                    marks,
                    member_mark.is_none(),
                    out,
                );
                if member_mark.is_some() {
                    out.push_str("</mark>");
                }
                if n != last {
                    out.push(',');
                }
                out.push('\n');
                pointer.truncate(length);
            }
            indent(out, depth);
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            let last = items.len() - 1;
            for (n, item) in items.iter().enumerate() {
                let length = pointer.len();
                let _ = write!(pointer, "/{n}");
                indent(out, depth + 1);
                write_value(item, pointer, depth + 1, marks, true, out);
                if n != last {
                    out.push(',');
                }
                out.push('\n');
                pointer.truncate(length);
            }
            indent(out, depth);
            out.push(']');
        }
        scalar => text(&scalar.to_string(), out),
    }
    if mark.is_some() {
        out.push_str("</mark>");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(value: &Value, marks: &[(&str, MarkKind)]) -> String {
        let marks: Marks = marks.iter().map(|(p, k)| ((*p).to_owned(), *k)).collect();
        Highlighted {
            value,
            marks: &marks,
        }
        .render()
        .into_string()
        // Quotes in text are escaped too; read them back for legible expectations.
        .replace("&quot;", "\"")
    }

    #[test]
    fn values_are_pretty_printed_and_escaped() {
        let html = render(&json!({"a": [1, "<b>"], "e": {}}), &[]);
        assert_eq!(
            html,
            "{\n  \"a\": [\n    1,\n    \"&lt;b&gt;\"\n  ],\n  \"e\": {}\n}"
        );
    }

    #[test]
    fn marked_members_and_items_are_wrapped_with_their_pointer() {
        let value = json!({"name": "Ada", "a/b": 1, "items": [{"id": 7}]});
        let html = render(
            &value,
            &[
                ("/name", MarkKind::Differs),
                ("/a~1b", MarkKind::Noise),
                ("/items/0/id", MarkKind::Ignored),
            ],
        );
        assert!(
            html.contains(r#"<mark class="differs" data-pointer="/name">"name": "Ada"</mark>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<mark class="noise" data-pointer="/a~1b">"a/b": 1</mark>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<mark class="ignored" data-pointer="/items/0/id">"id": 7</mark>"#),
            "{html}"
        );
        assert_eq!(html.matches("<mark").count(), 3, "{html}");
    }

    #[test]
    fn the_whole_body_can_be_marked() {
        let html = render(&json!([1]), &[("", MarkKind::Differs)]);
        assert!(
            html.starts_with(r#"<mark class="differs" data-pointer="">["#),
            "{html}"
        );
        assert!(html.ends_with("]</mark>"), "{html}");
    }
}
