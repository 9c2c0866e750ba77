//! STARTTLS: the server certificate (PEM files from the config, or a self-signed pair
//! generated for local use) and the rustls acceptor.

use crate::error::ConfigError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
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
pub fn self_signed(hostname: &str) -> Result<(String, String), String> {
    let certified = rcgen::generate_simple_self_signed(vec![hostname.to_owned(), "localhost".to_owned()])
        .map_err(|e| e.to_string())?;
    Ok((certified.cert.pem(), certified.signing_key.serialize_pem()))
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
}
