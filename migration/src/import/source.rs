//! Reading a legacy export row by row: JSON Lines or CSV, into raw [`Fields`].
//!
//! Nothing here judges values; it only says what each field holds, or why a
//! row could not be read at all ("malformed JSON" / "malformed CSV"). A row
//! keeps its line number and its raw text for the rejects file.

use std::collections::HashMap;
use std::io::{BufRead, Read};

use serde::Deserialize;

/// A field's text, or why there is none (`missing`, a wrong JSON type).
pub(super) type Text = Result<String, &'static str>;

/// The six fields of a legacy user, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fields {
    pub(super) id: Text,
    pub(super) email: Text,
    pub(super) full_name: Text,
    /// `true`/`false`, or why not.
    pub(super) is_active: Result<bool, &'static str>,
    pub(super) created_at: Text,
    pub(super) updated_at: Text,
}

/// One row of the file: where it was, what it said, and its fields (or why it could not be read).
#[derive(Debug)]
pub(super) struct SourceRow {
    /// The 1-based line the row starts on.
    pub(super) line: u64,
    /// The row's text, as found (CSV: the record written back as one CSV line).
    pub(super) raw: String,
    /// The fields, or the reason the row is malformed.
    pub(super) fields: Result<Fields, String>,
}

/// The column (and JSON key) names, in the order of [`Fields`].
pub(super) const COLUMNS: [&str; 6] = [
    "id",
    "email",
    "full_name",
    "is_active",
    "created_at",
    "updated_at",
];

/// Why the file as a whole cannot be read (as opposed to one bad row).
#[derive(Debug, thiserror::Error)]
pub(super) enum SourceError {
    /// Reading failed.
    #[error("cannot read the file")]
    Io(#[from] std::io::Error),
    /// The CSV reader failed (I/O underneath).
    #[error("cannot read the CSV file")]
    Csv(#[from] csv::Error),
    /// The CSV header does not name exactly the expected columns.
    #[error(
        "the CSV header must name the columns {expected} (in any order); {problem}",
        expected = COLUMNS.join(", ")
    )]
    Header {
        /// What is wrong with it.
        problem: String,
    },
}

/// Rows from a JSON Lines or CSV export, with the bytes consumed so far.
pub(super) enum Rows<R: Read> {
    /// One JSON object per line; blank lines are skipped.
    Jsonl(JsonLines<R>),
    /// A CSV file with a header row.
    Csv(CsvRows<R>),
}

impl<R: Read> Rows<R> {
    /// The next row, `None` at the end of the file.
    ///
    /// # Errors
    ///
    /// [`SourceError`] when the file cannot be read further.
    pub(super) fn next_row(&mut self) -> Result<Option<SourceRow>, SourceError> {
        match self {
            Self::Jsonl(rows) => rows.next_row(),
            Self::Csv(rows) => rows.next_row(),
        }
    }

    /// Bytes of the file consumed so far.
    pub(super) fn bytes_read(&self) -> u64 {
        match self {
            Self::Jsonl(rows) => rows.bytes,
            Self::Csv(rows) => rows.reader.position().byte(),
        }
    }
}

/// JSON Lines: one object per line with the six keys and no others.
pub(super) struct JsonLines<R> {
    input: std::io::BufReader<R>,
    buffer: Vec<u8>,
    line: u64,
    bytes: u64,
}

/// The wire form of a JSON line; fields are checked for type later, per field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    id: Option<serde_json::Value>,
    email: Option<serde_json::Value>,
    full_name: Option<serde_json::Value>,
    is_active: Option<serde_json::Value>,
    created_at: Option<serde_json::Value>,
    updated_at: Option<serde_json::Value>,
}

fn json_text(value: Option<serde_json::Value>) -> Text {
    match value {
        None | Some(serde_json::Value::Null) => Err("missing"),
        Some(serde_json::Value::String(text)) => Ok(text),
        Some(_) => Err("must be a JSON string"),
    }
}

fn json_flag(value: Option<serde_json::Value>) -> Result<bool, &'static str> {
    match value {
        None | Some(serde_json::Value::Null) => Err("missing"),
        Some(serde_json::Value::Bool(flag)) => Ok(flag),
        Some(_) => Err("must be true or false"),
    }
}

impl<R: Read> JsonLines<R> {
    /// Reads JSON Lines from `input`.
    pub(super) fn new(input: R) -> Self {
        Self {
            input: std::io::BufReader::with_capacity(1 << 20, input),
            buffer: Vec::with_capacity(512),
            line: 0,
            bytes: 0,
        }
    }

    fn next_row(&mut self) -> Result<Option<SourceRow>, SourceError> {
        loop {
            self.buffer.clear();
            let n = self.input.read_until(b'\n', &mut self.buffer)?;
            if n == 0 {
                return Ok(None);
            }
            self.bytes += n as u64;
            self.line += 1;
            let mut bytes = self.buffer.as_slice();
            if self.line == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line = self.line;
            let Ok(text) = std::str::from_utf8(bytes) else {
                return Ok(Some(SourceRow {
                    line,
                    raw: String::from_utf8_lossy(bytes).into_owned(),
                    fields: Err("malformed JSON: not valid UTF-8".to_owned()),
                }));
            };
            let fields = serde_json::from_str::<JsonRow>(text)
                .map(|row| Fields {
                    id: json_text(row.id),
                    email: json_text(row.email),
                    full_name: json_text(row.full_name),
                    is_active: json_flag(row.is_active),
                    created_at: json_text(row.created_at),
                    updated_at: json_text(row.updated_at),
                })
                .map_err(|e| format!("malformed JSON: {e}"));
            return Ok(Some(SourceRow {
                line,
                raw: text.to_owned(),
                fields,
            }));
        }
    }
}

/// CSV with a header naming the six columns in any order.
pub(super) struct CsvRows<R> {
    reader: csv::Reader<Tracked<R>>,
    record: csv::ByteRecord,
    /// For each of [`COLUMNS`], its index in a record.
    index: [usize; 6],
}

impl<R: Read> CsvRows<R> {
    /// Reads the header of `input` and checks it.
    ///
    /// # Errors
    ///
    /// [`SourceError::Header`] when a column is missing, unknown or repeated.
    pub(super) fn new(input: R) -> Result<Self, SourceError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(Tracked {
                inner: input,
                total: 0,
                last: None,
            });
        let header = reader.byte_headers()?.clone();
        let mut positions: HashMap<&str, usize> = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let name = if i == 0 {
                name.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(name)
            } else {
                name
            };
            let name = String::from_utf8_lossy(name);
            let Some(known) = COLUMNS.iter().find(|c| **c == name.trim()) else {
                return Err(SourceError::Header {
                    problem: format!("unknown column {name:?}"),
                });
            };
            if positions.insert(known, i).is_some() {
                return Err(SourceError::Header {
                    problem: format!("column {known:?} appears twice"),
                });
            }
        }
        let mut index = [0; 6];
        for (slot, column) in index.iter_mut().zip(COLUMNS) {
            *slot = *positions.get(column).ok_or_else(|| SourceError::Header {
                problem: format!("column {column:?} is missing"),
            })?;
        }
        Ok(Self {
            reader,
            record: csv::ByteRecord::new(),
            index,
        })
    }

    fn next_row(&mut self) -> Result<Option<SourceRow>, SourceError> {
        if !self.reader.read_byte_record(&mut self.record)? {
            return Ok(None);
        }
        let line = self.start_line();
        let raw = csv_line(&self.record);
        let fields = if self.record.len() == COLUMNS.len() {
            let field = |column: usize| -> Result<&str, String> {
                let bytes = self.record.get(self.index[column]).unwrap_or_default();
                std::str::from_utf8(bytes).map_err(|_| {
                    format!(
                        "malformed CSV: column {:?} is not valid UTF-8",
                        COLUMNS[column]
                    )
                })
            };
            (|| {
                Ok(Fields {
                    id: Ok(field(0)?.to_owned()),
                    email: Ok(field(1)?.to_owned()),
                    full_name: Ok(field(2)?.to_owned()),
                    is_active: match field(3)? {
                        "true" => Ok(true),
                        "false" => Ok(false),
                        "" => Err("missing"),
                        _ => Err("must be true or false"),
                    },
                    created_at: Ok(field(4)?.to_owned()),
                    updated_at: Ok(field(5)?.to_owned()),
                })
            })()
        } else {
            Err(format!(
                "malformed CSV: expected {} fields, found {}",
                COLUMNS.len(),
                self.record.len()
            ))
        };
        Ok(Some(SourceRow { line, raw, fields }))
    }
}

impl<R: Read> CsvRows<R> {
    /// The physical line the record just read starts on.
    ///
    /// The csv crate's record position counts from before the blank lines it
    /// skips, so count back from the reader's position after the record:
    /// less the newlines inside quoted fields, less the record's terminator
    /// (absent only on a last line without a newline).
    fn start_line(&self) -> u64 {
        let after = self.reader.position();
        let input = self.reader.get_ref();
        let unterminated = after.byte() == input.total && input.last != Some(b'\n');
        let inner_newlines = self
            .record
            .as_slice()
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        after
            .line()
            .saturating_sub(inner_newlines as u64)
            .saturating_sub(u64::from(!unterminated))
    }
}

/// A reader that remembers how many bytes it gave and the last one.
pub(super) struct Tracked<R> {
    inner: R,
    total: u64,
    last: Option<u8>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(last) = buf[..n].last() {
            self.total += n as u64;
            self.last = Some(*last);
        }
        Ok(n)
    }
}

/// A record written back as one CSV line (quoted where needed), for the rejects file.
fn csv_line(record: &csv::ByteRecord) -> String {
    let mut line = String::new();
    for (i, field) in record.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let text = String::from_utf8_lossy(field);
        if text.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&text.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows<R: Read>(mut rows: Rows<R>) -> Vec<SourceRow> {
        let mut out = Vec::new();
        while let Some(row) = rows.next_row().expect("readable") {
            out.push(row);
        }
        out
    }

    fn full(id: &str) -> Fields {
        Fields {
            id: Ok(id.to_owned()),
            email: Ok("a@example.com".to_owned()),
            full_name: Ok("A".to_owned()),
            is_active: Ok(true),
            created_at: Ok("2020-01-01T00:00:00Z".to_owned()),
            updated_at: Ok("2020-01-02T00:00:00Z".to_owned()),
        }
    }

    #[test]
    fn json_lines_keep_line_numbers_skip_blank_lines_and_report_bad_rows() {
        let input = concat!(
            "\u{feff}{\"id\":\"1\",\"email\":\"a@example.com\",\"full_name\":\"A\",\"is_active\":true,",
            "\"created_at\":\"2020-01-01T00:00:00Z\",\"updated_at\":\"2020-01-02T00:00:00Z\"}\r\n",
            "\n   \n",
            "{not json\n",
            "{\"id\":1,\"is_active\":\"yes\",\"email\":null}\n",
            "{\"id\":\"1\",\"extra\":1}\n",
            "[1,2]",
        );
        let rows = rows(Rows::Jsonl(JsonLines::new(input.as_bytes())));
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 4, 5, 6, 7]);
        assert_eq!(rows[0].fields, Ok(full("1")));
        assert!(rows[0].raw.starts_with("{\"id\""), "BOM and CRLF stripped");
        assert_eq!(rows[1].raw, "{not json");
        assert!(
            rows[1]
                .fields
                .as_ref()
                .is_err_and(|e| e.starts_with("malformed JSON: ")),
            "{:?}",
            rows[1].fields
        );
        let typed = rows[2].fields.as_ref().expect("an object");
        assert_eq!(typed.id, Err("must be a JSON string"));
        assert_eq!(typed.is_active, Err("must be true or false"));
        assert_eq!(typed.email, Err("missing"));
        assert_eq!(typed.full_name, Err("missing"));
        assert!(
            rows[3]
                .fields
                .as_ref()
                .is_err_and(|e| e.contains("unknown field `extra`")),
            "{:?}",
            rows[3].fields
        );
        assert!(rows[4].fields.is_err(), "not an object");
    }

    #[test]
    fn csv_columns_may_come_in_any_order_and_short_rows_are_malformed() {
        let input = "\u{feff}email,id,full_name,is_active,updated_at,created_at\n\
                     a@example.com,1,A,true,2020-01-02T00:00:00Z,2020-01-01T00:00:00Z\n\
                     \"b,\"\"c\"\"@example.com\",2\n\
                     \n\r\n\
                     a@example.com,3,A,maybe,,\n\
                     a@example.com,4,\"two\nlines\",true,,\n\
                     \n\
                     a@example.com,5,A,true,,";
        let csv = CsvRows::new(input.as_bytes()).expect("a good header");
        assert_eq!(csv.index, [1, 0, 2, 3, 5, 4]);
        let rows = rows(Rows::Csv(csv));
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].fields, Ok(full("1")));
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[1].raw, "\"b,\"\"c\"\"@example.com\",2");
        assert_eq!(
            rows[1].fields,
            Err("malformed CSV: expected 6 fields, found 2".to_owned())
        );
        let fields = rows[2].fields.as_ref().expect("six fields");
        assert_eq!(fields.is_active, Err("must be true or false"));
        assert_eq!(fields.created_at, Ok(String::new()));
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(
            lines,
            [2, 3, 6, 7, 10],
            "physical lines, past blank lines and a quoted newline, to an unterminated last line"
        );
        assert_eq!(rows[3].raw, "a@example.com,4,\"two\nlines\",true,,");
    }

    #[test]
    fn a_csv_header_must_name_exactly_the_six_columns() {
        for (header, problem) in [
            (
                "id,email,full_name,is_active,created_at",
                "\"updated_at\" is missing",
            ),
            (
                "id,email,full_name,is_active,created_at,updated_at,age",
                "unknown column \"age\"",
            ),
            (
                "id,id,email,full_name,is_active,created_at,updated_at",
                "\"id\" appears twice",
            ),
        ] {
            let err = CsvRows::new(format!("{header}\n").as_bytes())
                .err()
                .expect("a bad header");
            assert!(err.to_string().contains(problem), "{header}: {err}");
        }
    }
}
