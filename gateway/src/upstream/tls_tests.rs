//! HTTPS to legacy over real sockets: a TLS stub legacy whose certificates
//! a CA generated here signs (valid, expired, for another name, requiring a
//! client certificate), and the errors the gateway maps to 502 `upstream-tls`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use gateway_routing::{FileSetting, LegacyTls};
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{
    AddressSettings, ClientSettings, ForwardContext, ForwardError, LegacyUpstream, TlsClient,
};

/// A CA and the files a test writes its certificates into.
struct Pki {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
}

/// A leaf certificate and key, as PEM.
struct Leaf {
    cert_pem: String,
    key_pem: String,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let ca_pem = params.self_signed(&key).unwrap().pem();
        Self {
            dir: tempfile::tempdir().unwrap(),
            issuer: Issuer::new(params, key),
            ca_pem,
        }
    }

    fn leaf(&self, names: &[&str], expired: bool) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn write(&self, name: &str, contents: &str) -> FileSetting {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        setting(path)
    }
}

fn setting(value: PathBuf) -> FileSetting {
    FileSetting {
        value,
        line: 7,
        column: 3,
    }
}

/// A TLS legacy answering `secure` to every request, counting connections;
/// with `client_ca`, it requires a client certificate that CA signed.
async fn spawn_tls_legacy(leaf: &Leaf, client_ca: Option<&str>) -> (SocketAddr, Arc<AtomicUsize>) {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(cert.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(chain, key).unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(|_request| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("secure")))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, connections)
}

fn upstream(url: &str, tls: &LegacyTls) -> LegacyUpstream {
    let url: http::Uri = url.parse().unwrap();
    let host = url.host().unwrap().to_owned();
    LegacyUpstream::new(&ClientSettings {
        addresses: vec![AddressSettings {
            tls: Some(TlsClient::new(&host, Some(tls), Path::new("/")).unwrap()),
            url,
        }],
        ..ClientSettings::single(
            "legacy",
            http::Uri::default(),
            Duration::from_secs(2),
            Duration::from_secs(5),
        )
    })
}

async fn get(upstream: &LegacyUpstream) -> Result<String, ForwardError> {
    let ctx = ForwardContext {
        client_addr: "198.51.100.7:50000".parse().unwrap(),
        scheme: "https",
        request_id: http::HeaderValue::from_static("req-tls"),
    };
    let request = http::Request::new(Body::empty());
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        upstream.forward(request, "/", &ctx),
    )
    .await
    .expect("forward hung")?;
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Ok(String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn a_certificate_the_configured_ca_signed_is_trusted_and_connections_are_pooled() {
    let pki = Pki::new();
    let (addr, connections) = spawn_tls_legacy(&pki.leaf(&["localhost"], false), None).await;
    let tls = LegacyTls {
        ca_file: Some(pki.write("ca.pem", &pki.ca_pem)),
        ..LegacyTls::default()
    };
    let upstream = upstream(&format!("https://localhost:{}", addr.port()), &tls);
    for _ in 0..3 {
        assert_eq!(get(&upstream).await.unwrap(), "secure");
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one TLS connection, reused"
    );
}

#[tokio::test]
async fn an_expired_certificate_or_another_name_is_a_tls_error() {
    let pki = Pki::new();
    let ca = pki.write("ca.pem", &pki.ca_pem);
    for (leaf, what) in [
        (pki.leaf(&["localhost"], true), "expired"),
        (pki.leaf(&["other.example"], false), "wrong name"),
    ] {
        let (addr, _) = spawn_tls_legacy(&leaf, None).await;
        let tls = LegacyTls {
            ca_file: Some(ca.clone()),
            ..LegacyTls::default()
        };
        let upstream = upstream(&format!("https://localhost:{}", addr.port()), &tls);
        let error = get(&upstream).await.unwrap_err();
        assert!(
            matches!(error, ForwardError::Tls { .. }),
            "{what}: {error:?}"
        );
        assert_eq!(error.kind(), "tls", "{what}");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert!(
            source.is_some_and(|s| s.contains("certificate")),
            "{what}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_certificate_no_configured_ca_signed_is_refused_and_the_opt_out_accepts_it() {
    let pki = Pki::new();
    let (addr, _) = spawn_tls_legacy(&pki.leaf(&["other.example"], false), None).await;
    let url = format!("https://localhost:{}", addr.port());
    // The system's CAs did not sign the test CA.
    let error = get(&upstream(&url, &LegacyTls::default()))
        .await
        .unwrap_err();
    assert!(matches!(error, ForwardError::Tls { .. }), "{error:?}");
    let insecure = LegacyTls {
        insecure_skip_verify: true,
        ..LegacyTls::default()
    };
    assert_eq!(get(&upstream(&url, &insecure)).await.unwrap(), "secure");
}

#[tokio::test]
async fn server_name_overrides_the_url_host_for_sni_and_verification() {
    let pki = Pki::new();
    let (addr, _) = spawn_tls_legacy(&pki.leaf(&["legacy.internal"], false), None).await;
    let tls = LegacyTls {
        ca_file: Some(pki.write("ca.pem", &pki.ca_pem)),
        server_name: Some(setting(PathBuf::from("legacy.internal"))),
        ..LegacyTls::default()
    };
    let upstream = upstream(&format!("https://127.0.0.1:{}", addr.port()), &tls);
    assert_eq!(get(&upstream).await.unwrap(), "secure");
}

#[tokio::test]
async fn a_client_certificate_is_presented_when_configured() {
    let pki = Pki::new();
    let (addr, _) = spawn_tls_legacy(&pki.leaf(&["localhost"], false), Some(&pki.ca_pem)).await;
    let url = format!("https://localhost:{}", addr.port());
    let ca = pki.write("ca.pem", &pki.ca_pem);
    let without = LegacyTls {
        ca_file: Some(ca.clone()),
        ..LegacyTls::default()
    };
    // TLS 1.3: the server's refusal arrives after the client's handshake.
    let error = get(&upstream(&url, &without)).await.unwrap_err();
    assert!(
        matches!(error, ForwardError::Tls { .. } | ForwardError::Io { .. }),
        "{error:?}"
    );
    let client = pki.leaf(&["gateway"], false);
    let with = LegacyTls {
        ca_file: Some(ca),
        client_cert_file: Some(pki.write("client.pem", &client.cert_pem)),
        client_key_file: Some(pki.write("client.key", &client.key_pem)),
        ..LegacyTls::default()
    };
    assert_eq!(get(&upstream(&url, &with)).await.unwrap(), "secure");
}

#[test]
fn unreadable_or_unusable_files_are_problems_at_their_key() {
    let pki = Pki::new();
    let missing = LegacyTls {
        ca_file: Some(setting(pki.dir.path().join("absent.pem"))),
        ..LegacyTls::default()
    };
    let problem = TlsClient::new("legacy", Some(&missing), Path::new("/")).unwrap_err();
    assert_eq!((problem.line, problem.column), (7, 3));
    assert!(problem.message.starts_with("cannot read "), "{problem}");

    let not_pem = LegacyTls {
        ca_file: Some(pki.write("ca.pem", "not a certificate")),
        ..LegacyTls::default()
    };
    let problem = TlsClient::new("legacy", Some(&not_pem), Path::new("/")).unwrap_err();
    assert_eq!(problem.message, "holds no PEM certificate");

    let bad_name = LegacyTls {
        server_name: Some(setting(PathBuf::from("not a name"))),
        ..LegacyTls::default()
    };
    let problem = TlsClient::new("legacy", Some(&bad_name), Path::new("/")).unwrap_err();
    assert!(problem.message.contains("is not a DNS name"), "{problem}");

    // Relative paths are read from the routes file's directory.
    pki.write("relative-ca.pem", &pki.ca_pem);
    let relative = LegacyTls {
        ca_file: Some(setting(PathBuf::from("relative-ca.pem"))),
        ..LegacyTls::default()
    };
    assert!(TlsClient::new("legacy", Some(&relative), pki.dir.path()).is_ok());
}
