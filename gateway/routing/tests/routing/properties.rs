//! The model-based property: resolution agrees with an independent
//! reference matcher and precedence key on generated tables and paths.

use std::path::Path;

use gateway_routing::{Route, RouteTable, Target, normalize_path};
use http::Method;
use proptest::prelude::*;

use crate::fixtures::{FILE, Routes};

/// A generated route: kind, segments (`None` = parameter), methods (`None` = all).
#[derive(Debug, Clone)]
struct GenRoute {
    kind: u8,
    segments: Vec<Option<&'static str>>,
    methods: Option<Vec<&'static str>>,
}

impl GenRoute {
    /// The `path`/`prefix` text, made valid for its kind.
    fn text(&self) -> String {
        let mut segments = self.segments.clone();
        if self.kind == 1 && !segments.iter().any(Option::is_none) {
            match segments.first_mut() {
                Some(first) => *first = None,
                None => segments.push(None),
            }
        }
        let mut text = String::new();
        for (i, segment) in segments.iter().enumerate() {
            text.push('/');
            match (self.kind, segment) {
                (1, None) => text.push_str(&format!("{{p{i}}}")),
                (_, None) => text.push('a'),
                (_, Some(literal)) => text.push_str(literal),
            }
        }
        if text.is_empty() {
            text.push('/');
        }
        text
    }

    /// Same kind and same path set.
    fn shape(&self) -> (u8, String) {
        let text = self.text();
        let shape = text
            .split('/')
            .map(|s| if s.starts_with('{') { "*" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        (self.kind, shape)
    }

    fn allows(&self, method: &str) -> bool {
        self.methods.as_ref().is_none_or(|m| m.contains(&method))
    }

    /// Independent reference matcher on the decoded path.
    fn fits(&self, path: &str) -> bool {
        let text = self.text();
        let want: Vec<&str> = text[1..].split('/').collect();
        let have: Vec<&str> = path[1..].split('/').collect();
        match self.kind {
            0 => text == path,
            1 => {
                want.len() == have.len()
                    && want.iter().zip(&have).all(|(w, h)| {
                        if w.starts_with('{') {
                            !h.is_empty()
                        } else {
                            w == h
                        }
                    })
            }
            _ => {
                let want: Vec<&str> = want.into_iter().filter(|w| !w.is_empty()).collect();
                have.starts_with(&want)
            }
        }
    }

    /// Reference precedence key: smaller is tried first.
    fn key(&self, index: usize) -> (u8, usize, Vec<bool>, usize) {
        let text = self.text();
        let segments: Vec<&str> = text[1..].split('/').filter(|s| !s.is_empty()).collect();
        let flags = if self.kind == 1 {
            segments.iter().map(|s| s.starts_with('{')).collect()
        } else {
            Vec::new()
        };
        let length_rank = if self.kind == 0 {
            0
        } else {
            usize::MAX - segments.len()
        };
        (self.kind, length_rank, flags, index)
    }
}

fn gen_route() -> impl Strategy<Value = GenRoute> {
    let segment = prop_oneof![
        Just(Some("a")),
        Just(Some("b")),
        Just(Some("c")),
        Just(None)
    ];
    let methods = proptest::option::of(prop_oneof![
        Just(vec!["GET"]),
        Just(vec!["POST"]),
        Just(vec!["GET", "POST"]),
    ]);
    (0u8..3, proptest::collection::vec(segment, 0..4), methods).prop_map(
        |(kind, segments, methods)| GenRoute {
            kind,
            segments,
            methods,
        },
    )
}

/// Routes minus those that earlier routes of the same shape take entirely.
fn live_routes() -> impl Strategy<Value = Vec<GenRoute>> {
    proptest::collection::vec(gen_route(), 0..10).prop_map(|generated| {
        let mut kept: Vec<GenRoute> = Vec::new();
        for route in generated {
            let same: Vec<&GenRoute> = kept.iter().filter(|k| k.shape() == route.shape()).collect();
            let taken = same.iter().any(|k| k.methods.is_none())
                || route.methods.as_ref().is_some_and(|methods| {
                    methods.iter().all(|m| same.iter().any(|k| k.allows(m)))
                });
            if !taken {
                kept.push(route);
            }
        }
        kept
    })
}

fn request_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![Just("a"), Just("b"), Just("c"), Just("ab"), Just("")];
    proptest::collection::vec(segment, 0..5).prop_map(|segments| {
        let mut path = String::from("/");
        path.push_str(&segments.join("/"));
        path
    })
}

proptest! {
    #[test]
    fn resolves_to_the_most_specific_fitting_route(
        generated in live_routes(),
        raw in request_path(),
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT")],
    ) {
        let mut file = Routes::new().defaults("service");
        for (i, route) in generated.iter().enumerate() {
            let key = if route.kind == 2 { "prefix" } else { "path" };
            let methods = route.methods.as_ref().map_or(String::new(), |m| {
                format!(", methods = {m:?}")
            });
            file = file.route(
                &format!("r{i}"),
                &format!("{{ {key} = {:?}{methods} }}", route.text()),
                &["target = \"legacy\""],
            );
        }
        let source = file.build();
        let table = RouteTable::parse(&source, Path::new(FILE));
        prop_assert!(table.is_ok(), "{}\n{:?}", source, table);
        let table = table.unwrap();

        let path = normalize_path(&raw).unwrap();
        let http_method = Method::from_bytes(method.as_bytes()).unwrap();
        let resolution = table.resolve(&http_method, &path);

        let best = generated
            .iter()
            .enumerate()
            .filter(|(_, r)| r.allows(method) && r.fits(path.as_str()))
            .min_by_key(|(i, r)| r.key(*i))
            .map(|(i, _)| format!("r{i}"));
        prop_assert_eq!(resolution.route.map(Route::name), best.as_deref(), "{} {}", method, path);
        if let Some(route) = resolution.route {
            prop_assert!(route.matcher().matches(path.as_str()));
            prop_assert!(route.allows(&http_method));
            prop_assert_eq!(resolution.target, Target::Legacy);
        } else {
            prop_assert_eq!(resolution.target, Target::Service);
        }
    }
}
