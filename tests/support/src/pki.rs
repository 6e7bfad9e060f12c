//! A certificate authority made in the test, and leaf certificates it signs,
//! for TLS over real sockets without any file of the machine's.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SerialNumber};

/// A CA: its certificate as PEM, and what signs leaves.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A leaf certificate and its key.
#[derive(Clone)]
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER: what a client sees as the peer's certificate.
    pub cert_der: Vec<u8>,
}

impl TestCa {
    /// A new CA named `name`.
    ///
    /// # Panics
    ///
    /// When rcgen cannot make a key or sign (never with its ring backend).
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("a CA key");
        let pem = params.self_signed(&key).expect("a CA certificate").pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// The CA's certificate, PEM: what clients trust.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Writes the CA's certificate into `dir/name`; returns its path.
    ///
    /// # Panics
    ///
    /// When the file cannot be written.
    pub fn write_pem(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).expect("writing the CA certificate");
        path
    }

    /// A leaf for `names` (DNS names or IP addresses) with serial number `serial`.
    ///
    /// # Panics
    ///
    /// When a name is unusable or signing fails.
    pub fn leaf(&self, names: &[&str], serial: u64) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .expect("leaf parameters");
        params.serial_number = Some(SerialNumber::from(serial));
        let key = KeyPair::generate().expect("a leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("a signed leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        }
    }
}
