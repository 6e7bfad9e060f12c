//! TLS termination on the client listener, with certificates reloaded as they rotate.
//!
//! [`ClientTls::load`] reads `server.tls.cert_file` and `server.tls.key_file`
//! once at start-up (a bad pair stops the start, naming the file). The
//! acceptor offers ALPN `h2` and `http/1.1`; the connection code then speaks
//! what the client chose (hyper-util's auto builder reads the HTTP/2 preface).
//!
//! Rotation: every handshake asks [`RotatingCertificate`] for the pair in
//! force, an [`ArcSwap`] that a reload replaces. A reload reads both files
//! and acts only when their contents differ from the last pair it tried, so
//! polling (every `server.tls.watch_interval_ms`, and on SIGHUP) notices
//! cert-manager's replacements, `..data` symlink swaps included. A new pair
//! that does not load (unreadable, not PEM, key not matching the
//! certificate) is logged and counted (`gateway_tls_reloads_total{result="error"}`)
//! and the pair in force keeps serving; connections already open keep the
//! session they negotiated.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::metrics::{TLS_RELOAD_ERROR, TLS_RELOAD_OK, TLS_RELOADS_TOTAL};

/// The protocols offered by ALPN, preferred first.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why a certificate and key pair cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// A file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file's contents are unusable, or the key is not the certificate's.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The two files' contents, as last read.
#[derive(PartialEq, Eq)]
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// What the files held the last time a reload looked at them.
#[derive(PartialEq, Eq)]
enum Seen {
    /// These contents (loaded, or rejected).
    Contents(Contents),
    /// A file could not be read, for this reason.
    Unreadable(String),
}

/// What a reload did.
#[derive(Debug)]
pub enum Reload {
    /// The files hold what they held at the last look: nothing to do.
    Unchanged,
    /// A new pair is in force for new handshakes.
    Loaded,
    /// The files changed but do not load; the pair in force stays.
    Rejected(CertificateError),
}

/// The certificate and key in force, handed to every handshake.
#[derive(Debug)]
pub struct RotatingCertificate(ArcSwap<CertifiedKey>);

impl ResolvesServerCert for RotatingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// TLS for the client listener: the acceptor and the files it reloads from.
pub struct ClientTls {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: Arc<RotatingCertificate>,
    acceptor: TlsAcceptor,
    seen: Mutex<Seen>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Loads the pair from `cert_file` and `key_file` and builds the acceptor.
    ///
    /// # Errors
    ///
    /// [`CertificateError`] naming the file that cannot be read or used.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, CertificateError> {
        let contents = read(cert_file, key_file)?;
        let certified = certified_key(&contents, cert_file, key_file)?;
        let current = Arc::new(RotatingCertificate(ArcSwap::from_pointee(certified)));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| CertificateError::Invalid {
                path: cert_file.to_owned(),
                reason: format!("TLS is unavailable: {error}"),
            })?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            current,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            seen: Mutex::new(Seen::Contents(contents)),
        })
    }

    /// The acceptor every new connection's handshake goes through.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// The certificate file.
    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    /// The pair in force now (what the next handshake presents).
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.0.load_full()
    }

    /// Reads both files; when they hold something other than at the last
    /// look, loads the new pair into force or, when it does not load, keeps
    /// the pair in force. Logs and counts what it did (a look that finds
    /// nothing new counts nothing).
    pub fn reload(&self, trigger: &'static str) -> Reload {
        let read = read(&self.cert_file, &self.key_file);
        let seen = match &read {
            Ok(contents) => Seen::Contents(Contents {
                cert: contents.cert.clone(),
                key: contents.key.clone(),
            }),
            Err(error) => Seen::Unreadable(error.to_string()),
        };
        {
            let mut last = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *last == seen {
                return Reload::Unchanged;
            }
            *last = seen;
        }
        let outcome =
            read.and_then(|contents| certified_key(&contents, &self.cert_file, &self.key_file));
        match outcome {
            Ok(certified) => {
                self.current.0.store(Arc::new(certified));
                metrics::counter!(TLS_RELOADS_TOTAL, "result" => TLS_RELOAD_OK).increment(1);
                tracing::info!(cert_file = %self.cert_file.display(), trigger, "client TLS certificate reloaded: new connections get the new one");
                Reload::Loaded
            }
            Err(error) => {
                metrics::counter!(TLS_RELOADS_TOTAL, "result" => TLS_RELOAD_ERROR).increment(1);
                tracing::error!(%error, trigger, "client TLS certificate not reloaded: the previous one stays in force");
                Reload::Rejected(error)
            }
        }
    }

    /// Looks at the files every `interval` ([`ClientTls::reload`]) for as long as the process runs.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let tls = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                // File reads: off the runtime's worker threads.
                let looking = tls.clone();
                if tokio::task::spawn_blocking(move || looking.reload("file-change"))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    }

    /// Reloads on every SIGHUP (as the route table does).
    ///
    /// # Errors
    ///
    /// When the signal handler cannot be installed.
    pub fn reload_on_sighup(self: &Arc<Self>) -> std::io::Result<tokio::task::JoinHandle<()>> {
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let tls = self.clone();
        Ok(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let looking = tls.clone();
                if tokio::task::spawn_blocking(move || looking.reload("sighup"))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }))
    }
}

/// Both files' contents.
fn read(cert_file: &Path, key_file: &Path) -> Result<Contents, CertificateError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| CertificateError::Read {
            path: path.to_owned(),
            source,
        })
    };
    Ok(Contents {
        cert: read(cert_file)?,
        key: read(key_file)?,
    })
}

/// The pair `contents` holds, checked: PEM, a key rustls can sign with, the key of the leaf.
fn certified_key(
    contents: &Contents,
    cert_file: &Path,
    key_file: &Path,
) -> Result<CertifiedKey, CertificateError> {
    let invalid = |path: &Path| {
        let path = path.to_owned();
        move |reason: String| CertificateError::Invalid { path, reason }
    };
    let chain = crate::pem::certificates(&contents.cert).map_err(invalid(cert_file))?;
    let key = crate::pem::private_key(&contents.key).map_err(invalid(key_file))?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider).map_err(|error| match error {
        rustls::Error::InvalidCertificate(error) => CertificateError::Invalid {
            path: cert_file.to_owned(),
            reason: format!("unusable certificate: {error}"),
        },
        rustls::Error::InconsistentKeys(_) => CertificateError::Invalid {
            path: key_file.to_owned(),
            reason: format!("is not the key of {}'s certificate", cert_file.display()),
        },
        other => CertificateError::Invalid {
            path: key_file.to_owned(),
            reason: format!("unusable private key: {other}"),
        },
    })
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
