//! The gateway as a child process, and an HTTP client to talk to it.
//!
//! [`Launch`] writes a `routes.toml` into a temporary directory (a plain
//! file, or a Kubernetes ConfigMap volume's symlinks), starts the
//! real `gateway` binary on ephemeral ports with a SQLite database of its own
//! in that directory, and waits for its one `gateway ready listen=… admin_listen=…`
//! line. [`GatewayProcess`] then sends requests to either listener, rewrites
//! and reloads the route table, signals the process, and kills it when dropped.
//!
//! The binary: Cargo sets `CARGO_BIN_EXE_<name>` only for the integration
//! tests of the package that owns the binary, so this suite asks Cargo to
//! build it (a no-op after `cargo test --workspace`) and takes the path Cargo
//! reports. `E2E_GATEWAY_BIN` names a prebuilt binary instead.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::time::Instant;

/// How long the gateway may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long any one request may take before the test fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How often [`eventually`] probes.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The header the gateway sets on responses it made itself.
pub(crate) const GATEWAY_ERROR: &str = "x-gateway-error";

/// A route table for tests: `/v1/accounts` and below go to the service, except
/// `GET /v1/accounts/users/{id}`, which goes to `get_user` (`"legacy"` or
/// `"service"`); everything else goes to legacy at `legacy_url`, which must
/// answer within `timeout`.
pub(crate) fn routes_toml(legacy_url: &str, timeout: &str, get_user: &str) -> String {
    test_support::RoutesToml::new(legacy_url)
        .connect_timeout("1s")
        .legacy_timeout(timeout)
        .default_target("legacy")
        .accounts_to_service()
        .get_user(&format!("target = \"{get_user}\""))
        .build()
}

/// [`routes_toml`] with a 10 s legacy timeout.
pub(crate) fn routes(legacy_url: &str, get_user: &str) -> String {
    routes_toml(legacy_url, "10s", get_user)
}

/// Polls `probe` until it returns `Some`, and returns that.
///
/// # Panics
///
/// When `within` elapses first; the message names `what`.
pub(crate) async fn eventually<T, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A response with its body read.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

impl Reply {
    /// Reads the whole of `response`.
    ///
    /// # Errors
    ///
    /// When its body cannot be read to the end.
    pub(crate) async fn read(
        response: http::Response<hyper::body::Incoming>,
    ) -> Result<Self, hyper::Error> {
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Self {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        })
    }

    /// The header's value, if present and text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the legacy stub made this response.
    pub(crate) fn is_from_legacy(&self) -> bool {
        self.header(test_support::LEGACY_HEADER) == Some("1")
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {self:?}"))
    }

    /// The legacy stub's echo of the request it received.
    pub(crate) fn echo(&self) -> Value {
        assert!(
            self.is_from_legacy(),
            "expected the legacy stub's echo: {self:?}"
        );
        self.json()
    }

    /// Asserts a problem+json the gateway made itself (`x-gateway-error: code`); returns it.
    pub(crate) fn gateway_problem(&self, status: StatusCode, code: &str) -> Value {
        let problem =
            test_support::assert_problem(self.status, &self.headers, &self.body, status, code);
        assert_eq!(self.header(GATEWAY_ERROR), Some(code), "{self:?}");
        assert!(!self.is_from_legacy(), "{self:?}");
        problem
    }
}

/// An HTTP/1.1 client with a connection pool.
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A new pooled HTTP/1.1 client.
pub(crate) fn http1_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A client that speaks HTTP/2 without TLS from the first byte (h2c prior knowledge).
pub(crate) fn h2c_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// A request builder for `method` on `url`.
pub(crate) fn request(method: Method, url: &str) -> http::request::Builder {
    Request::builder().method(method).uri(url)
}

/// Sends `request` with `client` and reads the whole answer.
///
/// # Panics
///
/// When no complete response arrives within 20 s.
pub(crate) async fn send(client: &HttpClient, request: Request<Full<Bytes>>) -> Reply {
    let target = format!("{} {}", request.method(), request.uri());
    let exchange = async {
        let response = client
            .request(request)
            .await
            .unwrap_or_else(|e| panic!("{target}: no response: {e:?}"));
        Reply::read(response)
            .await
            .unwrap_or_else(|e| panic!("{target}: reading the body: {e:?}"))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{target}: no complete answer within {REQUEST_TIMEOUT:?}"))
}

/// The gateway binary, built by Cargo on first use.
///
/// # Panics
///
/// When the build fails (every test reports the same failure).
fn gateway_binary() -> PathBuf {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY
        .get_or_init(|| match std::env::var_os("E2E_GATEWAY_BIN") {
            Some(path) => Ok(PathBuf::from(path)),
            None => build_gateway(),
        })
        .clone()
        .unwrap_or_else(|why| panic!("{why}"))
}

/// Builds the workspace's binaries the way `cargo test --workspace` resolves
/// features (dev-dependencies included, hence `--tests`), so that every
/// dependency is shared with the test build instead of compiled a second
/// time with other features; after `cargo test --workspace` it is a no-op.
fn build_gateway() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let mut command = Command::new(cargo);
    command
        .args(["build", "--workspace", "--bins", "--tests", "--locked"])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(&manifest)
        .stdin(Stdio::null());
    // Cargo gives this test process the variables it sets for a crate
    // (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, …). Build scripts such as
    // ring's rerun when those change, so inheriting them would make this
    // build and the outer `cargo test` rebuild each other's dependencies.
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        let set_by_cargo_for_crates = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_"]
            .iter()
            .any(|prefix| name_text.starts_with(prefix))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&name_text.as_ref());
        if set_by_cargo_for_crates {
            command.env_remove(&name);
        }
    }
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let output = command
        .output()
        .map_err(|e| format!("running cargo to build the gateway: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "building the gateway failed ({}):\n{stderr}",
            output.status
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact"
                && message["target"]["name"] == "gateway"
                && message["target"]["kind"][0] == "bin"
                && message["profile"]["test"] == false
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("cargo reported no `gateway` executable:\n{stderr}"))
}

/// The text a child writes to one pipe, collected by a thread until the pipe closes.
struct Captured {
    text: Arc<Mutex<String>>,
    thread: Option<JoinHandle<()>>,
}

impl Captured {
    fn start(source: impl Read + Send + 'static) -> Self {
        let text = Arc::new(Mutex::new(String::new()));
        let sink = text.clone();
        let thread = std::thread::spawn(move || {
            for line in BufReader::new(source).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut sink) = sink.lock() {
                    sink.push_str(&line);
                    sink.push('\n');
                }
            }
        });
        Self {
            text,
            thread: Some(thread),
        }
    }

    /// What was collected so far.
    fn snapshot(&self) -> String {
        self.text.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Everything, once the child has exited (its end of the pipe is then closed).
    fn finish(&mut self) -> String {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.snapshot()
    }
}

/// How to start a gateway: the route table, extra environment, the admin address.
pub(crate) struct Launch {
    routes: String,
    layout: Layout,
    env: Vec<(String, String)>,
    admin_listen: String,
    admin_token: Option<String>,
}

/// How the routes file sits in the gateway's directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// A plain `routes.toml`.
    File,
    /// A Kubernetes ConfigMap volume: `routes.toml -> ..data/routes.toml`,
    /// `..data -> ..<version>/`, where the kubelet swaps `..data` atomically.
    ConfigMap,
}

/// The routes file's name in the gateway's directory.
const ROUTES_FILE: &str = "routes.toml";

impl Layout {
    /// Writes `routes` into `dir` in this layout; returns the path the gateway reads.
    fn write_first(self, dir: &Path, routes: &str) -> PathBuf {
        let path = dir.join(ROUTES_FILE);
        match self {
            Self::File => std::fs::write(&path, routes).expect("writing routes.toml"),
            Self::ConfigMap => {
                swap_configmap_data(dir, routes);
                std::os::unix::fs::symlink(format!("..data/{ROUTES_FILE}"), &path)
                    .expect("linking routes.toml to ..data/routes.toml");
            }
        }
        path
    }
}

/// Publishes `routes` into the ConfigMap volume at `dir` as the kubelet does:
/// a new `..<version>` directory, a `..data_tmp` link to it renamed over
/// `..data`, then the old directory removed.
fn swap_configmap_data(dir: &Path, routes: &str) {
    static VERSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let version = format!(
        "..2026_01_01_00_00_00.{}",
        VERSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let data = dir.join("..data");
    let old = std::fs::read_link(&data).ok();
    std::fs::create_dir(dir.join(&version)).expect("creating the ConfigMap version directory");
    std::fs::write(dir.join(&version).join(ROUTES_FILE), routes)
        .expect("writing the ConfigMap's routes.toml");
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(&version, &tmp).expect("linking ..data_tmp");
    std::fs::rename(&tmp, &data).expect("renaming ..data_tmp over ..data");
    if let Some(old) = old {
        std::fs::remove_dir_all(dir.join(old)).expect("removing the old ConfigMap version");
    }
}

/// A child process started by [`Launch`], with its output collected.
struct Spawned {
    child: Child,
    dir: tempfile::TempDir,
    routes_path: PathBuf,
    layout: Layout,
    stderr: Captured,
    /// The ready line's addresses, or why stdout closed without one.
    ready: tokio::sync::oneshot::Receiver<Result<(SocketAddr, SocketAddr), String>>,
}

impl Launch {
    /// A gateway serving `routes` (the text of `routes.toml`).
    pub(crate) fn new(routes: impl Into<String>) -> Self {
        Self {
            routes: routes.into(),
            layout: Layout::File,
            env: Vec::new(),
            admin_listen: "127.0.0.1:0".to_owned(),
            admin_token: None,
        }
    }

    /// Sets an environment variable of the process.
    pub(crate) fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Turns off the routes-file watcher, so that only `POST /-/reload` reloads.
    pub(crate) fn without_file_watch(self) -> Self {
        self.env("GATEWAY_SERVER__WATCH_ROUTES", "false")
    }

    /// Serves the routes from a Kubernetes-style ConfigMap volume
    /// (`routes.toml -> ..data/routes.toml`); [`GatewayProcess::write_routes`]
    /// then swaps `..data` as the kubelet does.
    pub(crate) fn configmap_layout(mut self) -> Self {
        self.layout = Layout::ConfigMap;
        self
    }

    /// Sets `GATEWAY_ADMIN_TOKEN`; the admin helpers then send it.
    pub(crate) fn admin_token(mut self, token: &str) -> Self {
        self.admin_token = Some(token.to_owned());
        self.env("GATEWAY_ADMIN_TOKEN", token)
    }

    /// `--admin-listen` (default `127.0.0.1:0`).
    pub(crate) fn admin_listen(mut self, addr: &str) -> Self {
        self.admin_listen = addr.to_owned();
        self
    }

    fn spawn(&self) -> Spawned {
        let dir = tempfile::tempdir().expect("a temporary directory for the gateway");
        let routes_path = self.layout.write_first(dir.path(), &self.routes);

        let mut command = Command::new(gateway_binary());
        command
            .arg("serve")
            .arg("--routes")
            .arg(&routes_path)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                &self.admin_listen,
            ])
            // No gateway.toml or .env of the developer's can leak in.
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("GATEWAY_") {
                command.env_remove(name);
            }
        }
        command.env_remove("RUST_LOG").env(
            "DATABASE_URL",
            format!("sqlite://{}/gateway.sqlite?mode=rwc", dir.path().display()),
        );
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("starting the gateway binary");

        let stderr = Captured::start(child.stderr.take().expect("the gateway's stderr"));
        let stdout = child.stdout.take().expect("the gateway's stdout");
        let (tell, ready) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = match lines.next() {
                Some(Ok(line)) => parse_ready_line(&line)
                    .ok_or_else(|| format!("unexpected first line on stdout: {line:?}")),
                Some(Err(e)) => Err(format!("reading stdout: {e}")),
                None => Err("stdout closed without a ready line".to_owned()),
            };
            let _ = tell.send(first);
            // Keep draining so the gateway never blocks on a full pipe.
            for _ in lines {}
        });
        Spawned {
            child,
            dir,
            routes_path,
            layout: self.layout,
            stderr,
            ready,
        }
    }

    /// Starts the gateway and waits for it to be ready.
    ///
    /// # Panics
    ///
    /// When it does not print its ready line within 30 s; the message has its stderr.
    pub(crate) async fn start(self) -> GatewayProcess {
        self.spawn()
            .until_ready(self.admin_token)
            .await
            .unwrap_or_else(|why| panic!("{why}"))
    }

    /// Starts every gateway of `launches` at once (all processes first, then
    /// waits for each), as replicas of a fleet start.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start), for the first that does not become ready.
    pub(crate) async fn start_together(launches: Vec<Self>) -> Vec<GatewayProcess> {
        let spawned: Vec<_> = launches
            .into_iter()
            .map(|launch| (launch.spawn(), launch.admin_token))
            .collect();
        let mut outcomes = Vec::with_capacity(spawned.len());
        for (spawned, admin_token) in spawned {
            outcomes.push(spawned.until_ready(admin_token).await);
        }
        // Every process is waited for first: one that failed is killed, and the
        // started ones are killed when the panic drops them.
        outcomes
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|why| panic!("{why}"))
    }

    /// Starts the gateway expecting it to refuse: returns its exit status and stderr.
    ///
    /// # Panics
    ///
    /// When it becomes ready instead, or has not exited within 30 s.
    pub(crate) async fn start_expecting_failure(self) -> (ExitStatus, String) {
        let mut spawned = self.spawn();
        if let Ok(Ok(Ok(addresses))) = tokio::time::timeout(READY_TIMEOUT, &mut spawned.ready).await
        {
            let _ = spawned.child.kill();
            let _ = spawned.child.wait();
            panic!("the gateway started on {addresses:?} although it should have refused");
        }
        let status = wait_for_exit(&mut spawned.child, READY_TIMEOUT, &spawned.stderr).await;
        (status, spawned.stderr.finish())
    }
}

impl Spawned {
    /// Waits for the ready line; without one within 30 s, kills the process
    /// and says why, with its stderr.
    async fn until_ready(mut self, admin_token: Option<String>) -> Result<GatewayProcess, String> {
        let ready = tokio::time::timeout(READY_TIMEOUT, &mut self.ready).await;
        let (listen, admin_listen) = match ready {
            Ok(Ok(Ok(addresses))) => addresses,
            outcome => {
                let _ = self.child.kill();
                let status = self.child.wait();
                let why = match outcome {
                    Ok(Ok(Err(why))) => why,
                    Err(_) => format!("no ready line within {READY_TIMEOUT:?}"),
                    Ok(_) => "the stdout reader went away".to_owned(),
                };
                return Err(format!(
                    "the gateway did not start: {why}; exit: {status:?}\n--- stderr ---\n{}",
                    self.stderr.finish()
                ));
            }
        };
        Ok(GatewayProcess {
            child: self.child,
            dir: self.dir,
            routes_path: self.routes_path,
            layout: self.layout,
            stderr: self.stderr,
            listen,
            admin_listen,
            admin_token,
            client: http1_client(),
        })
    }
}

/// `gateway ready listen=ADDR admin_listen=ADDR` → the two addresses.
fn parse_ready_line(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let rest = line.strip_prefix("gateway ready ")?;
    let mut listen = None;
    let mut admin = None;
    for field in rest.split_whitespace() {
        match field.split_once('=')? {
            ("listen", addr) => listen = addr.parse().ok(),
            ("admin_listen", addr) => admin = addr.parse().ok(),
            _ => {}
        }
    }
    Some((listen?, admin?))
}

async fn wait_for_exit(child: &mut Child, within: Duration, stderr: &Captured) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() < deadline => tokio::time::sleep(POLL_INTERVAL).await,
            Ok(None) => panic!(
                "the gateway has not exited within {within:?}\n--- stderr ---\n{}",
                stderr.snapshot()
            ),
            Err(e) => panic!("waiting for the gateway: {e}"),
        }
    }
}

/// A running gateway; killed when dropped.
pub(crate) struct GatewayProcess {
    child: Child,
    dir: tempfile::TempDir,
    routes_path: PathBuf,
    layout: Layout,
    stderr: Captured,
    listen: SocketAddr,
    admin_listen: SocketAddr,
    admin_token: Option<String>,
    client: HttpClient,
}

impl GatewayProcess {
    /// The client listener's address.
    pub(crate) fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// `http://LISTEN` + `path_and_query`.
    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.listen)
    }

    /// `http://ADMIN_LISTEN` + `path`.
    pub(crate) fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_listen)
    }

    /// A pooled HTTP/1.1 client (a clone shares the pool).
    pub(crate) fn client(&self) -> HttpClient {
        self.client.clone()
    }

    /// Sends `request` on the shared client.
    pub(crate) async fn send(&self, request: Request<Full<Bytes>>) -> Reply {
        send(&self.client, request).await
    }

    /// `GET path_and_query` on the client listener.
    pub(crate) async fn get(&self, path_and_query: &str) -> Reply {
        self.send(
            request(Method::GET, &self.url(path_and_query))
                .body(Full::default())
                .expect("a valid request"),
        )
        .await
    }

    /// `POST /v1/accounts/users` with `email`, whatever the answer.
    pub(crate) async fn register_user_reply(&self, email: &str) -> Reply {
        let body = serde_json::json!({ "email": email, "full_name": "Ada Lovelace" });
        self.send(
            request(Method::POST, &self.url("/v1/accounts/users"))
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .expect("a valid request"),
        )
        .await
    }

    /// `POST /v1/accounts/users` with `email`, asserted 201 from the service; returns the user.
    pub(crate) async fn register_user(&self, email: &str) -> Value {
        let reply = self.register_user_reply(email).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        assert!(!reply.is_from_legacy(), "{reply:?}");
        reply.json()
    }

    /// `method path` on the admin listener, with the launch's token if it has one.
    pub(crate) async fn admin(&self, method: Method, path: &str) -> Reply {
        let mut builder = request(method, &self.admin_url(path));
        if let Some(token) = &self.admin_token {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(builder.body(Full::default()).expect("a valid request"))
            .await
    }

    /// `GET /-/routes`, asserted 200, as JSON.
    pub(crate) async fn routes_doc(&self) -> Value {
        let reply = self.admin(Method::GET, "/-/routes").await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        reply.json()
    }

    /// The `/-/routes` document once `failed` reloads were rejected (within 10 s).
    pub(crate) async fn routes_doc_after_rejections(&self, failed: u64) -> Value {
        eventually(
            Duration::from_secs(10),
            "the bad edit is rejected",
            || async {
                let doc = self.routes_doc().await;
                (doc["reloads"]["failed"] == failed).then_some(doc)
            },
        )
        .await
    }

    /// `POST /-/reload`.
    pub(crate) async fn reload(&self) -> Reply {
        self.admin(Method::POST, "/-/reload").await
    }

    /// Replaces routes.toml atomically, as operators' tools do: write a
    /// sibling and rename it over; in a ConfigMap layout, swap `..data` as the kubelet does.
    pub(crate) fn write_routes(&self, text: &str) {
        match self.layout {
            Layout::File => {
                let next = self.routes_path.with_extension("toml.next");
                std::fs::write(&next, text).expect("writing the next routes file");
                std::fs::rename(&next, &self.routes_path).expect("renaming it over routes.toml");
            }
            Layout::ConfigMap => swap_configmap_data(self.dir.path(), text),
        }
    }

    /// The routes file the gateway reads.
    pub(crate) fn routes_path(&self) -> &Path {
        &self.routes_path
    }

    /// Sends SIGTERM (with `kill`, so the tests need no `unsafe`).
    pub(crate) fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends the signal `name` (`TERM`, `HUP`, …) with `kill`.
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{name} failed: {status}");
    }

    /// Waits for the process to exit.
    ///
    /// # Panics
    ///
    /// When it is still running after `within`.
    pub(crate) async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        wait_for_exit(&mut self.child, within, &self.stderr).await
    }

    /// What the process wrote to stderr so far (its JSON logs).
    pub(crate) fn stderr(&self) -> String {
        self.stderr.snapshot()
    }

    /// Waits until a line of the log satisfies `wanted`; returns that line.
    ///
    /// The gateway's logs are written by a thread of their own, so a line
    /// can arrive a moment after the response that follows the event.
    ///
    /// # Panics
    ///
    /// When no such line arrives within 10 s; the message names `what`.
    pub(crate) async fn log_line(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        eventually(Duration::from_secs(10), what, || async {
            self.stderr()
                .lines()
                .find(|line| wanted(line))
                .map(str::to_owned)
        })
        .await
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `gateway ARGS…` to completion (e.g. `check`) and returns its exit status, stdout and stderr.
///
/// # Panics
///
/// When it has not exited within 30 s.
pub(crate) async fn run_gateway(args: &[&str]) -> (ExitStatus, String, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut command = Command::new(gateway_binary());
    command
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GATEWAY_") {
            command.env_remove(name);
        }
    }
    let mut child = command.spawn().expect("starting the gateway binary");
    let mut stdout = Captured::start(child.stdout.take().expect("stdout"));
    let mut stderr = Captured::start(child.stderr.take().expect("stderr"));
    let status = wait_for_exit(&mut child, READY_TIMEOUT, &stderr).await;
    (status, stdout.finish(), stderr.finish())
}
