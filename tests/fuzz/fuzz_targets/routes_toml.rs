//! Any text as a routes.toml: parsing and validation never panic, and every
//! problem reported has a position inside the text.
#![no_main]

use std::path::Path;

use gateway_routing::{RouteTable, RouteTableError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    match RouteTable::parse(source, Path::new("routes.toml")) {
        Ok(table) => {
            // What the admin API and `gateway check` render.
            let _ = table.summary();
            assert!(!table.version().is_empty());
        }
        Err(err @ RouteTableError::Invalid { .. }) => {
            let RouteTableError::Invalid { problems, .. } = &err else {
                unreachable!()
            };
            assert!(!problems.is_empty(), "an invalid table names its problems");
            let lines = source.lines().count().max(1);
            for problem in problems {
                assert!(
                    problem.line >= 1 && problem.line <= lines + 1,
                    "{problem:?}"
                );
                assert!(problem.column >= 1, "{problem:?}");
            }
            let _ = err.to_string();
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
