//! Checks of single values that several parts of the file share: a positive
//! humantime duration (`[legacy]`, `[shadow]`, `require.window`) and a list of
//! HTTP methods (a route's `match` and its `shadow`).

use std::time::Duration;

use http::Method;
use toml::Spanned;

use crate::error::{LineIndex, Problem};

/// Parses an optional positive humantime duration, pushing its problem.
pub(crate) fn duration_setting(
    value: Option<&Spanned<String>>,
    key: &str,
    default: Duration,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Duration> {
    let Some(value) = value else {
        return Some(default);
    };
    let raw = value.get_ref();
    let message = match humantime::parse_duration(raw) {
        Ok(duration) if !duration.is_zero() => return Some(duration),
        Ok(_) => format!("`{key}` must be greater than zero"),
        Err(err) => {
            format!("invalid duration {raw:?} for `{key}`: {err} (write e.g. \"2s\" or \"500ms\")")
        }
    };
    problems.push(index.problem(value.span().start, message));
    None
}

/// Uppercases, checks and dedupes a `methods` list, pushing its problems.
pub(crate) fn parse_methods(
    methods: Spanned<Vec<Spanned<String>>>,
    index: &LineIndex<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Vec<Method>> {
    if methods.get_ref().is_empty() {
        problems.push(index.problem(
            methods.span().start,
            "`methods` is empty: list at least one method, or leave `methods` out to match every method",
        ));
        return None;
    }
    let mut parsed: Vec<Method> = Vec::with_capacity(methods.get_ref().len());
    let mut valid = true;
    for method in methods.into_inner() {
        match Method::from_bytes(method.get_ref().to_ascii_uppercase().as_bytes()) {
            Ok(m) if !parsed.contains(&m) => parsed.push(m),
            Ok(_) => {}
            Err(_) => {
                valid = false;
                problems.push(index.problem(
                    method.span().start,
                    format!(
                        "invalid HTTP method {:?}: a method is a token like \"GET\" or \"PURGE\"",
                        method.get_ref()
                    ),
                ));
            }
        }
    }
    valid.then_some(parsed)
}
