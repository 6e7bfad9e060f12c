//! The client listener's certificate: loading, what a bad file says, and
//! reloads that keep the pair in force when the new one is bad; a handshake
//! over a real socket for ALPN.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use test_support::{Leaf, TestCa};
use tokio::net::{TcpListener, TcpStream};

use super::{CertificateError, ClientTls, Reload};

/// A directory with `cert.pem` and `key.pem`.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(leaf: &Leaf) -> Self {
        let files = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        files.write(leaf);
        files
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    fn write(&self, leaf: &Leaf) {
        std::fs::write(self.cert(), &leaf.cert_pem).unwrap();
        std::fs::write(self.key(), &leaf.key_pem).unwrap();
    }

    fn load(&self) -> Result<ClientTls, CertificateError> {
        ClientTls::load(&self.cert(), &self.key())
    }
}

fn presented(tls: &ClientTls) -> Vec<u8> {
    tls.current().cert[0].to_vec()
}

fn invalid_at(error: &CertificateError) -> (&Path, &str) {
    match error {
        CertificateError::Invalid { path, reason } => (path, reason),
        CertificateError::Read { .. } => panic!("expected an invalid file: {error}"),
    }
}

#[test]
fn a_good_pair_loads_and_bad_files_are_named_with_the_reason() {
    let ca = TestCa::new("test CA");
    let leaf = ca.leaf(&["localhost"], 1);
    let files = Files::new(&leaf);
    let tls = files.load().expect("a good pair loads");
    assert_eq!(presented(&tls), leaf.cert_der);

    let other = ca.leaf(&["localhost"], 2);
    std::fs::write(files.key(), &other.key_pem).unwrap();
    let error = files.load().expect_err("a key of another certificate");
    let (path, reason) = invalid_at(&error);
    assert_eq!(path, files.key());
    assert!(reason.contains("is not the key of"), "{error}");
    assert!(error.to_string().contains("key.pem"), "{error}");

    std::fs::write(files.key(), "not a key").unwrap();
    let error = files.load().expect_err("garbage key");
    assert_eq!(invalid_at(&error).0, files.key());
    assert!(error.to_string().contains("private key"), "{error}");

    std::fs::write(files.key(), &leaf.key_pem).unwrap();
    std::fs::write(
        files.cert(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let error = files.load().expect_err("garbage certificate");
    assert_eq!(invalid_at(&error).0, files.cert(), "{error}");

    std::fs::write(files.cert(), "").unwrap();
    let error = files.load().expect_err("no certificate");
    assert!(
        error.to_string().contains("holds no PEM certificate"),
        "{error}"
    );

    std::fs::remove_file(files.cert()).unwrap();
    let error = files.load().expect_err("a missing file");
    assert!(
        matches!(&error, CertificateError::Read { path, .. } if *path == files.cert()),
        "{error}"
    );
    assert!(error.to_string().starts_with("cannot read "), "{error}");
}

#[test]
fn a_reload_takes_a_good_new_pair_and_keeps_the_old_one_for_a_bad_one() {
    let ca = TestCa::new("test CA");
    let first = ca.leaf(&["localhost"], 1);
    let files = Files::new(&first);
    let tls = files.load().unwrap();
    assert!(matches!(tls.reload("test"), Reload::Unchanged));

    // Caught between the two writes: the certificate is new, the key is not.
    let second = ca.leaf(&["localhost"], 2);
    std::fs::write(files.cert(), &second.cert_pem).unwrap();
    assert!(matches!(tls.reload("test"), Reload::Rejected(_)));
    assert_eq!(presented(&tls), first.cert_der, "the old pair stays");
    assert!(
        matches!(tls.reload("test"), Reload::Unchanged),
        "the same bad files are not tried again"
    );
    std::fs::write(files.key(), &second.key_pem).unwrap();
    assert!(matches!(tls.reload("test"), Reload::Loaded));
    assert_eq!(presented(&tls), second.cert_der);

    std::fs::write(files.key(), "garbage").unwrap();
    let Reload::Rejected(error) = tls.reload("test") else {
        panic!("a garbage key is rejected");
    };
    assert_eq!(invalid_at(&error).0, files.key());
    assert_eq!(presented(&tls), second.cert_der);

    std::fs::remove_file(files.key()).unwrap();
    assert!(matches!(
        tls.reload("test"),
        Reload::Rejected(CertificateError::Read { .. })
    ));
    assert_eq!(presented(&tls), second.cert_der);

    let third = ca.leaf(&["localhost"], 3);
    files.write(&third);
    assert!(matches!(tls.reload("test"), Reload::Loaded));
    assert_eq!(presented(&tls), third.cert_der);
}

/// Connects to `addr` over TLS trusting `ca`, offering `alpn`; returns the
/// negotiated protocol and the server's certificate.
async fn handshake(
    addr: std::net::SocketAddr,
    ca: &TestCa,
    alpn: &[&[u8]],
) -> (Option<Vec<u8>>, Vec<u8>) {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(
            crate::pem::certificates(ca.pem().as_bytes())
                .unwrap()
                .remove(0),
        )
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("the handshake succeeds");
    let (_, session) = stream.get_ref();
    (
        session.alpn_protocol().map(<[u8]>::to_vec),
        session.peer_certificates().unwrap()[0].to_vec(),
    )
}

#[tokio::test]
async fn the_acceptor_offers_h2_and_http1_and_presents_the_pair_in_force() {
    let ca = TestCa::new("test CA");
    let first = ca.leaf(&["localhost"], 1);
    let files = Files::new(&first);
    let tls = files.load().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.acceptor();
    let server = tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // Held open until the client has looked at the session.
                let _stream = acceptor.accept(tcp).await;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            });
        }
    });

    let (alpn, cert) = handshake(addr, &ca, &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(cert, first.cert_der);
    let (alpn, _) = handshake(addr, &ca, &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));

    let second = ca.leaf(&["localhost"], 2);
    files.write(&second);
    assert!(matches!(tls.reload("test"), Reload::Loaded));
    let (_, cert) = handshake(addr, &ca, &[b"h2"]).await;
    assert_eq!(
        cert, second.cert_der,
        "a new handshake gets the new certificate"
    );
    server.abort();
}
