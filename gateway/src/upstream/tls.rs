//! TLS to an `https` legacy: the rustls client configuration built from
//! `[legacy.tls]`, and the stream a pooled connection runs over.
//!
//! Certificates are verified against the system's CAs (read once, when the
//! route table is loaded) or the `ca_file` given instead; the name verified
//! and sent as SNI is the URL's host or `server_name`; a client certificate
//! is presented when configured. `insecure_skip_verify` accepts any
//! certificate and is logged as a warning each time a table with it loads.
//! Only HTTP/1.1 is offered by ALPN.

use std::hash::{Hash, Hasher};
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use gateway_routing::{FileSetting, LegacyTls, Problem};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::batched_writes::BatchedTcp;

/// How to speak TLS to one legacy: the connector and the name to verify.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    /// A digest of the settings and of every file read, so that a reload
    /// keeps the pool only when nothing about TLS changed.
    fingerprint: u64,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TlsClient {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl Eq for TlsClient {}

impl TlsClient {
    /// Builds the client for legacy host `host` from `[legacy.tls]` (or the
    /// defaults when absent), reading files relative to `base_dir`.
    ///
    /// # Errors
    ///
    /// A [`Problem`] at the key whose file cannot be read or holds no usable
    /// certificate or key, or whose server name is not a DNS name or IP.
    pub fn new(host: &str, tls: Option<&LegacyTls>, base_dir: &Path) -> Result<Self, Problem> {
        let defaults = LegacyTls::default();
        let tls = tls.unwrap_or(&defaults);
        let mut digest = std::collections::hash_map::DefaultHasher::new();
        host.hash(&mut digest);
        tls.hash_settings(&mut digest);

        let name = tls.server_name.as_ref().map_or_else(
            || {
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned()
            },
            |name| name.value.to_string_lossy().into_owned(),
        );
        let server_name = ServerName::try_from(name.clone()).map_err(|_| {
            let message = format!("{name:?} is not a DNS name or an IP address");
            match &tls.server_name {
                Some(setting) => setting.problem(message),
                None => Problem {
                    line: 1,
                    column: 1,
                    message,
                },
            }
        })?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| Problem {
                line: 1,
                column: 1,
                message: format!("TLS is unavailable: {error}"),
            })?;
        let builder = if tls.insecure_skip_verify {
            tracing::warn!(
                host,
                "[legacy.tls] insecure_skip_verify = true: legacy's certificate is NOT verified; for test environments only"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate))
        } else {
            builder.with_root_certificates(roots(tls.ca_file.as_ref(), base_dir, &mut digest)?)
        };
        let mut config = match (&tls.client_cert_file, &tls.client_key_file) {
            (Some(cert), Some(key)) => {
                let chain = read_certificates(cert, base_dir, &mut digest)?;
                let key_der = read_key(key, base_dir, &mut digest)?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|error| {
                        key.problem(format!("unusable client certificate or key: {error}"))
                    })?
            }
            _ => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
            fingerprint: digest.finish(),
        })
    }

    /// The TLS handshake over `tcp`.
    ///
    /// # Errors
    ///
    /// The handshake's failure (a certificate not trusted, expired or for
    /// another name; a protocol error), as rustls reports it.
    pub(super) async fn handshake(&self, tcp: TcpStream) -> io::Result<TlsStream<BatchedTcp>> {
        self.connector
            .connect(self.server_name.clone(), BatchedTcp::new(tcp))
            .await
    }
}

trait HashSettings {
    fn hash_settings(&self, digest: &mut impl Hasher);
}

impl HashSettings for LegacyTls {
    fn hash_settings(&self, digest: &mut impl Hasher) {
        for setting in [
            &self.ca_file,
            &self.client_cert_file,
            &self.client_key_file,
            &self.server_name,
        ] {
            setting.as_ref().map(|s| &s.value).hash(digest);
        }
        self.insecure_skip_verify.hash(digest);
    }
}

fn resolve(setting: &FileSetting, base_dir: &Path) -> std::path::PathBuf {
    base_dir.join(&setting.value)
}

fn read_file(
    setting: &FileSetting,
    base_dir: &Path,
    digest: &mut impl Hasher,
) -> Result<Vec<u8>, Problem> {
    let path = resolve(setting, base_dir);
    let bytes = std::fs::read(&path)
        .map_err(|error| setting.problem(format!("cannot read {}: {error}", path.display())))?;
    bytes.hash(digest);
    Ok(bytes)
}

fn read_certificates(
    setting: &FileSetting,
    base_dir: &Path,
    digest: &mut impl Hasher,
) -> Result<Vec<CertificateDer<'static>>, Problem> {
    let bytes = read_file(setting, base_dir, digest)?;
    crate::pem::certificates(&bytes).map_err(|message| setting.problem(message))
}

fn read_key(
    setting: &FileSetting,
    base_dir: &Path,
    digest: &mut impl Hasher,
) -> Result<PrivateKeyDer<'static>, Problem> {
    let bytes = read_file(setting, base_dir, digest)?;
    crate::pem::private_key(&bytes).map_err(|message| setting.problem(message))
}

/// The CAs of `ca_file`, or the system's when none is given.
fn roots(
    ca_file: Option<&FileSetting>,
    base_dir: &Path,
    digest: &mut impl Hasher,
) -> Result<RootCertStore, Problem> {
    let mut store = RootCertStore::empty();
    match ca_file {
        Some(setting) => {
            for certificate in read_certificates(setting, base_dir, digest)? {
                store.add(certificate).map_err(|error| {
                    setting.problem(format!("unusable CA certificate: {error}"))
                })?;
            }
        }
        None => {
            // Unreadable entries of the system store are skipped, as every
            // client does; an empty store fails every handshake, clearly.
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            added.hash(digest);
        }
    }
    Ok(store)
}

/// `insecure_skip_verify`: every certificate is accepted, every signature
/// too. Never the default; the gateway warns whenever a table enables it.
#[derive(Debug)]
struct AcceptAnyCertificate;

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What a pooled connection runs over: plain TCP or TLS over TCP.
pub(super) enum Stream {
    /// `http://` legacy: small writes leave in batches.
    Plain(BatchedTcp),
    /// `https://` legacy (boxed: a TLS session is large); its records,
    /// too, leave in batches.
    Tls(Box<TlsStream<BatchedTcp>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(tcp) => tcp.is_write_vectored(),
            Self::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
