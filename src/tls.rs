//! rustls configuration (ring provider) in one place, so that certificates
//! are loaded the same way at start-up and, later, on reload.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use crate::config::CaBundle;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("CA file {path}: {why}")]
    Ca { path: String, why: String },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
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
