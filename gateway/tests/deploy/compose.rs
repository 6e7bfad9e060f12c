//! `deploy/docker-compose.yml`, `deploy/routes.compose.toml` and `deploy/.env.example`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use crate::dockerfile::Dockerfile;
use crate::{
    check_migration_environment, defaults, deploy_path, gateway_settings, overlay, parse_routes,
    read, repo_root, str_at, yaml_documents,
};

/// The compose file, as JSON.
fn compose() -> Value {
    let mut documents = yaml_documents(&deploy_path("docker-compose.yml"));
    assert_eq!(
        documents.len(),
        1,
        "deploy/docker-compose.yml is one document"
    );
    documents.remove(0)
}

/// A service of the compose file.
fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose
        .pointer(&format!("/services/{name}"))
        .unwrap_or_else(|| panic!("deploy/docker-compose.yml has no service {name}"))
}

/// The `${NAME…}` references of a compose value: (name, whether it is required).
fn references(value: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let inner = &rest[start + 2..];
        let end = inner
            .find('}')
            .unwrap_or_else(|| panic!("unclosed ${{ in {value}"));
        let expression = &inner[..end];
        let name_end = expression
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(expression.len());
        let required =
            expression[name_end..].starts_with(":?") || expression[name_end..].starts_with('?');
        found.push((expression[..name_end].to_owned(), required));
        rest = &inner[end + 1..];
    }
    found
}

/// `value` with each `${NAME…}` replaced as compose would with a made-up `.env`:
/// its `:-default` when it has one, else `sample-NAME`.
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..];
        let end = inner
            .find('}')
            .unwrap_or_else(|| panic!("unclosed ${{ in {value}"));
        let expression = &inner[..end];
        match expression.split_once(":-") {
            Some((_, default)) => out.push_str(default),
            None => {
                let name = expression
                    .split([':', '?', '-'])
                    .next()
                    .unwrap_or(expression);
                out.push_str(&format!("sample-{}", name.to_ascii_lowercase()));
            }
        }
        rest = &inner[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A service's `environment`, as written (mapping or `NAME=value` list; values must be strings).
fn raw_environment(service: &Value, name: &str) -> Vec<(String, String)> {
    match service.get("environment") {
        None => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| {
                let value = value.as_str().unwrap_or_else(|| {
                    panic!(
                        "compose service {name}: quote {key}'s value ({value}) so it stays a string"
                    )
                });
                (key.clone(), value.to_owned())
            })
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let item = item.as_str().unwrap_or_default();
                let (key, value) = item
                    .split_once('=')
                    .unwrap_or_else(|| panic!("compose service {name}: {item} is not NAME=value"));
                (key.to_owned(), value.to_owned())
            })
            .collect(),
        Some(other) => panic!("compose service {name}: environment is {other}"),
    }
}

/// A service's environment with `${…}` interpolated.
fn environment(service: &Value, name: &str) -> Vec<(String, String)> {
    raw_environment(service, name)
        .into_iter()
        .map(|(key, value)| (key, interpolate(&value)))
        .collect()
}

/// `entrypoint` + `command` of a service (both in exec form).
fn command_line(service: &Value) -> Vec<String> {
    ["entrypoint", "command"]
        .iter()
        .filter_map(|key| service.get(*key))
        .flat_map(|part| {
            part.as_array()
                .unwrap_or_else(|| panic!("write entrypoint and command as lists, not {part}"))
                .iter()
                .map(|word| word.as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The gateway's environment in the compose stack: the image's, then the service's.
fn gateway_environment(compose: &Value) -> Vec<(String, String)> {
    overlay(
        &Dockerfile::load().env(),
        &environment(service(compose, "gateway"), "gateway"),
    )
}

#[test]
fn compose_publishes_the_gateway_default_ports() {
    let compose = compose();
    let settings = gateway_settings("deploy/docker-compose.yml", &gateway_environment(&compose));
    let (listen, admin_listen) = defaults();
    assert_eq!(settings.listen.port(), listen.port());
    assert_eq!(settings.admin_listen.port(), admin_listen.port());

    let ports: Vec<&str> = service(&compose, "gateway")["ports"]
        .as_array()
        .expect("the gateway publishes ports")
        .iter()
        .map(|p| {
            p.as_str()
                .expect("ports as \"[IP:]HOST:CONTAINER\" strings")
        })
        .collect();
    let published = |container: u16| -> Vec<Vec<&str>> {
        ports
            .iter()
            .map(|p| p.split(':').collect::<Vec<_>>())
            .filter(|parts| parts.last().and_then(|c| c.parse::<u16>().ok()) == Some(container))
            .collect()
    };
    assert_eq!(
        published(listen.port()).len(),
        1,
        "the client port {} is published once: {ports:?}",
        listen.port()
    );
    let admin = published(admin_listen.port());
    assert_eq!(
        admin.len(),
        1,
        "the admin port {} is published once: {ports:?}",
        admin_listen.port()
    );
    let host_ip: Option<IpAddr> = (admin[0].len() == 3)
        .then(|| admin[0][0].parse().ok())
        .flatten();
    assert!(
        host_ip.is_some_and(|ip| ip.is_loopback()),
        "the admin port must be published on 127.0.0.1 only: {:?}",
        admin[0]
    );
}

#[test]
fn compose_environment_is_read_by_the_code() {
    let compose = compose();
    let settings = gateway_settings(
        "deploy/docker-compose.yml (gateway)",
        &gateway_environment(&compose),
    );
    assert!(
        !settings.database.run_migrations,
        "the migrate service migrates: the gateway must not (GATEWAY_DATABASE__RUN_MIGRATIONS=false)"
    );
    assert!(
        settings.database.url.starts_with("postgres://"),
        "{}",
        settings.database.redacted_url()
    );
    check_migration_environment(
        "deploy/docker-compose.yml (migrate)",
        &environment(service(&compose, "migrate"), "migrate"),
    );
    let url = |name| {
        environment(service(&compose, name), name)
            .into_iter()
            .find(|(key, _)| key == "DATABASE_URL")
            .map(|(_, value)| value)
    };
    assert_eq!(
        url("gateway"),
        url("migrate"),
        "migrate and the gateway use one database"
    );
    let host = settings
        .database
        .url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_default()
        .to_owned();
    service(&compose, &host);
}

#[test]
fn compose_mounts_a_valid_route_table_where_gateway_routes_points() {
    let compose = compose();
    let settings = gateway_settings("deploy/docker-compose.yml", &gateway_environment(&compose));
    let routes = settings.routes.to_str().expect("a UTF-8 path");
    let volumes = service(&compose, "gateway")["volumes"]
        .as_array()
        .expect("the gateway mounts its route table");
    let source = volumes
        .iter()
        .filter_map(Value::as_str)
        .find_map(|volume| {
            let parts: Vec<&str> = volume.split(':').collect();
            (parts.get(1) == Some(&routes)).then(|| parts[0])
        })
        .unwrap_or_else(|| {
            panic!("no volume is mounted at GATEWAY_ROUTES ({routes}): {volumes:?}")
        });
    let source = source.strip_prefix("./").unwrap_or(source);
    let table = parse_routes(&read(&deploy_path(source)), &format!("deploy/{source}"));

    let legacy = table.legacy().url();
    let host = legacy.host().unwrap_or_default();
    let legacy_service = service(&compose, host);
    let port = legacy.port_u16().unwrap_or(80).to_string();
    let listens: Vec<String> = environment(legacy_service, host)
        .into_iter()
        .filter(|(key, _)| key.ends_with("PORT"))
        .map(|(_, value)| value)
        .collect();
    assert!(
        listens.contains(&port),
        "the route table's legacy URL {legacy} names port {port}, the {host} service listens on {listens:?}"
    );
}

#[test]
fn compose_migrates_once_before_the_gateway_starts() {
    let compose = compose();
    let migrate = service(&compose, "migrate");
    assert_eq!(command_line(migrate), ["migration", "up"]);
    assert_eq!(
        str_at(migrate, "/depends_on/postgres/condition", "migrate"),
        "service_healthy"
    );
    let check = service(&compose, "postgres")
        .pointer("/healthcheck/test")
        .map(Value::to_string)
        .unwrap_or_default();
    assert!(
        check.contains("pg_isready"),
        "postgres needs a pg_isready health check: {check}"
    );

    let gateway = service(&compose, "gateway");
    assert_eq!(
        str_at(gateway, "/depends_on/migrate/condition", "gateway"),
        "service_completed_successfully"
    );
    let serve = command_line(gateway);
    assert!(
        serve.is_empty() || serve == ["serve"],
        "the gateway serves: {serve:?}"
    );
}

#[test]
fn compose_builds_both_services_from_deploy_dockerfile() {
    let compose = compose();
    let image = |name| str_at(service(&compose, name), "/image", name).to_owned();
    assert_eq!(
        image("gateway"),
        image("migrate"),
        "one image holds both binaries"
    );
    for name in ["gateway", "migrate"] {
        let context = str_at(service(&compose, name), "/build/context", name);
        let dockerfile = str_at(service(&compose, name), "/build/dockerfile", name);
        let context = deploy_path(context);
        assert_eq!(
            context.canonicalize().ok(),
            repo_root().canonicalize().ok(),
            "{name}: the build context is the repository root"
        );
        assert!(
            context.join(dockerfile).is_file(),
            "{name}: no {dockerfile} in the context"
        );
    }
}

#[test]
fn compose_commits_no_secrets() {
    let compose = compose();
    let text = read(&deploy_path("docker-compose.yml"));
    let example = read(&deploy_path(".env.example"));
    let example: BTreeSet<&str> = example
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();

    for name in ["postgres", "migrate", "gateway"] {
        for (key, value) in raw_environment(service(&compose, name), name) {
            let secret = ["PASSWORD", "TOKEN", "SECRET"]
                .iter()
                .any(|s| key.contains(s));
            if secret {
                assert!(
                    value.starts_with("${")
                        && value.ends_with('}')
                        && references(&value).len() == 1,
                    "{name}: {key} must come from the environment (${{{key}:?…}}), not the file"
                );
            }
            if key == "DATABASE_URL" {
                let userinfo = value
                    .split_once("://")
                    .and_then(|(_, rest)| rest.rsplit_once('@'))
                    .map_or("", |(userinfo, _)| userinfo);
                let password = userinfo
                    .split_once(':')
                    .map_or("", |(_, password)| password);
                assert!(
                    password.starts_with("${") && password.ends_with('}'),
                    "{name}: DATABASE_URL's password must be a ${{…}} reference, not {password:?}"
                );
            }
        }
    }
    let referenced = references(&text);
    for (name, required) in &referenced {
        assert!(
            !required || example.contains(name.as_str()),
            "deploy/.env.example must show {name}, which docker-compose.yml requires"
        );
    }
    for name in &example {
        assert!(
            referenced.iter().any(|(r, _)| r == name),
            "deploy/.env.example sets {name}, which docker-compose.yml never uses"
        );
    }
}

#[test]
fn compose_stops_the_gateway_after_its_drain() {
    let compose = compose();
    let settings = gateway_settings("deploy/docker-compose.yml", &gateway_environment(&compose));
    let stop = str_at(
        service(&compose, "gateway"),
        "/stop_grace_period",
        "gateway",
    );
    let stop: Duration = humantime::parse_duration(stop).expect("stop_grace_period is a duration");
    assert!(
        stop > settings.server.shutdown_grace(),
        "stop_grace_period ({stop:?}) must exceed the drain ({:?}), or Docker kills requests in flight",
        settings.server.shutdown_grace()
    );
}
