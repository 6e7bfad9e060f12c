//! Guards the dependency rule: inner layers name no outer framework.

use std::path::{Path, PathBuf};

const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "src/domain",
        &[
            "axum",
            "sea_orm",
            "figment",
            "serde",
            "tracing",
            "tokio",
            "crate::application",
            "crate::infrastructure",
            "crate::api",
        ],
    ),
    (
        "src/application",
        &[
            "axum",
            "sea_orm",
            "figment",
            "serde",
            "crate::infrastructure",
            "crate::api",
        ],
    ),
    (
        "src/shared",
        &["axum", "sea_orm", "figment", "serde", "crate::"],
    ),
    // The driving and the driven adapters never name each other; the
    // composition root (`lib.rs`, `settings.rs`) joins them.
    ("src/api", &["sea_orm", "figment", "crate::infrastructure"]),
    ("src/infrastructure", &["axum", "crate::api"]),
];

/// `dir.rs` and every `.rs` file under `dir/`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![dir.with_extension("rs")];
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn inner_layers_do_not_name_outer_layers_or_frameworks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for (dir, needles) in FORBIDDEN {
        for file in rust_files(&root.join(dir)) {
            let source = std::fs::read_to_string(&file).expect("readable source");
            checked += 1;
            for line in source.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for needle in *needles {
                    let named = line.match_indices(needle).any(|(i, _)| {
                        !line[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                    });
                    assert!(!named, "{} names `{needle}`: {line}", file.display());
                }
            }
        }
    }
    assert!(
        checked >= 10,
        "the guard must actually read the layer files (read {checked})"
    );
}
