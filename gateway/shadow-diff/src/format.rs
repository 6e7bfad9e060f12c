//! Values that differ in form only: timestamps that name the same instant,
//! numbers written as strings. [`Formats`] says which forms a route
//! compares by value; the engine files such differences apart from real ones.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset, TimeZone, Utc};
use serde_json::{Number, Value};

use crate::canonical::{number_key, numbers_equal};

/// How strings that parse as timestamps are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timestamps {
    /// As instants when both sides parse as timestamps; a timestamp without
    /// an offset (naive) is read at `naive_offset`.
    Instants {
        /// Where naive timestamps are read (UTC by default).
        naive_offset: FixedOffset,
    },
    /// Byte for byte, as any other string.
    Strict,
}

impl Default for Timestamps {
    fn default() -> Self {
        Self::Instants {
            naive_offset: Utc.fix(),
        }
    }
}

/// Which differences of form a comparison sees through (the route's
/// `timestamps`, `naive_timezone` and `numeric_strings`). A value that
/// differs in form only is a [`crate::DiffKind::FormatChanged`] difference,
/// listed in [`crate::Comparison::formats`], and a comparison whose only
/// differences are such ends in [`crate::Outcome::FormatOnly`].
///
/// `Default`: timestamps as instants, naive ones in UTC; numbers as strings
/// not accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Formats {
    /// How timestamps are compared.
    pub timestamps: Timestamps,
    /// Whether a string holding a JSON number (`"12.50"`) equals that number
    /// (`12.5`), on either side or both.
    pub numeric_strings: bool,
}

impl Formats {
    /// Every value compared as written (strings byte for byte): the
    /// comparison before formats were understood.
    pub const STRICT: Formats = Formats {
        timestamps: Timestamps::Strict,
        numeric_strings: false,
    };

    /// Whether any difference of form is seen through.
    #[must_use]
    pub fn any(&self) -> bool {
        *self != Self::STRICT
    }

    /// Whether two scalars that are not equal as written hold the same
    /// value under these formats.
    pub(crate) fn agree(&self, a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::String(x), Value::String(y)) => {
                if let (Some(x), Some(y)) = (self.instant(x), self.instant(y)) {
                    return x == y;
                }
                match (self.number(x), self.number(y)) {
                    (Some(x), Some(y)) => numbers_equal(&x, &y),
                    _ => false,
                }
            }
            (Value::String(text), Value::Number(n)) | (Value::Number(n), Value::String(text)) => {
                self.number(text).is_some_and(|m| numbers_equal(n, &m))
            }
            _ => false,
        }
    }

    /// The canonical text of a string that these formats read as a value
    /// (see [`Formats::agree`]), or `None` to write it as a string. An
    /// instant is `@` and its UTC time to the nanosecond (never valid JSON,
    /// so it cannot collide with a real value); a number as a string is the
    /// number's canonical text, as the number itself is written.
    pub(crate) fn canonical_string(&self, text: &str) -> Option<String> {
        if let Some(instant) = self.instant(text) {
            return Some(format!(
                "@{}",
                instant.naive_utc().format("%Y-%m-%dT%H:%M:%S%.9f")
            ));
        }
        self.number(text).map(|n| number_key(&n))
    }

    fn instant(&self, text: &str) -> Option<DateTime<FixedOffset>> {
        match self.timestamps {
            Timestamps::Instants { naive_offset } => parse_instant(text, naive_offset),
            Timestamps::Strict => None,
        }
    }

    fn number(&self, text: &str) -> Option<Number> {
        if self.numeric_strings {
            parse_number(text)
        } else {
            None
        }
    }
}

impl fmt::Display for Formats {
    /// One stable line, part of [`crate::CompareRules::canonical`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.timestamps {
            Timestamps::Instants { naive_offset } => {
                write!(f, "timestamps=instant@{naive_offset}")?
            }
            Timestamps::Strict => f.write_str("timestamps=strict")?,
        }
        write!(f, ";numeric_strings={}", self.numeric_strings)
    }
}

/// A timestamp as a legacy backend writes one: `YYYY-MM-DD`, then `T` (or
/// `t`, or a space), `HH:MM:SS`, an optional fraction of any number of
/// digits (nanoseconds kept), and an optional offset (`Z`, `±HH:MM` or
/// `±HHMM`). Without an offset it is read at `naive_offset`. Anything else
/// (a date alone, minutes without seconds, a week date) is not a timestamp.
pub fn parse_instant(text: &str, naive_offset: FixedOffset) -> Option<DateTime<FixedOffset>> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() >= 19
        && bytes.len() <= 40
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && matches!(bytes[10], b'T' | b't' | b' ')
        && bytes[13] == b':'
        && bytes[16] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| bytes[i].is_ascii_digit());
    if !shaped {
        return None;
    }
    // The date and time, with `T`, as chrono's formats expect.
    let mut normal = String::with_capacity(text.len());
    normal.push_str(&text[..10]);
    normal.push('T');
    normal.push_str(&text[11..]);
    if let Ok(instant) = DateTime::parse_from_rfc3339(&normal) {
        return Some(instant);
    }
    if let Ok(instant) = DateTime::parse_from_str(&normal, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(instant);
    }
    let naive = NaiveDateTime::parse_from_str(&normal, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    naive_offset.from_local_datetime(&naive).single()
}

/// A JSON number written as a string, exactly: no spaces, no `+`, no
/// leading zeros, as JSON itself writes numbers.
fn parse_number(text: &str) -> Option<Number> {
    let bytes = text.as_bytes();
    let starts = bytes
        .first()
        .is_some_and(|b| *b == b'-' || b.is_ascii_digit());
    let ends = bytes.last().is_some_and(u8::is_ascii_digit);
    if !(starts && ends) {
        return None;
    }
    serde_json::from_str::<Number>(text).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(offset_hours: i32) -> FixedOffset {
        FixedOffset::east_opt(offset_hours * 3600).unwrap()
    }

    fn instants_at(offset_hours: i32) -> Formats {
        Formats {
            timestamps: Timestamps::Instants {
                naive_offset: at(offset_hours),
            },
            numeric_strings: false,
        }
    }

    /// The instant `text` names, as UTC text to the nanosecond.
    fn utc_text(text: &str, naive_hours: i32) -> Option<String> {
        parse_instant(text, at(naive_hours))
            .map(|i| i.naive_utc().format("%Y-%m-%dT%H:%M:%S%.9f").to_string())
    }

    #[test]
    fn the_formats_a_legacy_backend_writes_parse_as_instants() {
        let cases = [
            // Naive, 0, 3, 6 and 9 fractional digits.
            ("2026-12-01T06:40:00", "2026-12-01T06:40:00.000000000"),
            ("2026-12-01T06:40:00.123", "2026-12-01T06:40:00.123000000"),
            (
                "2026-12-01T06:40:00.123456",
                "2026-12-01T06:40:00.123456000",
            ),
            (
                "2026-12-01T06:40:00.123456789",
                "2026-12-01T06:40:00.123456789",
            ),
            // `Z`, lower-case `z`, and offsets with and without a colon.
            ("2026-12-01T06:40:00Z", "2026-12-01T06:40:00.000000000"),
            (
                "2026-12-01T06:40:00.123456Z",
                "2026-12-01T06:40:00.123456000",
            ),
            ("2026-12-01t06:40:00.5z", "2026-12-01T06:40:00.500000000"),
            ("2026-12-01T06:40:00+00:00", "2026-12-01T06:40:00.000000000"),
            (
                "2026-12-01T07:40:00.123+01:00",
                "2026-12-01T06:40:00.123000000",
            ),
            ("2026-12-01T07:40:00+0100", "2026-12-01T06:40:00.000000000"),
            ("2026-12-01T01:40:00-05:00", "2026-12-01T06:40:00.000000000"),
            ("2026-12-01T00:10:00-06:30", "2026-12-01T06:40:00.000000000"),
            // A space instead of `T` (Python's `str(datetime)`, SQL).
            (
                "2026-12-01 06:40:00.123456",
                "2026-12-01T06:40:00.123456000",
            ),
            ("2026-12-01 06:40:00+00:00", "2026-12-01T06:40:00.000000000"),
            // Across midnight and a month end.
            ("2026-12-01T00:30:00+01:00", "2026-11-30T23:30:00.000000000"),
        ];
        for (text, utc) in cases {
            assert_eq!(utc_text(text, 0).as_deref(), Some(utc), "{text}");
        }
    }

    #[test]
    fn a_naive_timestamp_is_read_at_the_routes_offset() {
        assert_eq!(
            utc_text("2026-12-01T07:40:00.123456", 1).as_deref(),
            Some("2026-12-01T06:40:00.123456000")
        );
        // An explicit offset wins over the naive one.
        assert_eq!(
            utc_text("2026-12-01T06:40:00Z", 1).as_deref(),
            Some("2026-12-01T06:40:00.000000000")
        );
    }

    #[test]
    fn other_strings_are_not_instants() {
        for text in [
            "",
            "2026-12-01",
            "2026-12-01T06:40",
            "2026-12-01T06:40Z",
            "2026-13-01T06:40:00",
            "2026-12-32T06:40:00",
            "2026-12-01T25:40:00",
            "2026-12-01X06:40:00",
            "2026-12-01T06:40:00 ",
            " 2026-12-01T06:40:00",
            "2026-12-01T06:40:00.",
            "2026-12-01T06:40:00+1",
            "2026-12-01T06:40:00 UTC",
            "+2026-12-01T06:40:00",
            "20261201T064000Z",
            "2026-W48-2T06:40:00",
            "é026-12-01T06:40:00",
            "2026-12-01T06:40:00.123456789012345678901234567890",
            "not a timestamp at all, just text",
        ] {
            assert_eq!(parse_instant(text, at(0)), None, "{text:?}");
        }
    }

    #[test]
    fn equal_instants_in_other_forms_agree_and_drift_does_not() {
        let formats = Formats::default();
        let naive = json!("2026-12-01T06:40:00.123456");
        for same in [
            "2026-12-01T06:40:00.123456Z",
            "2026-12-01T06:40:00.123456+00:00",
            "2026-12-01T07:40:00.123456+01:00",
            "2026-12-01T06:40:00.123456000Z",
            "2026-12-01 06:40:00.123456",
        ] {
            assert!(formats.agree(&naive, &json!(same)), "{same}");
            assert_eq!(
                formats.canonical_string(naive.as_str().unwrap()),
                formats.canonical_string(same),
                "{same}"
            );
        }
        for other in [
            "2026-12-01T06:40:01.123456Z",
            "2026-12-01T06:40:00.123Z",
            "2026-12-01T06:40:00.123456+01:00",
            "2026-12-01",
        ] {
            assert!(!formats.agree(&naive, &json!(other)), "{other}");
        }
        assert!(!Formats::STRICT.agree(&naive, &json!("2026-12-01T06:40:00.123456Z")));
        assert!(
            instants_at(1).agree(&naive, &json!("2026-12-01T05:40:00.123456Z")),
            "naive read at +01:00"
        );
        assert!(
            !formats.agree(&json!(1), &json!("1")),
            "numbers as strings are opt-in"
        );
    }

    #[test]
    fn numbers_as_strings_agree_with_numbers_when_asked() {
        let formats = Formats {
            numeric_strings: true,
            ..Formats::STRICT
        };
        let agree = [
            (json!("12.50"), json!(12.5)),
            (json!(12.5), json!("12.50")),
            (json!("1"), json!(1.0)),
            (json!("-7"), json!(-7)),
            (json!("1e2"), json!(100)),
            (json!("9007199254740993"), json!(9_007_199_254_740_993_u64)),
            (json!("12.50"), json!("12.5")),
        ];
        for (a, b) in agree {
            assert!(formats.agree(&a, &b), "{a} ~ {b}");
        }
        let differ = [
            (json!("12.51"), json!(12.5)),
            (json!("007"), json!(7)),
            (json!(" 7"), json!(7)),
            (json!("7 "), json!(7)),
            (json!("+7"), json!(7)),
            (json!("7."), json!(7)),
            (json!("seven"), json!(7)),
            (json!(""), json!(0)),
            (json!("1e400"), json!(1)),
            (json!("true"), json!(true)),
            (json!("9007199254740993"), json!(9_007_199_254_740_992_u64)),
        ];
        for (a, b) in differ {
            assert!(!formats.agree(&a, &b), "{a} !~ {b}");
        }
        assert_eq!(formats.canonical_string("12.50").as_deref(), Some("12.5"));
        assert_eq!(formats.canonical_string("1.0").as_deref(), Some("1"));
        assert_eq!(formats.canonical_string("12.5x"), None);
    }

    #[test]
    fn formats_print_as_one_stable_line() {
        assert_eq!(
            Formats::default().to_string(),
            "timestamps=instant@+00:00;numeric_strings=false"
        );
        assert_eq!(
            instants_at(-5).to_string(),
            "timestamps=instant@-05:00;numeric_strings=false"
        );
        assert_eq!(
            Formats {
                numeric_strings: true,
                ..Formats::STRICT
            }
            .to_string(),
            "timestamps=strict;numeric_strings=true"
        );
        assert!(Formats::default().any());
        assert!(!Formats::STRICT.any());
    }
}
