//! Each format's schema, as served, accepts exactly what its parse accepts.

use std::sync::LazyLock;

use proptest::prelude::*;
use regex::Regex;
use utoipa::OpenApi;

use crate::api::openapi::ApiDoc;
use crate::domain::{Email, FullName, UserId};

/// A string schema of the served document: its `pattern` and `maxLength`.
struct Rule {
    pattern: Regex,
    max_chars: Option<usize>,
}

impl Rule {
    /// The schema `name` of `components.schemas`.
    fn of(name: &str) -> Self {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("the document is JSON");
        let schema = &doc["components"]["schemas"][name];
        let pattern = schema["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no pattern: {schema}"));
        Self {
            pattern: Regex::new(pattern)
                .unwrap_or_else(|e| panic!("{name}'s pattern is not a regex: {e}")),
            max_chars: schema["maxLength"]
                .as_u64()
                .map(|n| usize::try_from(n).expect("a small maxLength")),
        }
    }

    /// The pattern without its `^…$`, for proptest to generate from.
    fn unanchored(&self) -> &str {
        let pattern = self.pattern.as_str();
        pattern
            .strip_prefix('^')
            .and_then(|p| p.strip_suffix('$'))
            .unwrap_or_else(|| panic!("{pattern} is not anchored: it would match inside a value"))
    }

    /// Strings that match the pattern (of any length).
    fn generated(&self) -> impl Strategy<Value = String> {
        proptest::string::string_regex(self.unanchored()).expect("proptest reads the pattern")
    }

    fn accepts(&self, value: &str) -> bool {
        self.pattern.is_match(value)
            && self
                .max_chars
                .is_none_or(|max| value.chars().count() <= max)
    }
}

static EMAIL: LazyLock<Rule> = LazyLock::new(|| Rule::of("Email"));
static FULL_NAME: LazyLock<Rule> = LazyLock::new(|| Rule::of("FullName"));
static USER_ID: LazyLock<Rule> = LazyLock::new(|| Rule::of("UserId"));

fn email_parses(raw: &str) -> bool {
    Email::parse(raw).is_ok()
}

fn full_name_parses(raw: &str) -> bool {
    FullName::parse(raw).is_ok()
}

fn user_id_parses(raw: &str) -> bool {
    UserId::parse_hyphenated(raw).is_some()
}

fn assert_agree(rule: &Rule, parses: fn(&str) -> bool, value: &str) {
    assert_eq!(
        rule.accepts(value),
        parses(value),
        "schema and parse disagree on {value:?} (true = accepted)"
    );
}

/// Strings made of `pieces`: the characters and fragments where the rules have edges.
fn made_of(pieces: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(pieces), 0..max).prop_map(|parts| parts.concat())
}

/// Whitespace and control characters that `trim` does and does not remove, and non-ASCII.
const EDGES: &[&str] = &[
    " ",
    "\t",
    "\n",
    "\r",
    "\u{b}",
    "\u{c}",
    "\u{85}",
    "\u{a0}",
    "\u{1680}",
    "\u{2000}",
    "\u{200a}",
    "\u{200b}",
    "\u{2028}",
    "\u{202f}",
    "\u{3000}",
    "\u{feff}",
    "\0",
    "\u{1f}",
    "\u{7f}",
    "\u{9f}",
    "é",
    "ü",
    "✓",
    "\u{10ffff}",
];

const EMAIL_PIECES: &[&str] = &[
    "a", "Z", "0", "9", "-", ".", "@", "_", "+", "!", "'", "`", "{", "|", "~", "\"", "(", ",", "[",
    "]", "<", ">", ":", ";", "\\", "xn--", "com", "-com", "com-", " ", "\t", "\n", "\u{85}",
    "\u{a0}", "\u{3000}", "\u{feff}", "é", "\0",
];

const USER_ID_PIECES: &[&str] = &[
    "0",
    "9",
    "a",
    "f",
    "A",
    "F",
    "g",
    "-",
    "{",
    "}",
    "urn:uuid:",
    " ",
    "\n",
    "0195f1c4",
    "6c2b",
    "7d4e",
    "9a3b",
    "5f6e7d8c9b0a",
];

#[test]
fn email_schema_and_parse_agree_on_the_edges() {
    let rule = &*EMAIL;
    let long_local = format!("{}@example.com", "a".repeat(242));
    let padded = format!(" {long_local}");
    let long_label = format!("a@{}.com", "b".repeat(64));
    let longest_label = format!("a@{}.com", "b".repeat(63));
    for value in [
        "ada@example.com",
        "  Ada.Lovelace@Example.COM \n",
        "\u{3000}a@b.co\u{85}",
        "\u{feff}a@b.co",
        "\u{200b}a@b.co",
        "a@b",
        "a@b.1",
        "a@1.b",
        "a@127.0.0.1",
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "a@-b.com",
        "a@b-.com",
        "a@b.com-",
        "a@b.c-m",
        "a@b..com",
        "a@b.com.",
        "\"a\"@b.com",
        "Bob <bob@example.com>",
        "x@[127.0.0.1]",
        "jos\u{e9}@example.com",
        "a@example.com\n\n",
        "a@example.com\0",
        "",
        " ",
        long_local.as_str(),
        padded.as_str(),
        long_label.as_str(),
        longest_label.as_str(),
    ] {
        assert_agree(rule, email_parses, value);
    }
    assert!(
        rule.accepts("ada@example.com"),
        "the pattern is not vacuous"
    );
}

#[test]
fn full_name_schema_and_parse_agree_on_the_edges() {
    let rule = &*FULL_NAME;
    let longest = "é".repeat(200);
    let too_long = "é".repeat(201);
    let padded = format!(" {longest}");
    for value in [
        "Ada Lovelace",
        "  Ada  Lovelace-Byron ✓ ",
        "A",
        " A ",
        "\u{3000}A\u{85}",
        "\u{feff}",
        "\u{200b}",
        "\u{a0}",
        "A\nB",
        "A\tB",
        "\tA\t",
        "A\u{7f}",
        "A\u{9f}B",
        "A\u{2028}B",
        "",
        "   ",
        longest.as_str(),
        too_long.as_str(),
        padded.as_str(),
    ] {
        assert_agree(rule, full_name_parses, value);
    }
    assert!(rule.accepts("Ada Lovelace"), "the pattern is not vacuous");
}

#[test]
fn user_id_schema_and_parse_agree_on_the_edges() {
    let rule = &*USER_ID;
    for value in [
        "0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a",
        "0195F1C4-6C2B-7D4E-9A3B-5F6E7D8C9B0A",
        "0195f1c46c2b7d4e9a3b5f6e7d8c9b0a",
        "{0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a}",
        "urn:uuid:0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a",
        "0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a\n",
        "0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0g",
        "0195f1c4-6c2b-7d4e-9a3b5-f6e7d8c9b0a",
        "",
    ] {
        assert_agree(rule, user_id_parses, value);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn email_schema_and_parse_agree(
        value in prop_oneof![
            any::<String>(),
            made_of(EMAIL_PIECES, 40),
            made_of(EDGES, 6).prop_flat_map(|edge| {
                made_of(EMAIL_PIECES, 30).prop_map(move |core| format!("{edge}{core}{edge}"))
            }),
            "[a-z]{1,250}@[a-z]{1,3}\\.[a-z]{2,3}",
            EMAIL.generated(),
        ]
    ) {
        let rule = &*EMAIL;
        prop_assert_eq!(rule.accepts(&value), email_parses(&value), "{:?}", value);
    }

    #[test]
    fn full_name_schema_and_parse_agree(
        value in prop_oneof![
            any::<String>(),
            made_of(EDGES, 12),
            (made_of(EDGES, 4), "[^\\x00-\\x1f]{0,210}", made_of(EDGES, 4))
                .prop_map(|(before, core, after)| format!("{before}{core}{after}")),
            FULL_NAME.generated(),
        ]
    ) {
        let rule = &*FULL_NAME;
        prop_assert_eq!(rule.accepts(&value), full_name_parses(&value), "{:?}", value);
    }

    #[test]
    fn user_id_schema_and_parse_agree(
        value in prop_oneof![any::<String>(), made_of(USER_ID_PIECES, 12), "[0-9a-fA-F-]{30,40}"]
    ) {
        let rule = &*USER_ID;
        prop_assert_eq!(rule.accepts(&value), user_id_parses(&value), "{:?}", value);
    }
}
