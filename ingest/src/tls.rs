//! STARTTLS: the server certificate (PEM files from the config, or a self-signed pair
//! generated for local use) and the rustls acceptor.

use crate::error::ConfigError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// Builds the acceptor from a certificate chain and a private key in PEM files.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ConfigError> {
    let invalid =
        |what: &str, path: &Path, e: String| ConfigError::Invalid(format!("tls {what} {}: {e}", path.display()));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| invalid("certificate", cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| invalid("certificate", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(invalid("certificate", cert, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| invalid("key", key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Invalid(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| ConfigError::Invalid(format!("tls: certificate and key do not fit: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A self-signed certificate and key (PEM) for `hostname`, for local use and tests.
pub fn self_signed(hostname: &str) -> Result<(String, String), rcgen::Error> {
    let certified = rcgen::generate_simple_self_signed(vec![hostname.to_owned(), "localhost".to_owned()])?;
    Ok((certified.cert.pem(), certified.signing_key.serialize_pem()))
}

/// Why `ingest generate-cert` wrote no pair.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("generating the certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes a self-signed certificate for `hostname` to `cert` and its key to `key` (mode
/// 0600, only its owner reads it), creating their folders.
pub fn write_self_signed(cert: &Path, key: &Path, hostname: &str) -> Result<(), CertError> {
    let (cert_pem, key_pem) = self_signed(hostname)?;
    for path in [cert, key] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(failed(dir))?;
        }
    }
    std::fs::write(cert, cert_pem).map_err(failed(cert))?;
    write_private(key, key_pem.as_bytes()).map_err(failed(key))
}

fn failed(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + use<> {
    let path = path.to_owned();
    move |source| CertError::Write { path, source }
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pair_loads() {
        let dir = std::env::temp_dir().join(format!("postern-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = self_signed("postern.test").unwrap();
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
        assert!(acceptor(&dir.join("cert.pem"), &dir.join("key.pem")).is_ok());
        assert!(acceptor(&dir.join("key.pem"), &dir.join("key.pem")).is_err());
        assert!(acceptor(&dir.join("missing.pem"), &dir.join("key.pem")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_written_key_is_private_and_the_pair_loads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("postern-tls-write-{}", std::process::id()));
        let (cert, key) = (dir.join("certs/cert.pem"), dir.join("keys/key.pem"));
        write_self_signed(&cert, &key, "postern.test").unwrap();
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(acceptor(&cert, &key).is_ok());
        // A folder where the file should be: the error names the path.
        let e = write_self_signed(&dir.join("certs"), &key, "postern.test").unwrap_err();
        assert!(matches!(&e, CertError::Write { path, .. } if path.ends_with("certs")), "{e:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
