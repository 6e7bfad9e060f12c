//! The pure comparison of a primary answer with a shadow answer.

mod answer;
mod canonical;
mod engine;
mod noise;
mod outcome;
mod pointer;
mod preview;
mod report;
mod rules;

pub use answer::{Captured, CapturedBody};
pub use engine::{MAX_DEPTH, PAIRING_BUDGET, compare, detect_noise};
pub use noise::{NoisePathError, NoiseSet};
pub use outcome::{DropReason, ErrorReason, Outcome, SkipReason, UnknownOutcome};
pub use pointer::{IgnoreRule, PointerError};
pub use report::{Comparison, DiffKind, Difference};
pub use rules::{
    ArrayOrder, CompareRules, CompareRulesBuilder, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DIFFERENCES,
    DEFAULT_MAX_VALUE_CHARS, RulesError,
};

/// Builders for answers, shared by the unit tests of this crate.
#[cfg(test)]
mod test_support {
    use bytes::Bytes;
    use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
    use serde_json::Value;

    use super::{Captured, CapturedBody};

    /// An answer with the given status, headers and raw body.
    pub(crate) fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Captured {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        Captured::new(
            StatusCode::from_u16(status).unwrap(),
            map,
            CapturedBody::Complete(Bytes::copy_from_slice(body)),
        )
    }

    /// A 200 `application/json` answer with `value` as its body.
    pub(crate) fn json(value: &Value) -> Captured {
        answer(
            200,
            &[("content-type", "application/json")],
            &serde_json::to_vec(value).unwrap(),
        )
    }
}
