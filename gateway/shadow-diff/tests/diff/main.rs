//! The comparison through its public API: table cases, noise, and the
//! crate's purity (it depends on no runtime).

mod cases;
mod formats;
mod noise;
mod purity;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::Value;
use shadow_diff::{
    ArrayOrder, Captured, CapturedBody, CompareRules, DEFAULT_MAX_BODY_BYTES, DiffKind, Difference,
    NoiseSet,
};

/// An answer with the given status, headers and raw body.
pub(crate) fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Captured {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("a valid header name"),
            HeaderValue::from_str(value).expect("a valid header value"),
        );
    }
    Captured::new(
        StatusCode::from_u16(status).expect("a valid status"),
        map,
        CapturedBody::Complete(Bytes::copy_from_slice(body)),
    )
}

/// A 200 `application/json` answer with `value` as its body.
pub(crate) fn json(value: &Value) -> Captured {
    answer(
        200,
        &[("content-type", "application/json")],
        &serde_json::to_vec(value).expect("JSON serialises"),
    )
}

/// Each difference as its path and kind.
pub(crate) fn kinds(list: &[Difference]) -> Vec<(&str, DiffKind)> {
    list.iter().map(|d| (d.path.as_str(), d.kind)).collect()
}

/// Rules as the route parser builds them, comparing `content-type`, with
/// these ignore rules.
pub(crate) fn route_rules(
    order: ArrayOrder,
    allow_added_fields: bool,
    ignore: &[&str],
) -> CompareRules {
    built(order, allow_added_fields, ignore, &["content-type"])
}

/// Rules as the route parser builds them, comparing exactly these headers.
pub(crate) fn comparing(headers: &[&str]) -> CompareRules {
    built(ArrayOrder::Strict, false, &[], headers)
}

fn built(
    order: ArrayOrder,
    allow_added_fields: bool,
    ignore: &[&str],
    headers: &[&str],
) -> CompareRules {
    CompareRules::new(
        ignore
            .iter()
            .map(|rule| CompareRules::parse_pointer(rule).expect("a valid ignore rule"))
            .collect(),
        headers
            .iter()
            .map(|name| HeaderName::from_bytes(name.as_bytes()).expect("a valid header name"))
            .collect(),
        order,
        allow_added_fields,
        DEFAULT_MAX_BODY_BYTES,
    )
    .expect("valid rules")
}

/// A noise set holding these paths.
pub(crate) fn noise_of(paths: &[&str]) -> NoiseSet {
    let mut noise = NoiseSet::new();
    for path in paths {
        noise.insert(path).expect("a valid noise path");
    }
    noise
}
