//! Live reload of routes.toml: on file change (a plain file or a ConfigMap
//! volume's `..data` swap) and on `POST /-/reload`, once per edit and never on
//! a mere read; a bad file is rejected with its location and the table in
//! force stays; a reload under load fails no request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{Method, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use test_support::{LEGACY_USER_EMAIL, LegacyStub};

use crate::harness::{
    GatewayProcess, Launch, Reply, eventually, request, routes, run_gateway, send,
};

/// How long a test waits for reloads that must not come: many debounce periods.
const QUIET: Duration = Duration::from_millis(2000);
/// How soon an edit of the file must be in force.
const EDIT_TAKES_EFFECT: Duration = Duration::from_secs(1);

/// `gateway_route_reloads_total` by result; a series not exported counts 0.
#[derive(Debug, Default, PartialEq, Eq)]
struct ReloadCounts {
    reloaded: u64,
    unchanged: u64,
    rejected: u64,
}

/// The reload counters from `GET /-/metrics`.
async fn reload_counts(gateway: &GatewayProcess) -> ReloadCounts {
    const SERIES: &str = "gateway_route_reloads_total{result=\"";
    let reply = gateway.admin(Method::GET, "/-/metrics").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let text = String::from_utf8_lossy(&reply.body);
    let mut counts = ReloadCounts::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(SERIES) else {
            continue;
        };
        let (result, value) = rest
            .split_once("\"} ")
            .unwrap_or_else(|| panic!("an unexpected series line: {line:?}"));
        let value: u64 = value
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("not a count ({e}): {line:?}"));
        match result {
            "reloaded" => counts.reloaded = value,
            "unchanged" => counts.unchanged = value,
            "rejected" => counts.rejected = value,
            other => panic!("an unknown reload result {other:?}: {line:?}"),
        }
    }
    counts
}

/// `good` plus a route whose target does not exist; returns the text and that line's number.
fn with_bad_target(good: &str) -> (String, usize) {
    let bad = format!(
        "{good}\n[[routes]]\nname = \"broken\"\nmatch = {{ prefix = \"/broken\" }}\ntarget = \"nowhere\"\n"
    );
    let line = bad
        .lines()
        .position(|l| l.contains("\"nowhere\""))
        .expect("the bad line")
        + 1;
    (bad, line)
}

/// Asserts `problem` reads `…routes.toml:LINE:COLUMN: message`.
fn assert_located(problem: &str, line: usize) {
    let marker = format!("routes.toml:{line}:");
    let rest = problem
        .find(&marker)
        .map(|at| &problem[at + marker.len()..])
        .unwrap_or_else(|| panic!("no `{marker}` in {problem:?}"));
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert!(
        !column.is_empty() && rest[column.len()..].starts_with(": "),
        "no column after `{marker}` in {problem:?}"
    );
    assert!(problem.contains("nowhere"), "{problem:?}");
}

async fn version(gateway: &GatewayProcess) -> Value {
    gateway.routes_doc().await["table"]["version"].clone()
}

/// Answered by the service (not legacy) with `id`'s user.
fn is_service_user(reply: &Reply, id: &str) -> bool {
    reply.status == StatusCode::OK && !reply.is_from_legacy() && reply.json()["id"] == id
}

#[tokio::test]
async fn editing_the_file_flips_a_route_and_a_bad_edit_keeps_the_old_table() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;
    let user = gateway.register_user("flip@example.com").await;
    let id = user["id"].as_str().expect("an id");
    let path = format!("/v1/accounts/users/{id}");
    assert!(gateway.get(&path).await.is_from_legacy());
    let first_version = version(&gateway).await;

    let good = routes(&stub.url(), "service");
    gateway.write_routes(&good);
    eventually(
        Duration::from_secs(10),
        "the edited routes file takes effect",
        || async { is_service_user(&gateway.get(&path).await, id).then_some(()) },
    )
    .await;
    let doc = gateway.routes_doc().await;
    let good_version = doc["table"]["version"].clone();
    assert_ne!(good_version, first_version, "{doc}");
    assert_eq!(doc["reloads"]["succeeded"], 1, "{doc}");
    assert_eq!(doc["reloads"]["failed"], 0, "{doc}");

    let (bad, line) = with_bad_target(&good);
    gateway.write_routes(&bad);
    let doc = gateway.routes_doc_after_rejections(1).await;
    let failure = &doc["reloads"]["last_error"];
    assert_eq!(failure["trigger"], "file-change", "{doc}");
    let problems = failure["problems"].as_array().expect("a list of problems");
    assert_eq!(problems.len(), 1, "{doc}");
    assert_located(problems[0].as_str().unwrap_or_default(), line);
    assert_eq!(
        doc["table"]["version"], good_version,
        "the good table stays"
    );
    assert_eq!(doc["reloads"]["succeeded"], 1, "{doc}");

    assert!(is_service_user(&gateway.get(&path).await, id));
    assert!(gateway.get("/broken/x").await.is_from_legacy());
}

/// Reading the file (`cat`, `gateway check`, a backup) cannot change it: no
/// reload may follow, nor may a reload's own read of the file start another.
#[tokio::test]
async fn reading_the_routes_file_reloads_nothing() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;
    let path = gateway
        .routes_path()
        .to_str()
        .expect("a UTF-8 path")
        .to_owned();

    for _ in 0..3 {
        std::fs::read(gateway.routes_path()).expect("reading routes.toml");
        let (status, stdout, stderr) = run_gateway(&["check", &path]).await;
        assert!(status.success(), "{status}: {stdout}{stderr}");
    }
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        reload_counts(&gateway).await,
        ReloadCounts::default(),
        "reads started reloads"
    );
    let doc = gateway.routes_doc().await;
    assert_eq!(doc["reloads"]["succeeded"], 0, "{doc}");
    assert_eq!(doc["reloads"]["failed"], 0, "{doc}");

    let reloaded = gateway.reload().await;
    assert_eq!(reloaded.status, StatusCode::OK, "{reloaded:?}");
    assert_eq!(reloaded.json()["outcome"], "unchanged", "{reloaded:?}");
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        reload_counts(&gateway).await,
        ReloadCounts {
            unchanged: 1,
            ..ReloadCounts::default()
        },
        "the admin reload's read of the file started more reloads"
    );
}

/// Edits the file of `gateway` (started on `routes(legacy, "legacy")`) and
/// asserts one reload, within [`EDIT_TAKES_EFFECT`], and no other after it.
async fn assert_an_edit_reloads_once(gateway: &GatewayProcess, legacy_url: &str) {
    let before = version(gateway).await;
    gateway.write_routes(&routes(legacy_url, "service"));
    eventually(EDIT_TAKES_EFFECT, "the edit is reloaded", || async {
        (reload_counts(gateway).await.reloaded == 1).then_some(())
    })
    .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        reload_counts(gateway).await,
        ReloadCounts {
            reloaded: 1,
            ..ReloadCounts::default()
        },
        "one edit, one reload"
    );
    let doc = gateway.routes_doc().await;
    assert_ne!(doc["table"]["version"], before, "{doc}");
    assert_eq!(doc["reloads"]["succeeded"], 1, "{doc}");
    assert_eq!(doc["reloads"]["failed"], 0, "{doc}");
}

#[tokio::test]
async fn an_edit_reloads_within_a_second_and_once() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy")).start().await;
    assert_an_edit_reloads_once(&gateway, &stub.url()).await;
}

/// Kubernetes updates a mounted ConfigMap by swapping the `..data` symlink
/// that `routes.toml -> ..data/routes.toml` goes through; the file itself is
/// never written.
#[tokio::test]
async fn a_configmap_swap_reloads_within_a_second_and_once() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy"))
        .configmap_layout()
        .start()
        .await;
    assert!(
        gateway.routes_path().is_symlink(),
        "{}",
        gateway.routes_path().display()
    );
    assert_an_edit_reloads_once(&gateway, &stub.url()).await;
}

#[tokio::test]
async fn admin_reload_swaps_the_table_and_refuses_a_bad_file() {
    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy"))
        .without_file_watch()
        .start()
        .await;
    let user = gateway.register_user("admin-reload@example.com").await;
    let id = user["id"].as_str().expect("an id");
    let path = format!("/v1/accounts/users/{id}");
    let first_version = version(&gateway).await;

    let good = routes(&stub.url(), "service");
    gateway.write_routes(&good);
    assert!(
        gateway.get(&path).await.is_from_legacy(),
        "without the watcher, nothing changes before the reload"
    );

    let reloaded = gateway.reload().await;
    assert_eq!(reloaded.status, StatusCode::OK, "{reloaded:?}");
    let outcome = reloaded.json();
    assert_eq!(outcome["outcome"], "reloaded", "{outcome}");
    assert_ne!(outcome["version"], first_version, "{outcome}");
    assert_eq!(version(&gateway).await, outcome["version"]);
    assert!(is_service_user(&gateway.get(&path).await, id));

    let again = gateway.reload().await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.json()["outcome"], "unchanged");

    let (bad, line) = with_bad_target(&good);
    gateway.write_routes(&bad);
    let refused = gateway.reload().await;
    let problem = test_support::assert_problem(
        refused.status,
        &refused.headers,
        &refused.body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-route-table",
    );
    let problems = problem["problems"].as_array().expect("a list of problems");
    assert_located(problems[0].as_str().unwrap_or_default(), line);

    let doc = gateway.routes_doc().await;
    assert_eq!(doc["reloads"]["failed"], 1, "{doc}");
    assert_eq!(doc["reloads"]["succeeded"], 1, "{doc}");
    assert_eq!(doc["reloads"]["last_error"]["trigger"], "admin", "{doc}");
    assert_eq!(doc["table"]["version"], outcome["version"], "{doc}");
    assert!(is_service_user(&gateway.get(&path).await, id));
    assert!(gateway.get("/broken/x").await.is_from_legacy());

    assert!(
        gateway.routes_path().exists(),
        "the file itself is left as the operator wrote it"
    );
}

/// An operator who reverts a rejected edit has a healthy file again: the
/// rejection must not stay on `/-/routes` (and `gateway status`) as the last error.
#[tokio::test]
async fn reverting_a_bad_edit_clears_the_reported_error() {
    let stub = LegacyStub::start().await;
    let good = routes(&stub.url(), "legacy");
    let gateway = Launch::new(good.clone()).without_file_watch().start().await;

    let (bad, _) = with_bad_target(&good);
    gateway.write_routes(&bad);
    let refused = gateway.reload().await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{refused:?}"
    );
    assert!(gateway.routes_doc().await["reloads"]["last_error"].is_object());

    gateway.write_routes(&good);
    let reverted = gateway.reload().await;
    assert_eq!(reverted.status, StatusCode::OK, "{reverted:?}");
    assert_eq!(reverted.json()["outcome"], "unchanged");

    let doc = gateway.routes_doc().await;
    assert_eq!(doc["reloads"]["failed"], 1, "{doc}");
    assert!(
        doc["reloads"]["last_error"].is_null(),
        "the file in place is valid again, yet /-/routes still reports: {doc}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_under_load_fails_no_request() {
    const CLIENTS: usize = 4;
    const PER_CLIENT: usize = 100;
    const FLIPS: usize = 10;
    const BETWEEN_FLIPS: usize = 25;

    let stub = LegacyStub::start().await;
    let gateway = Launch::new(routes(&stub.url(), "legacy"))
        .without_file_watch()
        .start()
        .await;
    let user = gateway.register_user("load@example.com").await;
    let id = user["id"].as_str().expect("an id").to_owned();
    let url = gateway.url(&format!("/v1/accounts/users/{id}"));

    let (progress, mut completed) = tokio::sync::watch::channel(0_usize);
    let progress = Arc::new(progress);
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (client, url, progress, stop) = (
            gateway.client(),
            url.clone(),
            progress.clone(),
            stop.clone(),
        );
        clients.spawn(async move {
            let mut replies = Vec::new();
            while replies.len() < PER_CLIENT && !stop.load(Ordering::SeqCst) {
                let get = request(Method::GET, &url)
                    .body(Full::default())
                    .expect("a valid request");
                replies.push(send(&client, get).await);
                progress.send_modify(|n| *n += 1);
            }
            replies
        });
    }

    for flip in 1..=FLIPS {
        let target = if flip % 2 == 1 { "service" } else { "legacy" };
        tokio::time::timeout(
            Duration::from_secs(20),
            completed.wait_for(|n| *n >= flip * BETWEEN_FLIPS),
        )
        .await
        .expect("the clients stalled")
        .expect("the clients are gone");
        gateway.write_routes(&routes(&stub.url(), target));
        let reloaded = gateway.reload().await;
        assert_eq!(reloaded.status, StatusCode::OK, "flip {flip}: {reloaded:?}");
        assert_eq!(reloaded.json()["outcome"], "reloaded", "flip {flip}");
    }
    // Some traffic after the last flip too, then stop.
    tokio::time::timeout(
        Duration::from_secs(20),
        completed.wait_for(|n| *n >= (FLIPS + 1) * BETWEEN_FLIPS),
    )
    .await
    .expect("the clients stalled")
    .expect("the clients are gone");
    stop.store(true, Ordering::SeqCst);

    let mut replies = Vec::new();
    while let Some(joined) = clients.join_next().await {
        replies.extend(joined.expect("a client task failed"));
    }
    let mut from_legacy = 0;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let email = &reply.json()["email"];
        if reply.is_from_legacy() {
            from_legacy += 1;
            assert_eq!(email, LEGACY_USER_EMAIL, "{reply:?}");
        } else {
            assert_eq!(email, "load@example.com", "{reply:?}");
        }
    }
    let total = replies.len();
    assert!(
        ((FLIPS + 1) * BETWEEN_FLIPS..=CLIENTS * PER_CLIENT).contains(&total),
        "{total}"
    );
    assert!(
        from_legacy > 0 && from_legacy < total,
        "both sides answered: {from_legacy} of {total} from legacy"
    );
    assert_eq!(stub.requests(), from_legacy);
    assert_eq!(
        gateway.routes_doc().await["reloads"]["succeeded"],
        FLIPS,
        "every flip was a reload"
    );
}
