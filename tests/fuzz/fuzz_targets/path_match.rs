//! Any request path: normalisation never panics, its result is a clean
//! absolute path that normalises to itself, and matching it against the
//! repository's route table never panics.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use gateway_routing::{RouteTable, normalize_path};
use http::Method;
use libfuzzer_sys::fuzz_target;

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        RouteTable::parse(
            include_str!("../../../routes.toml"),
            Path::new("routes.toml"),
        )
        .expect("the repository's routes.toml is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(path) = normalize_path(raw) else {
        return;
    };
    let decoded = path.as_str();
    assert!(decoded.starts_with('/'), "{raw:?} -> {decoded:?}");
    assert!(
        !decoded
            .split('/')
            .any(|segment| segment == ".." || segment == "."),
        "{raw:?} -> {decoded:?}: dot-segments survive"
    );
    let encoded = path.to_uri_path();
    let again = normalize_path(&encoded).expect("a normalised path normalises again");
    assert_eq!(
        again.as_str(),
        decoded,
        "{raw:?}: not idempotent through its URI form"
    );
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let _ = table().resolve(&method, &path);
    }
});
