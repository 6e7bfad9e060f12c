//! The console in a real browser: headless Chromium, driven over WebDriver
//! (chromedriver on a loopback port of its own, `fantoccini` as the client),
//! against a gateway that has recorded real mismatches against the legacy
//! stub. Screenshots are saved under `target/e2e-artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them); without them the test fails and says what to install.

use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use http::{Method, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use test_support::{LegacyStub, Script};

use crate::harness::{GatewayProcess, Launch, eventually, request};
use crate::lifecycle::lifecycle_routes;

/// Where Debian puts the browser and its driver.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to listen, and the browser to start.
const DRIVER_START: Duration = Duration::from_secs(20);

/// How long a page may take to show what the test looks for.
const PAGE_LOAD: Duration = Duration::from_secs(15);
/// Secrets the client sends that no page may show.
const CLIENT_SECRETS: [&str; 3] = ["client-secret-123", "cookie-secret-456", "query-secret-789"];
const ADMIN_TOKEN: &str = "browser-admin-token";

/// chromedriver on a loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    /// Chromium's fresh profile directory.
    profile: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver, or fails saying what to install.
    async fn start() -> Self {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the console's browser test needs Chromium and its WebDriver; \
                 install them with `apt-get install -y chromium chromium-driver` (package {package})"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let mut driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile: tempfile::tempdir().expect("a profile directory"),
        };
        let deadline = tokio::time::Instant::now() + DRIVER_START;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver exited before it listened: {status}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not listen on {port} within {DRIVER_START:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        driver
    }

    /// A browser session: headless Chromium with a fresh profile, a laptop-sized window.
    async fn browser(&self) -> Client {
        let profile = format!("--user-data-dir={}", self.profile.path().display());
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1366,900",
            profile.as_str(),
        ];
        let capabilities = json!({
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        tokio::time::timeout(DRIVER_START, builder.connect(&self.url))
            .await
            .expect("Chromium did not start in time")
            .expect("a WebDriver session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (at most [`PAGE_LOAD`]) for the element at `css`.
async fn wait_for(browser: &Client, css: &str) -> Element {
    browser
        .wait()
        .at_most(PAGE_LOAD)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
}

/// The first element at `css` on the page.
async fn find(browser: &Client, css: &str) -> Element {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
}

/// The first element at `css` within `element`.
async fn find_in(element: &Element, css: &str) -> Element {
    element
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} in the element: {e}"))
}

/// Clicks `element`.
async fn click(element: &Element) {
    element
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking: {e}"));
}

/// The text of `element`.
async fn text(element: &Element) -> String {
    element
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading a text: {e}"))
}

/// The `name` attribute of `element`.
async fn attr(element: &Element, name: &str) -> Option<String> {
    element
        .attr(name)
        .await
        .unwrap_or_else(|e| panic!("reading attribute {name}: {e}"))
}

/// `target/e2e-artifacts/NAME`, the directory created.
fn artifact(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let dir = target.join("e2e-artifacts");
    std::fs::create_dir_all(&dir).expect("creating target/e2e-artifacts");
    dir.join(name)
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(artifact(name), png).expect("saving the screenshot");
}

/// A gateway shadowing `get-user` to the service, a user, and legacy answering it with another name.
struct Scene {
    _legacy: LegacyStub,
    legacy_url: String,
    gateway: GatewayProcess,
    user: Value,
}

/// `GET` the user, with credentials in a header, a cookie and the query that no page may show.
fn user_request(gateway: &GatewayProcess, user: &Value) -> http::Request<Full<Bytes>> {
    let id = user["id"].as_str().expect("an id");
    request(
        Method::GET,
        &gateway.url(&format!(
            "/v1/accounts/users/{id}?token={}",
            CLIENT_SECRETS[2]
        )),
    )
    .header("authorization", format!("Bearer {}", CLIENT_SECRETS[0]))
    .header("cookie", format!("session={}", CLIENT_SECRETS[1]))
    .body(Full::default())
    .expect("a valid request")
}

async fn scene() -> Scene {
    let legacy = LegacyStub::start().await;
    let routes = lifecycle_routes(
        &legacy.url(),
        "target = \"legacy\"\n\
         shadow = { to = \"service\", ignore = [\"/created_at\", \"/updated_at\"] }\n\
         require = { match_rate = 0.99, min_samples = 5 }",
    );
    let gateway = Launch::new(routes).admin_token(ADMIN_TOKEN).start().await;
    let user = gateway.register_user("ada@example.com").await;
    let id = user["id"].as_str().expect("an id").to_owned();
    // Legacy knows the same user under another name: one field differs.
    let mut legacy_user = user.clone();
    legacy_user["full_name"] = json!("Ada King");
    legacy.script(
        &format!("/v1/accounts/users/{id}"),
        Script::json(legacy_user),
    );
    for _ in 0..3 {
        let reply = gateway.send(user_request(&gateway, &user)).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert!(reply.is_from_legacy(), "{reply:?}");
    }
    eventually(
        Duration::from_secs(15),
        "three recorded mismatches",
        || async {
            let reply = gateway
                .admin(Method::GET, "/-/shadow/diffs?route=get-user")
                .await;
            (reply.status == StatusCode::OK
                && reply.json()["items"]
                    .as_array()
                    .is_some_and(|items| items.len() == 3))
            .then_some(())
        },
    )
    .await;
    Scene {
        legacy_url: legacy.url(),
        _legacy: legacy,
        gateway,
        user,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_finds_the_route_and_a_diff_with_the_field_highlighted_and_nothing_redacted_shown()
 {
    let scene = &scene().await;
    in_browser(|browser| async move { walk(&browser, scene).await }).await;
}

/// Runs `walk` in a fresh browser; the browser and its driver are ended even when it panics.
async fn in_browser<Walk: Future<Output = ()>>(walk: impl FnOnce(Client) -> Walk) {
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let walked = AssertUnwindSafe(walk(browser.clone())).catch_unwind().await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = walked {
        std::panic::resume_unwind(panic);
    }
}

/// What an engineer does: sign in, find the route, open its top field's diff.
async fn walk(browser: &Client, scene: &Scene) {
    let gateway = &scene.gateway;
    browser
        .set_window_size(1366, 900)
        .await
        .expect("sizing the window");
    browser
        .goto(&gateway.admin_url("/-/console/"))
        .await
        .expect("opening the console");
    // A token guards the admin API: the console asks for it.
    let token = find(browser, "input[name=token]").await;
    token
        .send_keys(ADMIN_TOKEN)
        .await
        .expect("typing the token");
    click(&find(browser, "form button[type=submit]").await).await;

    let row = wait_for(browser, "tr[data-route=get-user]").await;
    let verdict = find_in(&row, "[data-verdict]").await;
    assert_eq!(
        attr(&verdict, "data-verdict").await.as_deref(),
        Some("not-ready")
    );
    assert_eq!(
        text(&find_in(&row, ".stage").await).await,
        "legacy + shadow"
    );
    find_in(&row, "svg.chart").await;
    screenshot(browser, "console-routes.png").await;
    // Taller, so the screenshots hold the fields and both bodies.
    browser
        .set_window_size(1366, 1400)
        .await
        .expect("sizing the window");

    click(&find_in(&row, "a").await).await;
    let top = wait_for(browser, "#fields tbody tr").await;
    assert_eq!(
        attr(&top, "data-field").await.as_deref(),
        Some("/full_name"),
        "the field to fix first"
    );
    assert!(
        text(&find_in(&top, "td:nth-child(3)").await)
            .await
            .starts_with('3')
    );
    screenshot(browser, "console-route.png").await;

    click(&find_in(&top, "a").await).await;
    wait_for(browser, "mark.differs[data-pointer='/full_name']").await;
    let both = browser
        .find_all(Locator::Css(
            "[data-side] mark.differs[data-pointer='/full_name']",
        ))
        .await
        .expect("marks");
    assert_eq!(both.len(), 2, "highlighted on both sides");
    let (primary, mirror) = (text(&both[0]).await, text(&both[1]).await);
    assert!(
        primary.contains("Ada King") && mirror.contains("Ada Lovelace"),
        "{primary:?} {mirror:?}"
    );
    assert!(!text(&find(browser, "#request-id").await).await.is_empty());
    let source = browser.source().await.expect("the page source");
    let email = scene.user["email"].as_str().expect("an email");
    for hidden in CLIENT_SECRETS.iter().chain([&email]) {
        assert!(
            !source.contains(hidden),
            "{hidden:?} is redacted, yet on the page"
        );
    }
    assert!(
        source.contains("[redacted]"),
        "redacted values are marked as such"
    );
    let target = text(&find(browser, "#request pre").await).await;
    assert!(
        target.starts_with("GET /v1/accounts/users/") && target.ends_with("?token=[redacted]"),
        "{target}"
    );
    screenshot(browser, "console-diff.png").await;
    let png = find(browser, "section.sides")
        .await
        .screenshot()
        .await
        .expect("a screenshot of the answers");
    std::fs::write(artifact("console-diff-bodies.png"), png).expect("saving the screenshot");

    recover(browser, scene).await;
}

/// The engineer accepts the difference (the ignore line the page offers),
/// reloads, and sees the route's new window match.
async fn recover(browser: &Client, scene: &Scene) {
    let gateway = &scene.gateway;
    browser
        .goto(&gateway.admin_url("/-/console/routes/get-user"))
        .await
        .expect("back to the route");
    let line = text(&find(browser, "[data-copy]").await).await;
    assert_eq!(
        line,
        r#"ignore = ["/created_at", "/updated_at", "/full_name"]"#
    );
    gateway.write_routes(&lifecycle_routes(
        &scene.legacy_url,
        &format!(
            "target = \"legacy\"\nshadow = {{ to = \"service\", {line} }}\n\
             require = {{ match_rate = 0.99, min_samples = 5 }}"
        ),
    ));
    let reloaded = gateway.reload().await;
    assert_eq!(reloaded.status, StatusCode::OK, "{reloaded:?}");
    for _ in 0..5 {
        gateway.send(user_request(gateway, &scene.user)).await;
    }
    crate::shadow::summary_when(
        gateway,
        "get-user",
        "five matches under the new rules",
        |s| s["compared"] == 5 && s["matched"] == 5,
    )
    .await;
    browser.refresh().await.expect("reloading the page");
    let verdict = wait_for(browser, "[data-verdict]").await;
    assert_eq!(
        attr(&verdict, "data-verdict").await.as_deref(),
        Some("ready")
    );
    let chart = find(browser, "svg.chart title")
        .await
        .html(true)
        .await
        .expect("text");
    assert!(chart.contains("8 comparisons and 3 mismatches"), "{chart}");
    screenshot(browser, "console-route-recovered.png").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_at_docs_shows_the_accounts_operations_from_this_host_only() {
    let legacy = LegacyStub::start().await;
    let gateway = Launch::new(crate::api_docs::repository_routes(&legacy.url()))
        .start()
        .await;
    let gateway = &gateway;
    in_browser(|browser| async move { read_docs(&browser, gateway).await }).await;
}

/// Opens `/docs` and checks what it shows and what it loaded.
async fn read_docs(browser: &Client, gateway: &GatewayProcess) {
    browser
        .goto(&gateway.url("/docs"))
        .await
        .expect("opening /docs");
    wait_for(browser, ".opblock-summary-path").await;
    let paths = browser
        .find_all(Locator::Css(".opblock-summary-path"))
        .await
        .expect("the operations");
    let mut shown = Vec::new();
    for path in &paths {
        shown.push(text(path).await);
    }
    assert!(
        shown.iter().any(|p| p.starts_with("/v1/accounts/users")),
        "{shown:?}"
    );
    let loaded = browser
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)",
            Vec::new(),
        )
        .await
        .expect("the resources the page loaded");
    let origin = gateway.url("/");
    let loaded: Vec<&str> = loaded
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        loaded.iter().any(|url| url.ends_with("/v1/openapi.json")),
        "{loaded:?}"
    );
    assert!(
        loaded.iter().all(|url| url.starts_with(&origin)),
        "the page loaded something from another host: {loaded:?}"
    );
    screenshot(browser, "docs.png").await;
}
