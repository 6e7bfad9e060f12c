//! Request-path normalisation through its public API: the rules, the
//! documented attacks, refusals, re-encoding, and its properties.

use gateway_routing::{PathError, normalize_path};
use proptest::prelude::*;

#[test]
fn normalises_paths() {
    let cases = [
        ("/", "/"),
        ("/v1/accounts/users", "/v1/accounts/users"),
        ("/v1/accounts/users/../../admin", "/v1/admin"),
        ("/v1/accounts/users/../../../admin", "/admin"),
        ("/v1/accounts/users/../../../../../admin", "/admin"),
        ("/v1/accounts/users/%2e%2e/%2e%2e/%2e%2e/admin", "/admin"),
        ("/v1/accounts/users/%2E%2e/.%2e/admin", "/v1/admin"),
        ("//v1///x", "/v1/x"),
        ("/a/", "/a/"),
        ("/a//", "/a/"),
        ("/a/.", "/a/"),
        ("/a/b/..", "/a/"),
        ("/a/./b", "/a/b"),
        ("/..", "/"),
        ("/../a", "/a"),
        ("/a/...", "/a/..."),
        ("/a%20b", "/a b"),
        ("/caf%C3%A9", "/café"),
        ("/café", "/café"),
        ("/a%3Fb%23c%25", "/a?b#c%"),
        ("/a+b;c=d", "/a+b;c=d"),
    ];
    for (raw, expected) in cases {
        let normalized = normalize_path(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(normalized.as_str(), expected, "normalising {raw}");
    }
}

#[test]
fn the_documented_attacks_are_resolved_before_matching() {
    // The examples: the users route prefix is climbed out of, fully.
    assert_eq!(
        normalize_path("/v1/accounts/users/../../../admin")
            .unwrap()
            .as_str(),
        "/admin"
    );
    assert_eq!(
        normalize_path("/v1/accounts/users/%2e%2e/%2e%2e/%2e%2e/admin")
            .unwrap()
            .as_str(),
        "/admin"
    );
}

#[test]
fn refuses_bad_paths() {
    let cases = [
        ("", PathError::NotAbsolute),
        ("v1/x", PathError::NotAbsolute),
        ("*", PathError::NotAbsolute),
        ("/a/%2F/b", PathError::EncodedSeparator { offset: 3 }),
        ("/a%2fb", PathError::EncodedSeparator { offset: 2 }),
        ("/a%5Cb", PathError::EncodedSeparator { offset: 2 }),
        ("/a%5c..%5cadmin", PathError::EncodedSeparator { offset: 2 }),
        ("/a\\b", PathError::Backslash { offset: 2 }),
        ("/a%00", PathError::Nul { offset: 2 }),
        ("/a\0", PathError::Nul { offset: 2 }),
        ("/a%zz", PathError::MalformedEscape { offset: 2 }),
        ("/a%", PathError::MalformedEscape { offset: 2 }),
        ("/a%4", PathError::MalformedEscape { offset: 2 }),
        ("/a%4g", PathError::MalformedEscape { offset: 2 }),
        ("/%ff", PathError::InvalidUtf8),
        ("/%C3", PathError::InvalidUtf8),
    ];
    for (raw, expected) in cases {
        assert_eq!(normalize_path(raw), Err(expected), "normalising {raw:?}");
    }
}

#[test]
fn re_encodes_for_upstream() {
    let cases = [
        ("/v1/users/42", "/v1/users/42"),
        ("/a%20b", "/a%20b"),
        ("/a%25b", "/a%25b"),
        ("/a%3Fb", "/a%3Fb"),
        ("/a%23b", "/a%23b"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/%41%7e", "/A~"),
        ("/a:b@c!$&'()*+,;=-._~", "/a:b@c!$&'()*+,;=-._~"),
        (
            "/a%22%3C%3E%5B%5D%7B%7D%7C%5E%60",
            "/a%22%3C%3E%5B%5D%7B%7D%7C%5E%60",
        ),
        ("/a%0A", "/a%0A"),
    ];
    for (raw, expected) in cases {
        assert_eq!(
            normalize_path(raw).unwrap().to_uri_path(),
            expected,
            "encoding {raw:?}"
        );
    }
}

/// Raw paths built from segments that exercise dots, slashes and escapes.
fn raw_paths() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just(String::new()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2e".to_owned()),
        Just("%2E%2e".to_owned()),
        Just(".%2e".to_owned()),
        Just("...".to_owned()),
        Just("%25".to_owned()),
        Just("%252e".to_owned()),
        Just("%3F%23".to_owned()),
        Just("%20".to_owned()),
        Just("%C3%A9".to_owned()),
        Just("é".to_owned()),
        "[a-c.%0-9A-F]{0,6}",
    ];
    proptest::collection::vec(segment, 0..8).prop_map(|segments| {
        let mut raw = String::new();
        for segment in segments {
            raw.push('/');
            raw.push_str(&segment);
        }
        if raw.is_empty() {
            raw.push('/');
        }
        raw
    })
}

proptest! {
    #[test]
    fn normalisation_is_idempotent(raw in raw_paths()) {
        if let Ok(once) = normalize_path(&raw) {
            let twice = normalize_path(&once.to_uri_path());
            prop_assert_eq!(twice, Ok(once));
        }
    }

    #[test]
    fn normalised_paths_have_no_empty_or_dot_segments(raw in raw_paths()) {
        if let Ok(normalized) = normalize_path(&raw) {
            let path = normalized.as_str();
            prop_assert!(path.starts_with('/'));
            prop_assert!(!path.contains("//"), "{}", path);
            prop_assert!(!path.contains("/./"), "{}", path);
            prop_assert!(!path.contains("/../"), "{}", path);
            prop_assert!(!path.ends_with("/.") && !path.ends_with("/.."), "{}", path);
        }
    }
}
