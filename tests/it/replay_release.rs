//! A request whose replay claim was taken but which never reached the
//! upstream may be presented again; one that may have reached it may not,
//! unless the route says its upstream deduplicates. Real gateway, real
//! upstreams on loopback; the upstream is stopped by not listening.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;
use hmac::{KeyInit as _, Mac as _};
use http::StatusCode;

const HOOK_SECRET: &str = "github-hook-secret-0123456789abcdef";

/// A loopback address nothing listens on (the upstream is "down").
fn free_addr() -> SocketAddr {
    ports::unused_addr()
}

fn github_yaml(upstream: SocketAddr, extra: &str) -> String {
    format!(
        r#"
listeners: [{{ name: ingress, bind: "127.0.0.1:0" }}]
secrets:
  hook: {{ value: "{HOOK_SECRET}" }}
routes:
  - name: hooks
    listener: ingress
    match: {{ path_prefix: /hooks/ }}
    verify: {{ scheme: github, secrets: [hook]{extra} }}
    timeouts: {{ upstream_response: 1s }}
    upstream: "http://{upstream}"
timeouts: {{ upstream_connect: 1s }}
"#
    )
}

/// A GitHub delivery as GitHub sends it: the same bytes on every retry.
fn delivery(gateway: SocketAddr, id: &str) -> Req {
    let body = format!("{{\"action\":\"opened\",\"delivery\":\"{id}\"}}");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let mut req = Req::post(gateway, "/hooks/github", body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    req.headers.insert("x-hub-signature-256", signature.parse().unwrap());
    req.headers.insert("x-github-delivery", id.parse().unwrap());
    req
}

#[tokio::test]
async fn a_delivery_retried_after_the_upstream_was_down_is_accepted() {
    let upstream_addr = free_addr();
    let gw = gateway(&github_yaml(upstream_addr, "")).await;
    let addr = gw.addr("ingress").unwrap();
    let hook = delivery(addr, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    let down = send(addr, &hook).await;
    assert_eq!((down.status, down.error_code().as_str()), (StatusCode::BAD_GATEWAY, "upstream_unavailable"));
    // Still down: the provider's next retry is not a replay either.
    assert_eq!(send(addr, &hook).await.error_code(), "upstream_unavailable");

    let upstream = Upstream::start_at(&upstream_addr.to_string(), Duration::ZERO).await;
    let retry = send(addr, &hook).await;
    assert_eq!(retry.status, StatusCode::OK, "{:?}", retry.body);
    assert_eq!(upstream.count(), 1);
    // Once delivered, the same delivery is a replay.
    assert_eq!(send(addr, &hook).await.error_code(), "replayed_request");
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn concurrent_copies_still_forward_once() {
    let upstream = Upstream::start_with_delay(Duration::from_millis(300)).await;
    let gw = gateway(&github_yaml(upstream.addr, "")).await;
    let addr = gw.addr("ingress").unwrap();
    let hook = delivery(addr, "copy-0001");
    let copies: Vec<_> = (0..8).map(|_| send(addr, &hook)).collect();
    let answers = futures_util::future::join_all(copies).await;
    let ok = answers.iter().filter(|g| g.status == StatusCode::OK).count();
    let replayed =
        answers.iter().filter(|g| g.status == StatusCode::UNAUTHORIZED && g.error_code() == "replayed_request").count();
    assert_eq!((ok, replayed), (1, 7));
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn a_timeout_keeps_the_claim_unless_the_route_releases_on_any_failure() {
    // The upstream receives the request, then answers too late: it may act on it.
    let slow = Upstream::start_with_delay(Duration::from_secs(3)).await;
    let gw = gateway(&github_yaml(slow.addr, "")).await;
    let addr = gw.addr("ingress").unwrap();
    let hook = delivery(addr, "slow-0001");
    assert_eq!(send(addr, &hook).await.error_code(), "upstream_timeout");
    assert_eq!(send(addr, &hook).await.error_code(), "replayed_request", "a timeout must keep the claim");

    let gw = gateway(&github_yaml(slow.addr, ", replay_release: any_failure")).await;
    let addr = gw.addr("ingress").unwrap();
    let hook = delivery(addr, "slow-0002");
    assert_eq!(send(addr, &hook).await.error_code(), "upstream_timeout");
    assert_eq!(send(addr, &hook).await.error_code(), "upstream_timeout", "any_failure releases the claim");
    assert_eq!(slow.count(), 3);
}

#[tokio::test]
async fn an_rfc9421_request_retried_after_the_upstream_was_down_is_accepted() {
    let upstream_addr = free_addr();
    let yaml = verify_yaml(&format!("http://{upstream_addr}"), "", "timeouts: { upstream_connect: 1s }");
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    let req = signed(Req::post(addr, "/_functions/pay", b"{\"amount\": 10}"));
    assert_eq!(send(addr, &req).await.error_code(), "upstream_unavailable");
    let upstream = Upstream::start_at(&upstream_addr.to_string(), Duration::ZERO).await;
    assert_eq!(send(addr, &req).await.status, StatusCode::OK);
    assert_eq!(send(addr, &req).await.error_code(), "replayed_request");
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn a_delivery_replayed_with_another_unsigned_delivery_id_is_refused() {
    let upstream = Upstream::start().await;
    let gw = gateway(&github_yaml(upstream.addr, "")).await;
    let addr = gw.addr("ingress").unwrap();
    let hook = delivery(addr, "first-id");
    assert_eq!(send(addr, &hook).await.status, StatusCode::OK);
    // X-GitHub-Delivery is not covered by the MAC: a new value is no new delivery.
    let mut respelled = hook.clone();
    respelled.headers.insert("x-github-delivery", "second-id".parse().unwrap());
    assert_eq!(send(addr, &respelled).await.error_code(), "replayed_request");
    // Upper-case hex is the same signature too.
    let mut upper = hook.clone();
    let signature = hook.headers["x-hub-signature-256"].to_str().unwrap().replace("sha256=", "");
    upper.headers.insert("x-hub-signature-256", format!("sha256={}", signature.to_uppercase()).parse().unwrap());
    assert_eq!(send(addr, &upper).await.error_code(), "replayed_request");
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn a_stalled_tls_handshake_counts_as_never_sent() {
    // Accepts TCP, then never answers the TLS ClientHello.
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stalled_addr = stalled.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok(Ok((stream, _))) = tokio::time::timeout(Duration::from_secs(10), stalled.accept()).await {
            open.push(stream);
        }
    });
    let yaml =
        github_yaml(stalled_addr, "").replace(&format!("http://{stalled_addr}"), &format!("https://{stalled_addr}"));
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    let hook = delivery(addr, "tls-stall");
    assert_eq!(send(addr, &hook).await.error_code(), "upstream_timeout");
    // The request never left: the provider's retry is not a replay.
    assert_eq!(send(addr, &hook).await.error_code(), "upstream_timeout");
    held.abort();
}
