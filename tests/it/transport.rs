//! Transports: HTTP/2 cleartext clients, https upstreams with a private CA,
//! and the binary's graceful shutdown on SIGTERM.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::net::TcpListener;

#[tokio::test]
async fn h2c_clients_are_verified_like_http1_ones() {
    let upstream = Upstream::start().await;
    let gw = gateway(&verify_yaml(&format!("http://{}", upstream.addr), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
    for (signed_request, expect) in [(true, StatusCode::OK), (false, StatusCode::UNAUTHORIZED)] {
        let mut req = Req::post(addr, "/_functions/h2?x=1", b"over h2");
        if signed_request {
            req = signed(req);
        }
        // HTTP/2 carries the authority in :authority, not Host.
        let mut request = Request::builder()
            .method("POST")
            .uri(format!("http://{addr}/_functions/h2?x=1"))
            .body(Full::new(req.body.clone()))
            .unwrap();
        *request.headers_mut() = req.headers.clone();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(response.status(), expect);
    }
    assert_eq!(upstream.count(), 1);
    assert_eq!(&upstream.last().body[..], b"over h2");
}

/// A TLS upstream with a certificate for `localhost` issued by a fresh CA.
struct TlsUpstream {
    port: u16,
    ca_path: std::path::PathBuf,
    /// Holds the CA file; removed with the upstream.
    _dir: tls::TempDir,
    seen: Arc<Mutex<Vec<(Version, http::HeaderMap)>>>,
}

async fn tls_upstream() -> TlsUpstream {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&leaf_key, &ca).unwrap();
    let dir = tls::temp_dir("tls-upstream");
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<(Version, http::HeaderMap)>>> = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, record) = (acceptor.clone(), record.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let record = record.clone();
                    async move {
                        record.lock().unwrap().push((req.version(), req.headers().clone()));
                        let _ = req.into_body().collect().await;
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"tls ok"))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TlsUpstream { port, ca_path, _dir: dir, seen }
}

fn rand_suffix() -> String {
    hmac_gateway::testing::fresh_nonce().unwrap().replace(['-', '_'], "x")
}

fn sign_route_yaml(url: &str, ca: Option<&std::path::Path>) -> String {
    let ca = ca.map(|p| format!(", ca: \"{}\"", p.display())).unwrap_or_default();
    format!(
        r#"
listeners: [{{ name: egress, bind: "127.0.0.1:0" }}]
secrets:
  shared: {{ value: "{KEY_B64}", encoding: base64 }}
upstreams:
  host-a: {{ url: "{url}"{ca} }}
routes:
  - name: out
    listener: egress
    sign: {{ scheme: rfc9421, keyid: site-b-1, secret: shared }}
    upstream: host-a
"#
    )
}

#[tokio::test]
async fn https_upstream_with_private_ca_is_signed_and_uses_h2() {
    let up = tls_upstream().await;
    let gw = gateway(&sign_route_yaml(&format!("https://localhost:{}", up.port), Some(&up.ca_path))).await;
    let egress = gw.addr("egress").unwrap();
    let got = send(egress, &Req::post(egress, "/x", b"secret payload")).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(&got.body[..], b"tls ok");
    let (version, headers) = up.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(version, Version::HTTP_2, "ALPN should pick h2");
    assert!(headers.contains_key("signature") && headers.contains_key("content-digest"));
}

#[tokio::test]
async fn untrusted_or_wrong_host_certificates_give_502_never_plaintext() {
    let up = tls_upstream().await;
    // Without the CA: the webpki roots do not trust the test CA.
    let gw = gateway(&sign_route_yaml(&format!("https://localhost:{}", up.port), None)).await;
    let egress = gw.addr("egress").unwrap();
    let got = send(egress, &Req::get(egress, "/x")).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(got.error_code(), "upstream_tls_error");
    // Trusted CA, but the certificate names localhost, not 127.0.0.1.
    let gw = gateway(&sign_route_yaml(&format!("https://127.0.0.1:{}", up.port), Some(&up.ca_path))).await;
    let egress = gw.addr("egress").unwrap();
    let got = send(egress, &Req::get(egress, "/x")).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(got.error_code(), "upstream_tls_error");
    assert!(up.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let slow = Upstream::start_with_delay(Duration::from_millis(800)).await;
    let dir = std::env::temp_dir().join(format!("hmacgw-term-{}", rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gw.yaml");
    std::fs::write(&config, verify_yaml(&format!("http://{}", slow.addr), "", "")).unwrap();
    let binary::Binary { mut child, mut lines, addr, .. } = binary::spawn(&config).await;
    let in_flight = tokio::spawn(async move { send(addr, &signed(Req::get(addr, "/_functions/slow"))).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(slow.count(), 1, "the request should be at the upstream");
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let got = in_flight.await.unwrap();
    assert_eq!(got.status, StatusCode::OK, "in-flight request was cut");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exit status {status}");
    // New connections are refused once it is gone.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    // One access-log event per request, with the caller's identity and no query values.
    let mut access = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["target"] == "hmac_gateway::access" {
            access.push(event["fields"].clone());
        }
        assert!(!line.contains(KEY_B64), "a secret reached the log");
    }
    assert_eq!(access.len(), 1, "{access:?}");
    let a = &access[0];
    assert_eq!(
        (a["route"].as_str(), a["status"].as_u64(), a["consumer"].as_str()),
        (Some("api"), Some(200), Some("site-b"))
    );
    assert_eq!(
        (a["keyid"].as_str(), a["path"].as_str(), a["auth"].as_str()),
        (Some("site-b-1"), Some("/_functions/slow"), Some("ok"))
    );
    assert!(a["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    let _ = std::fs::remove_dir_all(&dir);
}
