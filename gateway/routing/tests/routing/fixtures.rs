//! The routes.toml texts and parse helpers the tests share.

use std::path::Path;

use gateway_routing::{RouteTable, RouteTableError};

/// The file name problems are reported against.
pub(crate) const FILE: &str = "routes.toml";

/// `[legacy]` with only a URL: the head of every [`Routes`] text (lines 1–2).
const LEGACY: &str = "[legacy]\nurl = \"http://l\"\n";

/// Parses `source`, panicking with its problems if it is not a valid table.
pub(crate) fn parse(source: &str) -> RouteTable {
    RouteTable::parse(source, Path::new(FILE)).unwrap_or_else(|err| panic!("{err}"))
}

/// The problems of an invalid file, as `line:column: message`.
pub(crate) fn problems(source: &str) -> Vec<String> {
    match RouteTable::parse(source, Path::new(FILE)) {
        Err(RouteTableError::Invalid { file, problems }) => {
            assert_eq!(file, Path::new(FILE));
            problems.iter().map(ToString::to_string).collect()
        }
        other => panic!("expected an invalid table, got {other:?}"),
    }
}

/// Asserts each `(source, expected)`: the problems of `source` are the lines of `expected`.
pub(crate) fn assert_problems<S: AsRef<str>>(cases: &[(S, &str)]) {
    for (source, expected) in cases {
        let source = source.as_ref();
        assert_eq!(
            problems(source),
            expected.lines().collect::<Vec<_>>(),
            "in:\n{source}"
        );
    }
}

/// A file with `[legacy]` made of `lines` and no route.
pub(crate) fn legacy(lines: &str) -> String {
    format!("[legacy]\n{lines}\n")
}

/// A file whose only route (header at line 4) has `match = {body}` on line 6.
pub(crate) fn one_route(body: &str) -> String {
    Routes::new()
        .blank_line()
        .route("r", body, &["target = \"legacy\""])
        .build()
}

/// A routes.toml text built in file order, from `[legacy] url = "http://l"`
/// (lines 1–2): each call appends its lines, so positions are easy to count.
#[derive(Debug, Clone)]
pub(crate) struct Routes {
    source: String,
}

impl Routes {
    /// Just `[legacy]` with its URL.
    pub(crate) fn new() -> Self {
        Self {
            source: LEGACY.to_owned(),
        }
    }

    /// An empty line.
    pub(crate) fn blank_line(mut self) -> Self {
        self.source.push('\n');
        self
    }

    /// `[defaults]` with `target`: two lines.
    pub(crate) fn defaults(mut self, target: &str) -> Self {
        self.source
            .push_str(&format!("[defaults]\ntarget = \"{target}\"\n"));
        self
    }

    /// One `[[routes]]` entry: its header, `name`, `match = {matcher}`, then
    /// each of `lines` as written (e.g. `target = "legacy"`).
    pub(crate) fn route(mut self, name: &str, matcher: &str, lines: &[&str]) -> Self {
        self.source.push_str(&format!(
            "[[routes]]\nname = \"{name}\"\nmatch = {matcher}\n"
        ));
        for line in lines {
            self.source.push_str(line);
            self.source.push('\n');
        }
        self
    }

    /// The text.
    pub(crate) fn build(self) -> String {
        self.source
    }
}
