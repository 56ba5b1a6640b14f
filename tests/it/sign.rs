//! Consumer role end to end: an application sends plain HTTP to the egress
//! listener, which signs and calls a verifying ingress gateway.

#![allow(clippy::unwrap_used)]

use crate::common::*;
use http::{HeaderValue, Method, StatusCode};

/// Ingress (verify) in front of a recording upstream, and egress (sign)
/// calling the ingress: two gateway processes' worth, as in the demo.
async fn pair(egress_extra: &str) -> (Upstream, Vec<hmac_gateway::server::RunningGateway>, std::net::SocketAddr) {
    pair_with("", egress_extra).await
}

/// As [`pair`], with route keys added to the ingress route too.
async fn pair_with(
    ingress_extra: &str,
    egress_extra: &str,
) -> (Upstream, Vec<hmac_gateway::server::RunningGateway>, std::net::SocketAddr) {
    let upstream = Upstream::start().await;
    let up = format!("http://{}", upstream.addr);
    let upstream_line = format!("    upstream: \"{up}\"");
    let ingress_yaml = verify_yaml(&up, "", "").replace(&upstream_line, &format!("{ingress_extra}\n{upstream_line}"));
    let ingress = gateway(&ingress_yaml).await;
    let ingress_addr = ingress.addr("ingress").unwrap();
    let egress_yaml = sign_yaml(ingress_addr, "", egress_extra);
    let egress = gateway(&egress_yaml).await;
    let egress_addr = egress.addr("egress").unwrap();
    (upstream, vec![ingress, egress], egress_addr)
}

#[tokio::test]
async fn plain_requests_through_egress_are_verified_by_ingress() {
    let (upstream, _gws, egress) = pair("").await;
    let mut get = Req::get(egress, "/_functions/siteStats?period=7d&x=%2A");
    get.headers.insert("x-app", HeaderValue::from_static("a"));
    let got = send(egress, &get).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(&got.body[..], b"upstream says hi");
    let seen = upstream.last();
    assert_eq!(seen.method, Method::GET);
    assert_eq!(seen.target, "/_functions/siteStats?period=7d&x=%2A");
    assert_eq!(seen.headers["x-consumer-id"], "site-b");
    assert_eq!(seen.headers["x-app"], "a");

    let body = br#"{"visits": 42}"#;
    let post = Req::post(egress, "/_functions/ingest", body);
    let got = send(egress, &post).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    let seen = upstream.last();
    assert_eq!(&seen.body[..], body);
    // Independently computed: python3 hashlib.sha256 + base64.
    assert_eq!(seen.headers["content-digest"], "sha-256=:Z3wl+oQr4fKvj2BTX4hyflYoCDQeVj2ZCZUR0cuLkIg=:");
    let input = seen.headers["signature-input"].to_str().unwrap();
    assert!(
        input.starts_with(r#"sig1=("@method" "@authority" "@path" "@query" "content-digest");created="#),
        "{input}"
    );
    assert!(
        input.contains(r#"keyid="site-b-1""#) && input.contains("nonce=") && input.contains(r#"alg="hmac-sha256""#)
    );
    assert_eq!(upstream.count(), 2);
}

#[tokio::test]
async fn each_call_gets_a_fresh_nonce() {
    let (upstream, _gws, egress) = pair("").await;
    for _ in 0..5 {
        let got = send(egress, &Req::post(egress, "/_functions/same", b"same body")).await;
        assert_eq!(got.status, StatusCode::OK);
    }
    let nonces: std::collections::HashSet<String> = upstream
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.headers["signature-input"].to_str().unwrap().split("nonce=").nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(nonces.len(), 5);
}

#[tokio::test]
async fn application_signature_headers_are_replaced() {
    let (upstream, _gws, egress) = pair("").await;
    let mut req = Req::get(egress, "/_functions/x");
    req.headers.insert("signature", HeaderValue::from_static("sig1=:AAAA:"));
    req.headers.insert("signature-input", HeaderValue::from_static(r#"sig1=("@method");keyid="forged""#));
    let got = send(egress, &req).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert!(!upstream.last().headers["signature-input"].to_str().unwrap().contains("forged"));
}

#[tokio::test]
async fn signing_happens_after_the_path_rewrite() {
    // The app calls /api/v1/_functions/x; the route strips /api/v1.
    let (upstream, _gws, egress) = pair("    strip_prefix: /api/v1\n    match: { path_prefix: /api/v1/ }").await;
    let got = send(egress, &Req::get(egress, "/api/v1/_functions/x?y=1")).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(upstream.last().target, "/_functions/x?y=1");
}

#[tokio::test]
async fn ingress_rejection_reaches_the_application_unchanged() {
    let (upstream, _gws, egress) = pair("").await;
    let got = send(egress, &Req::get(egress, "/not-routed")).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    assert_eq!(got.error_code(), "no_route");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn preserve_host_signs_and_sends_the_clients_host() {
    let (upstream, _gws, egress) = pair_with("    preserve_host: true", "    preserve_host: true").await;
    let mut req = Req::get(egress, "/_functions/siteStats");
    req.authority = "api.partner.example".into();
    let got = send(egress, &req).await;
    // The ingress verified `@authority` against the Host it received ...
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    // ... which is the client's, carried through both hops.
    assert_eq!(upstream.last().headers["host"], "api.partner.example");
}
