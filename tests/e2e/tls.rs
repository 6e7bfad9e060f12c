//! TLS on the client listener: HTTPS with curl and a rustls client, HTTP/2
//! by ALPN, `X-Forwarded-Proto: https` at legacy, certificate rotation under
//! load (a Kubernetes Secret volume's `..data` swap), a bad replacement, a
//! handshake that never comes, plain HTTP on the HTTPS port, and certificate
//! files that stop the start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use test_support::{Leaf, LegacyStub, TestCa};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::harness::{GatewayProcess, Launch, Reply, eventually, routes};

/// The name the test certificates are for, and clients verify.
const HOST: &str = "localhost";
/// How long one exchange may take before it counts as failed.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate and key as a Kubernetes Secret volume holds them:
/// `tls.crt -> ..data/tls.crt`, `tls.key -> ..data/tls.key`, `..data ->
/// ..<version>/`, where a rotation renames a new `..data` link over the old.
struct SecretVolume {
    dir: tempfile::TempDir,
    versions: AtomicUsize,
}

impl SecretVolume {
    fn new(leaf: &Leaf) -> Self {
        let volume = Self {
            dir: tempfile::tempdir().expect("a directory for the certificates"),
            versions: AtomicUsize::new(0),
        };
        volume.publish(&leaf.cert_pem, &leaf.key_pem);
        for name in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{name}"), volume.dir.path().join(name))
                .expect("linking the certificate file to ..data");
        }
        volume
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("tls.key")
    }

    /// Publishes a new version of both files at once, as the kubelet does.
    fn publish(&self, cert_pem: &str, key_pem: &str) {
        let dir = self.dir.path();
        let version = format!("..v{}", self.versions.fetch_add(1, Ordering::SeqCst));
        std::fs::create_dir(dir.join(&version)).expect("a version directory");
        std::fs::write(dir.join(&version).join("tls.crt"), cert_pem).expect("writing tls.crt");
        std::fs::write(dir.join(&version).join("tls.key"), key_pem).expect("writing tls.key");
        let old = std::fs::read_link(dir.join("..data")).ok();
        std::os::unix::fs::symlink(&version, dir.join("..data_tmp")).expect("linking ..data_tmp");
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data"))
            .expect("renaming ..data_tmp over ..data");
        if let Some(old) = old {
            std::fs::remove_dir_all(dir.join(old)).expect("removing the old version");
        }
    }

    /// The gateway, serving HTTPS from this volume's files.
    fn launch(&self, routes: String) -> Launch {
        Launch::new(routes)
            .env(
                "GATEWAY_SERVER__TLS__CERT_FILE",
                &self.cert().display().to_string(),
            )
            .env(
                "GATEWAY_SERVER__TLS__KEY_FILE",
                &self.key().display().to_string(),
            )
    }
}

/// A rustls client configuration trusting `ca` alone, offering `alpn`, without session resumption.
fn client_config(ca: &TestCa, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).expect("the CA's PEM"))
        .expect("a usable CA certificate");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // A resumed session presents no certificate: each connection here gets a full handshake.
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// How a [`TlsConnection`] sends requests: what ALPN chose.
enum Sender {
    Http1(http1::SendRequest<Full<Bytes>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

/// One HTTPS connection to the gateway, kept alive across requests.
struct TlsConnection {
    sender: Sender,
    addr: SocketAddr,
    /// The certificate the gateway presented, DER.
    peer: Vec<u8>,
}

impl TlsConnection {
    /// Connects and shakes hands (TLS, then HTTP as ALPN chose).
    async fn open(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> Result<Self, String> {
        let connecting = async {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(ServerName::try_from(HOST).expect("a DNS name"), tcp)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            let session = tls.get_ref().1;
            let peer = session
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| cert.to_vec())
                .ok_or("no peer certificate")?;
            let h2 = session.alpn_protocol() == Some(b"h2");
            let io = TokioIo::new(tls);
            let sender = if h2 {
                let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
                tokio::spawn(connection);
                Sender::Http2(sender)
            } else {
                let (sender, connection) = http1::handshake(io)
                    .await
                    .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
                tokio::spawn(connection);
                Sender::Http1(sender)
            };
            Ok(Self { sender, addr, peer })
        };
        tokio::time::timeout(EXCHANGE_TIMEOUT, connecting)
            .await
            .map_err(|_| "no connection within the timeout".to_owned())?
    }

    /// `GET path` on this connection, the whole answer read.
    async fn get(&mut self, path: &str) -> Result<Reply, String> {
        let uri = format!("https://{HOST}:{}{path}", self.addr.port());
        let request = Request::builder()
            .method(Method::GET)
            .uri(&uri)
            .header(http::header::HOST, format!("{HOST}:{}", self.addr.port()));
        let exchange = async {
            let response = match &mut self.sender {
                Sender::Http1(sender) => {
                    sender
                        .ready()
                        .await
                        .map_err(|e| format!("not ready: {e}"))?;
                    // HTTP/1.1 sends the origin form; the Host header says the rest.
                    let request = request
                        .uri(path)
                        .body(Full::default())
                        .expect("a valid request");
                    sender.send_request(request).await
                }
                Sender::Http2(sender) => {
                    sender
                        .ready()
                        .await
                        .map_err(|e| format!("not ready: {e}"))?;
                    let request = request.body(Full::default()).expect("a valid request");
                    sender.send_request(request).await
                }
            }
            .map_err(|e| format!("GET {uri}: {e}"))?;
            Reply::read(response)
                .await
                .map_err(|e| format!("GET {uri}: reading the body: {e}"))
        };
        tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("GET {uri}: no answer within the timeout"))?
    }
}

/// Opens a connection, sends `GET path`, asserts a 200 from legacy; returns the reply and the certificate seen.
async fn get_once(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    path: &str,
) -> Result<(Reply, Vec<u8>), String> {
    let mut connection = TlsConnection::open(addr, config).await?;
    let reply = connection.get(path).await?;
    if reply.status != StatusCode::OK || !reply.is_from_legacy() {
        return Err(format!("unexpected answer: {reply:?}"));
    }
    Ok((reply, connection.peer))
}

/// `curl --cacert CA -w '%{http_version}'` with `protocol` (`--http1.1`, `--http2`); returns the version and body.
async fn curl(
    gateway: &GatewayProcess,
    ca_file: &Path,
    protocol: &str,
    path: &str,
) -> (String, String) {
    let port = gateway.listen().port();
    let args = vec![
        "--silent".to_owned(),
        "--show-error".to_owned(),
        "--max-time".to_owned(),
        "10".to_owned(),
        "--cacert".to_owned(),
        ca_file.display().to_string(),
        "--resolve".to_owned(),
        format!("{HOST}:{port}:127.0.0.1"),
        protocol.to_owned(),
        "--write-out".to_owned(),
        "\n%{http_version}".to_owned(),
        format!("https://{HOST}:{port}{path}"),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(&args)
            .output()
            .expect("running curl (install it: apt-get install curl)")
    })
    .await
    .expect("the curl thread");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "curl {protocol} failed ({}): {}{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let (body, version) = stdout.rsplit_once('\n').expect("the --write-out line");
    (version.to_owned(), body.to_owned())
}

/// The value of `series` (with its labels) in the gateway's metrics.
async fn metric(gateway: &GatewayProcess, series: &str) -> Option<f64> {
    let reply = gateway.admin(Method::GET, "/-/metrics").await;
    String::from_utf8_lossy(&reply.body)
        .lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|value| value.trim().parse().ok())
        })
}

/// A legacy stub, a CA, and a gateway serving HTTPS with the CA's first leaf (serial 1) from a Secret volume.
///
/// Destructure it with `_stub` bound: the stub must outlive the requests.
struct Https {
    _stub: LegacyStub,
    ca: TestCa,
    first: Leaf,
    volume: SecretVolume,
    gateway: GatewayProcess,
}

impl Https {
    /// Starts it all, the gateway with the environment `env` besides the certificate's.
    async fn start(env: &[(&str, &str)]) -> Self {
        let stub = LegacyStub::start().await;
        let ca = TestCa::new("e2e CA");
        let first = ca.leaf(&[HOST], 1);
        let volume = SecretVolume::new(&first);
        let mut launch = volume.launch(routes(&stub.url(), "legacy"));
        for (name, value) in env {
            launch = launch.env(name, value);
        }
        let gateway = launch.start().await;
        Self {
            _stub: stub,
            ca,
            first,
            volume,
            gateway,
        }
    }
}

#[tokio::test]
async fn https_serves_http1_and_h2_by_alpn_and_tells_legacy_the_scheme() {
    let Https {
        _stub,
        ca,
        volume,
        gateway,
        ..
    } = Https::start(&[]).await;
    let ca_file = ca.write_pem(volume.dir.path(), "ca.pem");
    let ready = gateway
        .log_line("the ready log line", |line| line.contains("gateway ready"))
        .await;
    assert!(ready.contains("\"scheme\":\"https\""), "{ready}");

    let (version, body) = curl(&gateway, &ca_file, "--http1.1", "/legacy/curl").await;
    assert_eq!(version, "1.1", "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).expect("legacy's echo");
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https", "{echo}");
    let (version, body) = curl(&gateway, &ca_file, "--http2", "/legacy/curl-h2").await;
    assert_eq!(version, "2", "curl negotiates h2 by ALPN: {body}");
    let echo: serde_json::Value = serde_json::from_str(&body).expect("legacy's echo");
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https", "{echo}");

    for (alpn, expected) in [
        (&[&b"h2"[..], b"http/1.1"][..], Version::HTTP_2),
        (&[&b"http/1.1"[..]][..], Version::HTTP_11),
    ] {
        let config = client_config(&ca, alpn);
        let mut connection = TlsConnection::open(gateway.listen(), &config)
            .await
            .unwrap();
        for round in 0..2 {
            let reply = connection
                .get(&format!("/legacy/rustls/{round}"))
                .await
                .unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
            assert_eq!(reply.version, expected, "{reply:?}");
            assert_eq!(reply.echo()["headers"]["x-forwarded-proto"], "https");
        }
    }
    // Plain HTTP on the HTTPS port: a 400 that says so, not a TLS alert.
    let reply = gateway.get("/legacy/plain").await;
    reply.gateway_problem(StatusCode::BAD_REQUEST, "plain-http-on-https-port");
    assert_eq!(
        metric(
            &gateway,
            "gateway_tls_handshake_failures_total{reason=\"plain-http\"}"
        )
        .await,
        Some(1.0)
    );

    // A client of the service gets its answer over TLS too.
    let mut connection = TlsConnection::open(gateway.listen(), &client_config(&ca, &[b"h2"]))
        .await
        .unwrap();
    let reply = connection.get("/v1/accounts/users").await.unwrap();
    assert!(!reply.is_from_legacy(), "{reply:?}");
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

#[tokio::test]
async fn a_rotated_certificate_serves_new_connections_without_a_failed_request() {
    let Https {
        _stub,
        ca,
        first,
        volume,
        gateway,
        ..
    } = Https::start(&[("GATEWAY_SERVER__TLS__WATCH_INTERVAL_MS", "100")]).await;
    let addr = gateway.listen();
    let h1 = client_config(&ca, &[b"http/1.1"]);
    let h2 = client_config(&ca, &[b"h2", b"http/1.1"]);

    let mut before = TlsConnection::open(addr, &h1).await.unwrap();
    assert_eq!(before.peer, first.cert_der);
    before.get("/legacy/before").await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut loops = Vec::new();
    // Two keep-alive connections (HTTP/1.1 and HTTP/2) and two loops of new connections.
    for config in [h1.clone(), h2.clone()] {
        let (stop, failures) = (stop.clone(), failures.clone());
        loops.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut connection = match TlsConnection::open(addr, &config).await {
                Ok(connection) => connection,
                Err(why) => {
                    failures.lock().unwrap().push(why);
                    return (0, seen);
                }
            };
            seen.push(connection.peer.clone());
            let mut sent = 0;
            while !stop.load(Ordering::SeqCst) {
                if let Err(why) = connection.get(&format!("/legacy/kept/{sent}")).await {
                    failures.lock().unwrap().push(why);
                }
                sent += 1;
            }
            (sent, seen)
        }));
    }
    for config in [h1.clone(), h2.clone()] {
        let (stop, failures) = (stop.clone(), failures.clone());
        loops.push(tokio::spawn(async move {
            let mut seen: Vec<Vec<u8>> = Vec::new();
            let mut sent = 0;
            while !stop.load(Ordering::SeqCst) {
                match get_once(addr, &config, &format!("/legacy/new/{sent}")).await {
                    Ok((_, peer)) => {
                        if seen.last() != Some(&peer) {
                            seen.push(peer);
                        }
                    }
                    Err(why) => failures.lock().unwrap().push(why),
                }
                sent += 1;
            }
            (sent, seen)
        }));
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = ca.leaf(&[HOST], 2);
    volume.publish(&second.cert_pem, &second.key_pem);
    eventually(
        Duration::from_secs(10),
        "a new connection sees the new certificate",
        || async {
            let (_, peer) = get_once(addr, &h2, "/legacy/probe").await.ok()?;
            (peer == second.cert_der).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);

    let mut results = Vec::new();
    for handle in loops {
        results.push(handle.await.expect("a load loop"));
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "failed requests during the rotation: {failures:?}"
    );
    for (i, (sent, seen)) in results.iter().enumerate() {
        assert!(*sent > 0, "loop {i} sent nothing");
        if i < 2 {
            assert_eq!(
                seen,
                &vec![first.cert_der.clone()],
                "a kept connection keeps its session"
            );
        } else {
            assert_eq!(
                seen,
                &vec![first.cert_der.clone(), second.cert_der.clone()],
                "new connections moved from the old certificate to the new one, once"
            );
        }
    }
    let reply = before
        .get("/legacy/after")
        .await
        .expect("the connection from before the rotation still works");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(before.peer, first.cert_der);
    assert_eq!(
        metric(&gateway, "gateway_tls_reloads_total{result=\"ok\"}").await,
        Some(1.0)
    );
    assert_eq!(
        metric(&gateway, "gateway_tls_reloads_total{result=\"error\"}").await,
        Some(0.0)
    );
}

#[tokio::test]
async fn a_bad_replacement_keeps_the_old_certificate_and_sighup_reloads() {
    // Polling off: only SIGHUP reloads, so each step below is one reload.
    let Https {
        _stub,
        ca,
        first,
        volume,
        gateway,
        ..
    } = Https::start(&[("GATEWAY_SERVER__TLS__WATCH_INTERVAL_MS", "0")]).await;
    let addr = gateway.listen();
    let config = client_config(&ca, &[b"h2"]);

    let second = ca.leaf(&[HOST], 2);
    volume.publish(
        &second.cert_pem,
        "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n",
    );
    gateway.signal("HUP");
    let errors = eventually(
        Duration::from_secs(10),
        "the rejected reload counted",
        || async {
            metric(&gateway, "gateway_tls_reloads_total{result=\"error\"}")
                .await
                .filter(|count| *count > 0.0)
        },
    )
    .await;
    assert_eq!(errors, 1.0);
    let logged = gateway
        .log_line("the rejected reload logged", |line| {
            line.contains("not reloaded")
        })
        .await;
    assert!(
        logged.contains("tls.key"),
        "the log names the file: {logged}"
    );
    let (_, peer) = get_once(addr, &config, "/legacy/still-old").await.unwrap();
    assert_eq!(peer, first.cert_der, "the old certificate stays in force");

    volume.publish(&second.cert_pem, &second.key_pem);
    gateway.signal("HUP");
    eventually(
        Duration::from_secs(10),
        "the good pair loaded on SIGHUP",
        || async {
            let (_, peer) = get_once(addr, &config, "/legacy/new").await.ok()?;
            (peer == second.cert_der).then_some(())
        },
    )
    .await;
    assert_eq!(
        metric(&gateway, "gateway_tls_reloads_total{result=\"ok\"}").await,
        Some(1.0)
    );
}

#[tokio::test]
async fn a_client_that_never_shakes_hands_is_cut_off_and_blocks_no_one() {
    let Https {
        _stub, ca, gateway, ..
    } = Https::start(&[("GATEWAY_SERVER__HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(gateway.listen()).await.unwrap();

    // Meanwhile, other clients are served at once.
    let (reply, _) = get_once(
        gateway.listen(),
        &client_config(&ca, &[b"h2"]),
        "/legacy/meanwhile",
    )
    .await
    .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );

    let mut buf = [0_u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf))
        .await
        .expect("the silent connection is closed within the header-read timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed too early: {elapsed:?}"
    );
    let timeouts = eventually(
        Duration::from_secs(5),
        "the handshake timeout counted",
        || async {
            metric(
                &gateway,
                "gateway_tls_handshake_failures_total{reason=\"timeout\"}",
            )
            .await
            .filter(|count| *count > 0.0)
        },
    )
    .await;
    assert_eq!(timeouts, 1.0);
}

#[tokio::test]
async fn unusable_certificate_settings_stop_the_start_naming_the_file() {
    let stub = LegacyStub::start().await;
    let ca = TestCa::new("e2e CA");
    let volume = SecretVolume::new(&ca.leaf(&[HOST], 1));
    let other = ca.leaf(&[HOST], 2);
    let wrong_key = volume.dir.path().join("other.key");
    std::fs::write(&wrong_key, &other.key_pem).unwrap();
    let missing = volume.dir.path().join("absent.key");

    let cases = [
        (
            Some(missing.clone()),
            format!("cannot read {}", missing.display()),
        ),
        (Some(wrong_key), "other.key: is not the key of".to_owned()),
        (None, "TLS needs both".to_owned()),
    ];
    for (key_file, expected) in cases {
        let mut launch = Launch::new(routes(&stub.url(), "legacy")).env(
            "GATEWAY_SERVER__TLS__CERT_FILE",
            &volume.cert().display().to_string(),
        );
        if let Some(key_file) = key_file {
            launch = launch.env(
                "GATEWAY_SERVER__TLS__KEY_FILE",
                &key_file.display().to_string(),
            );
        }
        let (status, stderr) = launch.start_expecting_failure().await;
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&expected), "{expected:?} in:\n{stderr}");
    }
}
