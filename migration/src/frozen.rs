//! Guards that the schema migrations stay frozen history: no `src/m*.rs` names service code.
//!
//! The package depends on `accounts` for the `import-users` command only; a
//! migration that used the service's types would change when the service
//! does, and replaying history would no longer give the schema it gave.

use std::path::{Path, PathBuf};

/// The migration files: `src/m<digits>….rs` (not `main.rs`).
fn migration_files(src: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(src)
        .expect("readable src directory")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let mut chars = name.chars();
            chars.next() == Some('m')
                && chars.next().is_some_and(|c| c.is_ascii_digit())
                && name.ends_with(".rs")
        })
        .collect();
    files.sort();
    files
}

/// The first code line (comments aside) that names the `accounts` crate, if any.
fn first_line_naming_accounts(source: &str) -> Option<&str> {
    source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .find(|line| {
            line.match_indices("accounts").any(|(i, word)| {
                let before = &line[..i];
                let rest = &line[i + word.len()..];
                let after = rest.trim_start();
                let starts_word = !before.ends_with(|c: char| c.is_alphanumeric() || c == '_');
                let ends_word = !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_');
                let as_path = after.starts_with("::");
                let as_import = before.trim_end().ends_with("use")
                    || before.trim_end().ends_with("extern crate");
                starts_word && ends_word && (as_path || as_import)
            })
        })
}

#[test]
fn schema_migrations_name_no_service_code() {
    let files = migration_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert_eq!(
        files.len(),
        <crate::Migrator as crate::MigratorTrait>::migrations().len(),
        "every migration file must be found: {files:?}"
    );
    for file in files {
        let source = std::fs::read_to_string(&file).expect("readable migration");
        if let Some(line) = first_line_naming_accounts(&source) {
            panic!(
                "{} names the accounts crate: {line}\nmigrations are frozen history and import no service code",
                file.display()
            );
        }
    }
}

#[test]
fn the_guard_spots_each_way_of_naming_the_crate_and_nothing_else() {
    let named = [
        "use accounts::domain::Email;",
        "    let e = accounts::domain::Email::parse(x);",
        "use accounts;",
        "use accounts as service;",
        "extern crate accounts;",
        "fn f() -> accounts :: Thing {}",
    ];
    for source in named {
        assert!(
            first_line_naming_accounts(source).is_some(),
            "missed: {source}"
        );
    }
    let innocent = [
        "// accounts::domain is off limits here",
        "let table = \"accounts\";",
        "enum Accounts { Table }",
        "use my_accounts::x;",
        "use sea_orm_migration::prelude::*;",
    ];
    for source in innocent {
        assert_eq!(
            first_line_naming_accounts(source),
            None,
            "flagged: {source}"
        );
    }
}
