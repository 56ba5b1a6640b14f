//! Host role end to end: real gateway, real upstream, real sockets.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::*;
use http::{HeaderValue, Method, StatusCode};

async fn setup() -> (Upstream, hmac_gateway::server::RunningGateway, std::net::SocketAddr) {
    let upstream = Upstream::start().await;
    let gw = gateway(&verify_yaml(&format!("http://{}", upstream.addr), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    (upstream, gw, addr)
}

#[tokio::test]
async fn signed_get_is_forwarded_byte_exact_with_identity() {
    let (upstream, _gw, addr) = setup().await;
    let mut req = Req::get(addr, "/_functions/siteStats?b=2&a=x%20y&a=&Z=%7E");
    req.headers.insert("x-custom", HeaderValue::from_static("  kept as is "));
    req.headers.append("x-multi", HeaderValue::from_static("one"));
    req.headers.append("x-multi", HeaderValue::from_static("two"));
    req.headers.insert("x-consumer-id", HeaderValue::from_static("admin"));
    req.headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
    let req = signed(req);
    let got = send(addr, &req).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(&got.body[..], b"upstream says hi");
    assert_eq!(got.headers["x-upstream"], "yes");
    let seen = upstream.last();
    assert_eq!(seen.method, Method::GET);
    assert_eq!(seen.target, "/_functions/siteStats?b=2&a=x%20y&a=&Z=%7E");
    assert_eq!(seen.headers["x-custom"], "kept as is");
    let multi: Vec<_> = seen.headers.get_all("x-multi").iter().collect();
    assert_eq!(multi, ["one", "two"]);
    assert_eq!(seen.headers["x-consumer-id"], "site-b");
    assert_eq!(seen.headers.get_all("x-consumer-id").iter().count(), 1);
    assert_eq!(seen.headers["x-credential-identifier"], "site-b-1");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(seen.headers["x-forwarded-host"], addr.to_string().as_str());
    assert_eq!(seen.headers["host"], upstream.addr.to_string().as_str());
    assert_eq!(seen.headers["x-request-id"], got.headers["x-request-id"]);
    assert!(seen.body.is_empty());
}

#[tokio::test]
async fn signed_post_body_is_forwarded_byte_exact() {
    let (upstream, _gw, addr) = setup().await;
    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let mut req = Req::post(addr, "/_functions/upload", &body);
    req.headers.insert("content-type", HeaderValue::from_static("application/octet-stream"));
    let got = send(addr, &signed(req)).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    let seen = upstream.last();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(&seen.body[..], &body[..]);
    assert_eq!(seen.headers["content-length"], "70000");
    assert_eq!(seen.headers["content-type"], "application/octet-stream");
}

#[tokio::test]
async fn tampering_with_any_covered_part_is_rejected_before_the_upstream() {
    let (upstream, _gw, addr) = setup().await;
    let original = signed(Req::post(addr, "/_functions/pay?amount=10", b"{\"to\":\"alice\"}"));
    let mut cases: Vec<(&str, Req, &str)> = Vec::new();
    let mut r = original.clone();
    r.method = Method::PUT;
    cases.push(("method", r, "invalid_signature"));
    let mut r = original.clone();
    r.path = "/_functions/refund".into();
    cases.push(("path", r, "invalid_signature"));
    let mut r = original.clone();
    r.query = Some("amount=1000".into());
    cases.push(("query", r, "invalid_signature"));
    let mut r = original.clone();
    r.body = bytes::Bytes::from_static(b"{\"to\":\"mallory\"}");
    cases.push(("body", r, "digest_mismatch"));
    let mut r = original.clone();
    r.authority = "other.example:8080".into();
    cases.push(("authority", r, "invalid_signature"));
    let mut r = original.clone();
    r.headers
        .insert("content-digest", HeaderValue::from_static("sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"));
    cases.push(("digest header", r, "invalid_signature"));
    for (what, req, code) in cases {
        let got = send(addr, &req).await;
        assert_eq!(got.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(got.error_code(), code, "{what}");
    }
    assert_eq!(upstream.count(), 0, "a tampered request reached the upstream");
    // The untouched original still goes through.
    assert_eq!(send(addr, &original).await.status, StatusCode::OK);
}

#[tokio::test]
async fn created_outside_the_window_is_rejected() {
    let (upstream, _gw, addr) = setup().await;
    let now = hmac_gateway::testing::unix_now();
    for (created, what) in [(now - 301, "stale"), (now + 120, "future")] {
        let mut req = Req::get(addr, "/_functions/x");
        sign(&mut req, &SignOpts { created, ..SignOpts::default() });
        let got = send(addr, &req).await;
        assert_eq!(got.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(got.error_code(), "signature_expired", "{what}");
    }
    let mut req = Req::get(addr, "/_functions/x");
    sign(&mut req, &SignOpts { created: now - 250, ..SignOpts::default() });
    assert_eq!(send(addr, &req).await.status, StatusCode::OK);
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn a_replayed_request_is_rejected() {
    let (upstream, _gw, addr) = setup().await;
    let req = signed(Req::post(addr, "/_functions/x", b"once"));
    assert_eq!(send(addr, &req).await.status, StatusCode::OK);
    let again = send(addr, &req).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.error_code(), "replayed_request");
    assert_eq!(upstream.count(), 1);
    let mut no_nonce = Req::get(addr, "/_functions/x");
    sign(&mut no_nonce, &SignOpts { nonce: None, ..SignOpts::default() });
    let got = send(addr, &no_nonce).await;
    assert_eq!(got.error_code(), "malformed_signature");
}

#[tokio::test]
async fn fifty_concurrent_copies_forward_exactly_one() {
    let (upstream, _gw, addr) = setup().await;
    let req = signed(Req::post(addr, "/_functions/x", b"race"));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let req = req.clone();
            tokio::spawn(async move { send(addr, &req).await })
        })
        .collect();
    let mut ok = 0;
    let mut replayed = 0;
    for t in tasks {
        let got = t.await.unwrap();
        match got.status {
            StatusCode::OK => ok += 1,
            StatusCode::UNAUTHORIZED if got.error_code() == "replayed_request" => replayed += 1,
            other => panic!("unexpected {other}: {:?}", got.body),
        }
    }
    assert_eq!((ok, replayed), (1, 49));
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn unsigned_request_gets_401_with_accept_signature() {
    let (upstream, _gw, addr) = setup().await;
    let got = send(addr, &Req::get(addr, "/_functions/x")).await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    assert_eq!(got.error_code(), "missing_signature");
    assert_eq!(got.headers["content-type"], "application/json");
    let accept = got.headers["accept-signature"].to_str().unwrap();
    assert!(accept.starts_with(r#"sig1=("@method" "@authority" "@path" "@query");created;nonce"#), "{accept}");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn wrong_key_unknown_key_and_disallowed_consumer() {
    let (upstream, _gw, addr) = setup().await;
    let mut wrong = Req::get(addr, "/_functions/x");
    sign(&mut wrong, &SignOpts { key_b64: OTHER_KEY_B64, ..SignOpts::default() });
    let mut unknown = Req::get(addr, "/_functions/x");
    sign(&mut unknown, &SignOpts { keyid: "nobody".into(), ..SignOpts::default() });
    let (wrong, unknown) = (send(addr, &wrong).await, send(addr, &unknown).await);
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error_code(), "invalid_signature");
    assert_eq!(unknown.error_code(), "invalid_signature");
    assert_eq!(wrong.json()["message"], unknown.json()["message"]);
    // A valid signature by a consumer the route does not allow.
    let mut intruder = Req::get(addr, "/_functions/x");
    sign(&mut intruder, &SignOpts { keyid: "intruder-1".into(), key_b64: OTHER_KEY_B64, ..SignOpts::default() });
    let got = send(addr, &intruder).await;
    assert_eq!(got.status, StatusCode::FORBIDDEN);
    assert_eq!(got.error_code(), "consumer_not_allowed");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn body_must_be_covered_by_content_digest() {
    let (upstream, _gw, addr) = setup().await;
    let opts = SignOpts::default();
    // Signed as if bodiless, so content-digest is not covered; then a body.
    let mut bare = Req::get(addr, "/_functions/x");
    bare.method = Method::POST;
    sign(&mut bare, &opts);
    bare.body = bytes::Bytes::from_static(b"data");
    let got = send(addr, &bare).await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    assert_eq!(got.error_code(), "missing_component");
    let required = vec!["@method", "@authority", "@path"];
    let mut partial = Req::get(addr, "/_functions/x");
    sign(&mut partial, &SignOpts { components: required, ..SignOpts::default() });
    let got = send(addr, &partial).await;
    assert_eq!(got.error_code(), "missing_component");
    assert!(got.json()["message"].as_str().unwrap().contains("@query"));
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn oversized_bodies_get_413_and_never_reach_the_upstream() {
    let upstream = Upstream::start().await;
    let yaml = verify_yaml(&format!("http://{}", upstream.addr), "", "limits: { max_body_bytes: 1000 }");
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    let at_limit = signed(Req::post(addr, "/_functions/x", &[b'a'; 1000]));
    assert_eq!(send(addr, &at_limit).await.status, StatusCode::OK);
    let over = signed(Req::post(addr, "/_functions/x", &[b'a'; 1001]));
    let got = send(addr, &over).await;
    assert_eq!(got.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(got.error_code(), "body_too_large");
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_cut_off() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let upstream = Upstream::start().await;
    let yaml = verify_yaml(&format!("http://{}", upstream.addr), "", "limits: { max_body_bytes: 100 }");
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    let mut req = Req::post(addr, "/_functions/x", &[b'z'; 200]);
    sign(&mut req, &SignOpts::default());
    let head = format!(
        "POST /_functions/x HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\n{}\r\nc8\r\n",
        header_lines(&req)
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b'z'; 200]).await.unwrap();
    stream.write_all(b"\r\n0\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("body_too_large"));
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn upstream_down_gives_502_and_slow_upstream_504() {
    let closed = ports::unused_addr();
    let gw = gateway(&verify_yaml(&format!("http://{closed}"), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    let got = send(addr, &signed(Req::get(addr, "/_functions/x"))).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(got.error_code(), "upstream_unavailable");

    let slow = Upstream::start_with_delay(Duration::from_secs(3)).await;
    let yaml = verify_yaml(&format!("http://{}", slow.addr), "", "timeouts: { upstream_response: 300ms }");
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    let got = send(addr, &signed(Req::get(addr, "/_functions/x"))).await;
    assert_eq!(got.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(got.error_code(), "upstream_timeout");
}

#[tokio::test]
async fn unknown_paths_get_404_json() {
    let (upstream, _gw, addr) = setup().await;
    let got = send(addr, &signed(Req::get(addr, "/elsewhere"))).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    assert_eq!(got.error_code(), "no_route");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn a_full_replay_cache_fails_closed_with_503() {
    let upstream = Upstream::start().await;
    // Room for 16 live nonces in the whole store.
    let yaml = verify_yaml(&format!("http://{}", upstream.addr), "", "replay: { store: memory, capacity: 16 }");
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    let mut accepted = 0;
    let mut full = None;
    for _ in 0..200 {
        let got = send(addr, &signed(Req::get(addr, "/_functions/x"))).await;
        match got.status {
            StatusCode::OK => accepted += 1,
            _ => {
                full = Some(got);
                break;
            }
        }
    }
    let full = full.expect("the cache never filled");
    assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(full.error_code(), "replay_cache_full");
    assert_eq!(accepted, 16);
    assert_eq!(upstream.count(), accepted, "a request the cache could not record reached the upstream");
}
