//! `deploy/Dockerfile` and `deploy/Dockerfile.dockerignore`.

use std::collections::BTreeSet;

use clap::Parser;

use crate::{defaults, deploy_path, gateway_settings, read, repo_root};

/// One instruction, continuation lines joined, comments dropped.
struct Instruction {
    keyword: String,
    args: String,
}

/// The Dockerfile, split into instructions.
pub(crate) struct Dockerfile {
    instructions: Vec<Instruction>,
}

impl Dockerfile {
    pub(crate) fn load() -> Self {
        let text = read(&deploy_path("Dockerfile"));
        let mut instructions = Vec::new();
        let mut logical = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(continued) = line.strip_suffix('\\') {
                logical.push_str(continued.trim_end());
                logical.push(' ');
                continue;
            }
            logical.push_str(line);
            let (keyword, args) = logical
                .split_once(char::is_whitespace)
                .unwrap_or((&logical, ""));
            instructions.push(Instruction {
                keyword: keyword.to_ascii_uppercase(),
                args: args.trim().to_owned(),
            });
            logical.clear();
        }
        assert!(
            logical.is_empty(),
            "deploy/Dockerfile ends inside a continued line"
        );
        Self { instructions }
    }

    /// The arguments of every `keyword` instruction of the whole file.
    fn all(&self, keyword: &str) -> Vec<&str> {
        self.instructions
            .iter()
            .filter(|i| i.keyword == keyword)
            .map(|i| i.args.as_str())
            .collect()
    }

    /// The arguments of every `keyword` instruction of the last stage (the image).
    fn runtime(&self, keyword: &str) -> Vec<&str> {
        let start = self
            .instructions
            .iter()
            .rposition(|i| i.keyword == "FROM")
            .expect("deploy/Dockerfile has a FROM");
        self.instructions[start..]
            .iter()
            .filter(|i| i.keyword == keyword)
            .map(|i| i.args.as_str())
            .collect()
    }

    /// The last `keyword` instruction of the image, which is the one in force.
    fn runtime_last(&self, keyword: &str) -> &str {
        self.runtime(keyword)
            .last()
            .copied()
            .unwrap_or_else(|| panic!("deploy/Dockerfile: the image has no {keyword}"))
    }

    /// The image's environment (`ENV NAME=value …`).
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        self.runtime("ENV")
            .into_iter()
            .flat_map(str::split_whitespace)
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or_else(|| {
                    panic!("deploy/Dockerfile: write ENV as NAME=value, not {pair:?}")
                });
                (name.to_owned(), value.trim_matches('"').to_owned())
            })
            .collect()
    }

    /// The uid the image runs as (`USER uid[:gid]`).
    pub(crate) fn uid(&self) -> u64 {
        let user = self.runtime_last("USER");
        let uid = user.split(':').next().unwrap_or(user);
        uid.parse()
            .unwrap_or_else(|_| panic!("deploy/Dockerfile: USER {user} is not numeric (Kubernetes' runAsNonRoot needs a uid)"))
    }

    /// The image's working directory.
    pub(crate) fn workdir(&self) -> String {
        self.runtime_last("WORKDIR").to_owned()
    }

    /// An exec-form (JSON array) instruction of the image.
    fn exec_form(&self, keyword: &str) -> Vec<String> {
        let args = self.runtime_last(keyword);
        serde_json::from_str(args).unwrap_or_else(|e| {
            panic!("deploy/Dockerfile: {keyword} {args} is not exec (JSON) form: {e}")
        })
    }
}

#[test]
fn dockerfile_builds_both_binaries_with_the_pinned_toolchain() {
    let dockerfile = Dockerfile::load();
    let toolchain: toml::Table = toml::from_str(&read(&repo_root().join("rust-toolchain.toml")))
        .expect("rust-toolchain.toml parses");
    let channel = toolchain["toolchain"]["channel"]
        .as_str()
        .expect("rust-toolchain.toml has a channel");

    let froms = dockerfile.all("FROM");
    let builder = froms
        .iter()
        .find(|from| from.starts_with("rust:"))
        .expect("deploy/Dockerfile builds FROM rust:VERSION-bookworm");
    let image = builder.split_whitespace().next().unwrap_or_default();
    assert_eq!(
        image,
        format!("rust:{channel}-bookworm"),
        "the build image must carry rust-toolchain.toml's channel"
    );
    let runtime = froms.last().expect("a FROM");
    assert!(
        runtime.starts_with("debian:bookworm-slim"),
        "runtime image: {runtime}"
    );

    let runs = dockerfile.all("RUN");
    for (step, needle) in [("cook", "cargo chef cook"), ("build", "cargo build")] {
        let run = runs
            .iter()
            .find(|run| run.contains(needle))
            .unwrap_or_else(|| panic!("deploy/Dockerfile has no `{needle}` step"));
        let words: Vec<&str> = run.split_whitespace().collect();
        for flag in ["--release", "--locked"] {
            assert!(words.contains(&flag), "the {step} step lacks {flag}: {run}");
        }
        for package in ["gateway", "migration"] {
            assert!(
                words.windows(2).any(|w| w == ["-p", package]),
                "the {step} step does not build -p {package}: {run}"
            );
        }
    }
    let copies = dockerfile.runtime("COPY");
    for binary in ["gateway", "migration"] {
        assert!(
            copies.iter().any(|c| c.starts_with("--from=builder")
                && c.contains(&format!("/target/release/{binary} "))),
            "the image does not copy the {binary} binary: {copies:?}"
        );
    }
}

#[test]
fn dockerfile_gives_the_cook_step_every_patched_dependency() {
    // cargo-chef's recipe carries the workspace's manifests, not the crates
    // `[patch.crates-io]` points at: without them the cook step cannot build.
    let manifest: toml::Table =
        toml::from_str(&read(&repo_root().join("Cargo.toml"))).expect("Cargo.toml parses");
    let patched: Vec<String> = manifest
        .get("patch")
        .and_then(|patch| patch.get("crates-io"))
        .and_then(toml::Value::as_table)
        .into_iter()
        .flat_map(|table| table.values())
        .filter_map(|spec| spec.get("path")?.as_str().map(str::to_owned))
        .collect();
    let dockerfile = Dockerfile::load();
    let cook = dockerfile
        .instructions
        .iter()
        .position(|i| i.keyword == "RUN" && i.args.contains("cargo chef cook"))
        .expect("deploy/Dockerfile has a `cargo chef cook` step");
    let stage = dockerfile.instructions[..cook]
        .iter()
        .rposition(|i| i.keyword == "FROM")
        .expect("the cook step is in a stage");
    let copied: Vec<&str> = dockerfile.instructions[stage..cook]
        .iter()
        .filter(|i| i.keyword == "COPY")
        .map(|i| i.args.as_str())
        .collect();
    for path in &patched {
        assert!(
            copied.iter().any(|args| args
                .split_whitespace()
                .any(|word| path.starts_with(word.trim_end_matches('/')))),
            "{path} (a [patch.crates-io] path) is not copied before `cargo chef cook`: {copied:?}"
        );
    }
}

#[test]
fn dockerfile_exposes_the_gateway_default_ports() {
    let (listen, admin_listen) = defaults();
    let exposed: BTreeSet<u16> = Dockerfile::load()
        .runtime("EXPOSE")
        .into_iter()
        .flat_map(str::split_whitespace)
        .map(|port| {
            let port = port.strip_suffix("/tcp").unwrap_or(port);
            port.parse()
                .unwrap_or_else(|_| panic!("EXPOSE {port}: not a port"))
        })
        .collect();
    assert_eq!(
        exposed,
        BTreeSet::from([listen.port(), admin_listen.port()])
    );
}

#[test]
fn dockerfile_healthcheck_probes_the_admin_healthz_endpoint() {
    let dockerfile = Dockerfile::load();
    let check = dockerfile.runtime_last("HEALTHCHECK");
    let (_, command) = check.split_once("CMD ").expect("HEALTHCHECK … CMD …");
    // `gateway health` probes /-/healthz on the settings' admin address
    // (loopback in the image: `dockerfile_environment_is_read_by_the_gateway`).
    let argv: Vec<String> = serde_json::from_str(command.trim())
        .unwrap_or_else(|e| panic!("the health check is not in exec form ({e}): {command}"));
    assert_eq!(argv, ["gateway", "health"], "{command}");
    let cli = gateway::cli::Cli::try_parse_from(&argv).expect("the health command parses");
    assert!(
        matches!(
            cli.command,
            Some(gateway::cli::Command::Health {
                admin_url: None,
                ready: false,
                ..
            })
        ),
        "{command}"
    );
    assert!(
        !dockerfile
            .runtime("RUN")
            .iter()
            .any(|run| run.contains("curl")),
        "the runtime image needs no curl"
    );
}

#[test]
fn dockerfile_environment_is_read_by_the_gateway() {
    let dockerfile = Dockerfile::load();
    let settings = gateway_settings("deploy/Dockerfile", &dockerfile.env());
    let (listen, admin_listen) = defaults();
    assert_eq!(settings.listen, listen);
    assert_eq!(
        settings.admin_listen, admin_listen,
        "the image keeps the admin API on loopback"
    );

    let copies = dockerfile.runtime("COPY");
    let routes = copies
        .iter()
        .find_map(|c| c.strip_prefix("routes.toml "))
        .expect("the image copies the repository's routes.toml");
    assert_eq!(
        Some(routes.trim()),
        settings.routes.to_str(),
        "GATEWAY_ROUTES must name the copied file"
    );
}

#[test]
fn dockerfile_runs_the_gateway_as_an_unprivileged_user() {
    let dockerfile = Dockerfile::load();
    assert_eq!(dockerfile.uid(), 10001);
    assert_eq!(dockerfile.workdir(), "/var/lib/gateway");
    assert!(
        dockerfile
            .runtime("RUN")
            .iter()
            .any(|run| run.contains("chown") && run.contains("/var/lib/gateway")),
        "the working directory (the default SQLite file's home) must be the user's"
    );
    assert_eq!(dockerfile.exec_form("ENTRYPOINT"), ["gateway"]);
    assert_eq!(dockerfile.exec_form("CMD"), ["serve"]);
}

#[test]
fn dockerignore_keeps_build_output_and_secrets_out_of_the_context() {
    let ignore = read(&deploy_path("Dockerfile.dockerignore"));
    let patterns: BTreeSet<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.trim_end_matches('/'))
        .collect();
    for needed in ["target", ".git", "data", ".env"] {
        assert!(
            patterns.contains(needed),
            "deploy/Dockerfile.dockerignore must exclude {needed}"
        );
    }
    for kept in [
        "Cargo.toml",
        "Cargo.lock",
        "routes.toml",
        "gateway",
        "service",
        "migration",
        "tests",
        "*",
        "**",
    ] {
        assert!(
            !patterns.contains(kept),
            "deploy/Dockerfile.dockerignore must not exclude {kept}: the build needs it"
        );
    }
}
