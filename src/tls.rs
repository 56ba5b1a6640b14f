//! rustls configuration (ring provider) in one place, so that certificates
//! are loaded the same way at start-up and, later, on reload.

use std::sync::Arc;

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// CA certificates read from a PEM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its certificates, in file order (at least one).
    pub certs: Vec<CertificateDer<'static>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("{path}: {why}")]
    Ca { path: String, why: String },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// PEM text and the file it came from (named in errors).
#[derive(Debug, Clone, Copy)]
pub struct Pem<'a> {
    pub path: &'a Path,
    pub bytes: &'a [u8],
}

/// Builds a listener's rustls config from its certificate chain, key and
/// optional client CA (PEM, already read): TLS 1.2 and 1.3, ALPN h2 and
/// http/1.1, no 0-RTT. Used at start-up and on every reload, so both load
/// the same way.
pub fn server_config(cert: Pem<'_>, key: Pem<'_>, client_ca: Option<Pem<'_>>) -> Result<ServerConfig, TlsError> {
    let (certs, key_der) = chain_and_key(cert, key)?;
    let builder = ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.bytes) {
                roots.add(c.map_err(|e| file_err(ca.path, e.to_string()))?)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| file_err(ca.path, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key_der)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.max_early_data_size = 0;
    Ok(config)
}

/// Checks that `cert` holds a certificate chain and `key` its private key
/// (PEM), as a TLS client presents them.
pub fn check_client_identity(cert: Pem<'_>, key: Pem<'_>) -> Result<(), TlsError> {
    let (certs, key_der) = chain_and_key(cert, key)?;
    rustls::sign::CertifiedKey::from_der(certs, key_der, &provider())
        .map_err(|e| file_err(key.path, format!("not the certificate's key: {e}")))?;
    Ok(())
}

/// A certificate chain (at least one certificate) and a private key, PEM.
fn chain_and_key(
    cert: Pem<'_>,
    key: Pem<'_>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(cert.path, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_err(cert.path, "no PEM certificates".into()));
    }
    let key_der = PrivateKeyDer::from_pem_slice(key.bytes).map_err(|e| file_err(key.path, e.to_string()))?;
    Ok((certs, key_der))
}

fn file_err(path: &Path, why: String) -> TlsError {
    TlsError::Ca { path: path.display().to_string(), why }
}

/// Client config for upstreams: webpki roots, or only `ca` when given.
/// TLS 1.2 and 1.3; no 0-RTT (rustls clients never send early data unless
/// asked to).
pub fn client_config(ca: Option<&CaBundle>) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(bundle) => {
            for cert in &bundle.certs {
                roots
                    .add(cert.clone())
                    .map_err(|e| TlsError::Ca { path: bundle.path.display().to_string(), why: e.to_string() })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
