//! Test PKI (rcgen) and TLS helpers for listener tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use super::verify_yaml;

/// A fresh directory under the system temp dir, removed with its contents
/// when dropped, so test runs leave nothing behind.
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// The path, with the directory left for its new owner to remove (a
    /// `RedisServer` removes its data directory itself).
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

pub fn temp_dir(tag: &str) -> TempDir {
    let path = std::env::temp_dir()
        .join(format!("hmacgw-{tag}-{}", hmac_gateway::testing::fresh_nonce().unwrap().replace(['-', '_'], "x")));
    std::fs::create_dir_all(&path).unwrap();
    TempDir { path, keep: false }
}

/// A CA that signs one leaf; files are written as PEM under `dir`.
pub struct Pki {
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    pub leaf_der: rustls::pki_types::CertificateDer<'static>,
    pub leaf_key: Vec<u8>,
}

/// The CA and the leaf carry distinct names: OpenSSL (redis-server,
/// redis-cli) takes a leaf named like its issuer for a self-signed
/// certificate and refuses it.
pub fn pki(dir: &Path, name: &str, sans: Vec<String>) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, format!("hmacgw test {name} CA"));
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(sans).unwrap();
    leaf_params.distinguished_name.push(DnType::CommonName, format!("hmacgw test {name}"));
    let leaf = leaf_params.signed_by(&key, &ca).unwrap();
    let p = |f: &str| dir.join(format!("{name}-{f}.pem"));
    std::fs::write(p("ca"), ca.pem()).unwrap();
    std::fs::write(p("cert"), leaf.pem()).unwrap();
    std::fs::write(p("key"), key.serialize_pem()).unwrap();
    Pki {
        ca_pem: p("ca"),
        cert_pem: p("cert"),
        key_pem: p("key"),
        leaf_der: leaf.der().clone(),
        leaf_key: key.serialize_der(),
    }
}

/// `verify_yaml` with the `ingress` listener terminating TLS with `server`'s
/// certificate (and requiring client certificates from `client_ca`).
pub fn tls_yaml(upstream: SocketAddr, server: &Pki, client_ca: Option<&Path>, extra_top: &str) -> String {
    let client_ca = client_ca.map(|p| format!(", client_ca: \"{}\"", p.display())).unwrap_or_default();
    verify_yaml(&format!("http://{upstream}"), "", extra_top).replace(
        r#"  - { name: ingress, bind: "127.0.0.1:0" }"#,
        &format!(
            r#"  - {{ name: ingress, bind: "127.0.0.1:0", tls: {{ cert: "{}", key: "{}"{client_ca} }} }}"#,
            server.cert_pem.display(),
            server.key_pem.display()
        ),
    )
}

/// rustls client config trusting only `ca`, offering `alpn` (may be empty).
pub fn client_config(ca: &Path, alpn: &[&[u8]]) -> rustls::ClientConfig {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// A raw TLS connection to `addr` (certificate name 127.0.0.1), handshake
/// completed, nothing sent yet.
pub async fn tls_connect(
    addr: SocketAddr,
    ca: &Path,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(ca, alpn)));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    connector.connect(name, tcp).await.unwrap()
}
