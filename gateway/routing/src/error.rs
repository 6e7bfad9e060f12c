//! Errors of the route table and of request-path normalisation, and the
//! byte-offset → line/column mapping the table errors are reported with.
//!
//! Which error to use where: [`RouteTableError`] comes out of
//! [`RouteTable::load`](crate::RouteTable::load) and
//! [`RouteTable::parse`](crate::RouteTable::parse) (an operator's mistake, shown
//! like a compiler diagnostic); [`PathError`] comes out of
//! [`normalize_path`](crate::normalize_path) (a client's malformed request,
//! which the gateway answers with 400).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// One thing wrong with a routes file, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column, starting at 1, counted in characters (Unicode scalar values).
    pub column: usize,
    /// What is wrong, in one sentence.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Why a route table could not be loaded; the table in force (if any) stays.
#[derive(Debug, thiserror::Error)]
pub enum RouteTableError {
    /// The file was read but is not a valid route table; every problem found is listed.
    #[error("{}", ProblemList::new(.file, .problems))]
    Invalid {
        /// The file the problems are in.
        file: PathBuf,
        /// Every problem found, sorted by position.
        problems: Vec<Problem>,
    },
    /// The file could not be read.
    #[error("{}: cannot read the route table", .file.display())]
    Io {
        /// The file that could not be read.
        file: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
}

impl RouteTableError {
    /// The routes file this error is about.
    pub fn file(&self) -> &Path {
        match self {
            Self::Invalid { file, .. } | Self::Io { file, .. } => file,
        }
    }

    /// The positioned problems (empty for an I/O error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid { problems, .. } => problems,
            Self::Io { .. } => &[],
        }
    }
}

/// Renders problems one per line as `{file}:{line}:{column}: {message}`.
struct ProblemList<'a> {
    file: &'a Path,
    problems: &'a [Problem],
}

impl<'a> ProblemList<'a> {
    fn new(file: &'a Path, problems: &'a [Problem]) -> Self {
        Self { file, problems }
    }
}

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}:{problem}", self.file.display())?;
        }
        Ok(())
    }
}

/// Why a request path was refused by [`normalize_path`](crate::normalize_path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty or does not start with `/`.
    #[error("the request path must start with '/'")]
    NotAbsolute,
    /// A `%` is not followed by two hexadecimal digits.
    #[error("malformed percent-escape at byte {offset} of the request path")]
    MalformedEscape {
        /// Byte offset of the `%` in the raw path.
        offset: usize,
    },
    /// An encoded `/` (`%2F`) or `\` (`%5C`), refused rather than decoded.
    #[error("encoded '/' or '\\' at byte {offset} of the request path is not allowed")]
    EncodedSeparator {
        /// Byte offset of the `%` in the raw path.
        offset: usize,
    },
    /// A raw `\`, which some backends read as `/`.
    #[error("'\\' at byte {offset} of the request path is not allowed")]
    Backslash {
        /// Byte offset of the `\` in the raw path.
        offset: usize,
    },
    /// A NUL byte, raw or encoded as `%00`.
    #[error("NUL byte at byte {offset} of the request path is not allowed")]
    Nul {
        /// Byte offset of the NUL or of its `%` in the raw path.
        offset: usize,
    },
    /// The percent-decoded path is not valid UTF-8.
    #[error("the decoded request path is not valid UTF-8")]
    InvalidUtf8,
}

/// Maps byte offsets of one source text to 1-based lines and columns.
pub(crate) struct LineIndex<'a> {
    source: &'a str,
    /// Byte offset at which each line starts; the first is always 0.
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes the line starts of `source`.
    pub(crate) fn new(source: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            source,
            line_starts,
        }
    }

    /// The 1-based line and column (in characters) of byte `offset`,
    /// clamped to the source and rounded down to a character boundary.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.source.len());
        while !self.source.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .source
            .get(start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        (line, column)
    }

    /// A problem at byte `offset` with `message`.
    pub(crate) fn problem(&self, offset: usize, message: impl Into<String>) -> Problem {
        let (line, column) = self.position(offset);
        Problem {
            line,
            column,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let index = LineIndex::new("ab\nçd\n\nx");
        let cases = [
            (0, (1, 1)),
            (1, (1, 2)),
            (2, (1, 3)),
            (3, (2, 1)),
            (5, (2, 2)), // 'ç' is two bytes
            (4, (2, 1)), // inside 'ç': rounded down
            (7, (3, 1)),
            (8, (4, 1)),
            (99, (4, 2)), // clamped to the end
        ];
        for (offset, expected) in cases {
            assert_eq!(index.position(offset), expected, "offset {offset}");
        }
    }

    #[test]
    fn invalid_displays_one_line_per_problem() {
        let err = RouteTableError::Invalid {
            file: PathBuf::from("routes.toml"),
            problems: vec![
                Problem {
                    line: 3,
                    column: 7,
                    message: "first".into(),
                },
                Problem {
                    line: 9,
                    column: 1,
                    message: "second".into(),
                },
            ],
        };
        assert_eq!(
            err.to_string(),
            "routes.toml:3:7: first\nroutes.toml:9:1: second"
        );
        assert_eq!(err.problems().len(), 2);
        assert_eq!(err.file(), Path::new("routes.toml"));
    }
}
