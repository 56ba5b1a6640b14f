//! Edge hardening over real sockets: TLS and mTLS listeners, slow clients,
//! size limits, trusted proxies, upstream faults.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::tls::{Pki, pki, temp_dir, tls_yaml};
use crate::common::*;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, Version};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn tls_client(
    ca: &Path,
    client: Option<&Pki>,
) -> Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Full<Bytes>> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let key = rustls::pki_types::PrivateKeyDer::try_from(id.leaf_key.clone()).unwrap();
            builder.with_client_auth_cert(vec![id.leaf_der.clone()], key).unwrap()
        }
    };
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}

async fn https_get(
    client: &Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Full<Bytes>>,
    addr: SocketAddr,
) -> Result<(StatusCode, Version), String> {
    let req = signed(Req::get(addr, "/_functions/tls"));
    let mut request =
        Request::builder().uri(format!("https://{addr}/_functions/tls")).body(Full::new(Bytes::new())).unwrap();
    *request.headers_mut() = req.headers;
    let response = client.request(request).await.map_err(|e| format!("{e:?}"))?;
    Ok((response.status(), response.version()))
}

#[tokio::test]
async fn tls_listener_serves_h2_and_marks_proto_https() {
    let dir = temp_dir("tls");
    let server = pki(&dir, "server", vec!["127.0.0.1".into(), "localhost".into()]);
    let upstream = Upstream::start().await;
    let gw = gateway(&tls_yaml(upstream.addr, &server, None, "")).await;
    let addr = gw.addr("ingress").unwrap();
    let (status, version) = https_get(&tls_client(&server.ca_pem, None), addr).await.unwrap();
    assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));
    assert_eq!(upstream.last().headers["x-forwarded-proto"], "https");
    // Plain HTTP to a TLS listener gets no HTTP answer at all.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /_functions/tls HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut out)).await;
    assert!(!String::from_utf8_lossy(&out).contains("HTTP/1.1 200"));
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn a_renewed_certificate_is_served_after_a_reload() {
    let dir = temp_dir("renew");
    let old = pki(&dir, "server", vec!["127.0.0.1".into()]);
    let upstream = Upstream::start().await;
    let yaml = tls_yaml(upstream.addr, &old, None, "");
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    assert!(https_get(&tls_client(&old.ca_pem, None), addr).await.is_ok());
    // Renewal from another CA, written over the same paths.
    let renewed = pki(&dir, "renewed", vec!["127.0.0.1".into()]);
    std::fs::copy(&renewed.cert_pem, &old.cert_pem).unwrap();
    std::fs::copy(&renewed.key_pem, &old.key_pem).unwrap();
    let config = hmac_gateway::config::Loaded::from_yaml(&yaml, "test.yaml", Path::new(".")).unwrap();
    gw.reload(config).await.unwrap();
    assert_eq!(gw.addr("ingress"), Some(addr));
    let (status, _) = https_get(&tls_client(&renewed.ca_pem, None), addr).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let err = https_get(&tls_client(&old.ca_pem, None), addr).await.unwrap_err();
    assert!(err.contains("InvalidCertificate"), "the old certificate is still served: {err}");
}

#[tokio::test]
async fn mtls_listener_requires_a_client_certificate_from_its_ca() {
    let dir = temp_dir("mtls");
    let server = pki(&dir, "server", vec!["127.0.0.1".into()]);
    let client_id = pki(&dir, "client", vec!["site-b.example".into()]);
    let stranger = pki(&dir, "stranger", vec!["site-x.example".into()]);
    let upstream = Upstream::start().await;
    let gw = gateway(&tls_yaml(upstream.addr, &server, Some(&client_id.ca_pem), "")).await;
    let addr = gw.addr("ingress").unwrap();
    let ok = https_get(&tls_client(&server.ca_pem, Some(&client_id)), addr).await;
    assert_eq!(ok.unwrap().0, StatusCode::OK);
    assert!(https_get(&tls_client(&server.ca_pem, None), addr).await.is_err(), "no client certificate accepted");
    assert!(https_get(&tls_client(&server.ca_pem, Some(&stranger)), addr).await.is_err(), "foreign CA accepted");
    assert_eq!(upstream.count(), 1);
}

async fn raw_exchange(addr: SocketAddr, parts: &[(&[u8], Duration)]) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    for (bytes, pause) in parts {
        if stream.write_all(bytes).await.is_err() {
            break;
        }
        tokio::time::sleep(*pause).await;
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    (String::from_utf8_lossy(&out).into_owned(), started.elapsed())
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let upstream = Upstream::start().await;
    let yaml =
        verify_yaml(&format!("http://{}", upstream.addr), "", "timeouts: { header_read: 300ms, body_idle: 300ms }");
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    // Headers that never finish: the connection is closed after header_read.
    let (out, took) = raw_exchange(addr, &[(b"GET /_functions/x HTTP/1.1\r\nhost: a\r\n", Duration::ZERO)]).await;
    assert!(!out.contains("200"), "{out}");
    assert!(took < Duration::from_secs(3), "slow headers held the connection for {took:?}");
    // A signed body that stalls half way: 408 body_timeout, nothing forwarded.
    let req = signed(Req::post(addr, "/_functions/x", b"0123456789"));
    let head =
        format!("POST /_functions/x HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 10\r\n{}\r\n01234", header_lines(&req));
    let (out, took) = raw_exchange(addr, &[(head.as_bytes(), Duration::from_secs(2))]).await;
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(out.contains("body_timeout"));
    assert!(took < Duration::from_secs(4));
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn oversized_heads_get_431_and_414_json() {
    let upstream = Upstream::start().await;
    let yaml = verify_yaml(
        &format!("http://{}", upstream.addr),
        "",
        "limits: { max_header_bytes: 2048, max_headers: 20, max_uri_bytes: 512 }",
    );
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    let mut big = signed(Req::get(addr, "/_functions/x"));
    big.headers.insert("x-big", HeaderValue::from_str(&"v".repeat(3000)).unwrap());
    let got = send(addr, &big).await;
    assert_eq!(
        (got.status, got.error_code().as_str()),
        (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large")
    );
    let mut many = signed(Req::get(addr, "/_functions/x"));
    for i in 0..25 {
        many.headers
            .insert(http::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(), HeaderValue::from_static("1"));
    }
    assert_eq!(send(addr, &many).await.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let long = signed(Req::get(addr, &format!("/_functions/x?q={}", "a".repeat(600))));
    let got = send(addr, &long).await;
    assert_eq!((got.status, got.error_code().as_str()), (StatusCode::URI_TOO_LONG, "uri_too_long"));
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn forwarded_headers_are_trusted_only_from_trusted_proxies() {
    let upstream = Upstream::start().await;
    for (extra, want_for, want_proto) in [
        ("", "127.0.0.1", "http"),
        ("trusted_proxies: [\"10.0.0.0/8\"]", "127.0.0.1", "http"),
        ("trusted_proxies: [\"127.0.0.0/8\"]", "203.0.113.7, 127.0.0.1", "https"),
    ] {
        let gw = gateway(&verify_yaml(&format!("http://{}", upstream.addr), "", extra)).await;
        let addr = gw.addr("ingress").unwrap();
        let mut req = signed(Req::get(addr, "/_functions/x"));
        req.headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        req.headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        req.headers.insert("x-forwarded-host", HeaderValue::from_static("public.example"));
        assert_eq!(send(addr, &req).await.status, StatusCode::OK, "{extra}");
        let seen = upstream.last();
        assert_eq!(seen.headers["x-forwarded-for"], want_for, "{extra}");
        assert_eq!(seen.headers["x-forwarded-proto"], want_proto, "{extra}");
    }
}

/// An upstream that answers every connection with fixed bytes, then closes.
async fn scripted_upstream(reply: &'static [u8]) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(reply).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, hits)
}

#[tokio::test]
async fn upstream_faults_map_to_502_and_are_never_retried() {
    for (reply, name) in [
        (&b""[..], "closed without answering"),
        (&b"HTTP/1.1 2OO OK\r\n\r\n"[..], "malformed status line"),
        (&b"NOT HTTP AT ALL\r\n\r\n"[..], "garbage"),
    ] {
        let (up, hits) = scripted_upstream(reply).await;
        let gw = gateway(&verify_yaml(&format!("http://{up}"), "", "")).await;
        let addr = gw.addr("ingress").unwrap();
        let got = send(addr, &signed(Req::post(addr, "/_functions/pay", b"once"))).await;
        assert_eq!(got.status, StatusCode::BAD_GATEWAY, "{name}");
        assert_eq!(got.error_code(), "upstream_unavailable", "{name}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1, "{name}: the POST was sent twice");
    }
}

#[tokio::test]
async fn upstream_5xx_passes_through_and_a_cut_body_never_looks_complete() {
    let (up, _) = scripted_upstream(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy").await;
    let gw = gateway(&verify_yaml(&format!("http://{up}"), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    let got = send(addr, &signed(Req::get(addr, "/_functions/x"))).await;
    assert_eq!((got.status, &got.body[..]), (StatusCode::SERVICE_UNAVAILABLE, &b"busy"[..]));

    // 100 bytes promised, 10 sent, then the upstream hangs up.
    let (up, _) = scripted_upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789").await;
    let gw = gateway(&verify_yaml(&format!("http://{up}"), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    let req = signed(Req::get(addr, "/_functions/x"));
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request =
        Request::builder().uri(format!("http://{addr}/_functions/x")).body(Full::new(Bytes::new())).unwrap();
    *request.headers_mut() = req.headers;
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = tokio::time::timeout(Duration::from_secs(5), response.into_body().collect()).await.unwrap();
    assert!(body.is_err(), "a truncated body was delivered as complete");
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_its_upstream_request() {
    // The upstream reads the request, never answers, and reports when the
    // gateway hangs up on it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf).await;
        let eof = matches!(tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await, Ok(Ok(0)));
        let _ = closed_tx.send(eof);
    });
    let gw = gateway(&verify_yaml(&format!("http://{up}"), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    let req = signed(Req::get(addr, "/_functions/slow"));
    let client_task = tokio::spawn(async move { send(addr, &req).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    client_task.abort();
    let upstream_saw_close = tokio::time::timeout(Duration::from_secs(6), closed_rx).await.unwrap().unwrap();
    assert!(upstream_saw_close, "the upstream request outlived its client");
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_from_responses_too() {
    let (up, _) = scripted_upstream(
        b"HTTP/1.1 200 OK\r\nconnection: x-internal-hop\r\nx-internal-hop: secret\r\nkeep-alive: timeout=5\r\nx-kept: 1\r\ncontent-length: 2\r\n\r\nok",
    )
    .await;
    let gw = gateway(&verify_yaml(&format!("http://{up}"), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    let got = send(addr, &signed(Req::get(addr, "/_functions/x"))).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.headers["x-kept"], "1");
    assert!(!got.headers.contains_key("x-internal-hop"));
    assert!(!got.headers.contains_key("keep-alive"));
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_and_idle_ones_are_closed() {
    let upstream = Upstream::start().await;
    let yaml = verify_yaml(
        &format!("http://{}", upstream.addr),
        "",
        "limits: { max_connections: 1 }\ntimeouts: { header_read: 500ms }",
    );
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    // A silent connection is closed once header_read passes.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let started = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(3), silent.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0);
    assert!(started.elapsed() < Duration::from_secs(2), "silent connection held for {:?}", started.elapsed());
    // A keep-alive connection that served one request and then idles holds
    // the only slot until the header timer closes it; the next client waits.
    let req = signed(Req::get(addr, "/_functions/first"));
    let head = format!("GET /_functions/first HTTP/1.1\r\nhost: {addr}\r\n{}\r\n", header_lines(&req));
    let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
    first.write_all(head.as_bytes()).await.unwrap();
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    let got = send(addr, &signed(Req::get(addr, "/_functions/second"))).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300), "served before a slot was free");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), first.read_to_end(&mut rest)).await.unwrap();
    assert_eq!(upstream.count(), 2);
}
