//! The Redis replay store with a real redis-server: replicas share replay
//! protection, an outage fails closed (or open, when configured), and the
//! gateway recovers by itself. Each test starts its own redis-server.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;
use http::StatusCode;

/// A redis-server of the test's own, and its URL.
fn redis() -> (PrivateRedis, String) {
    redis_servers::require_redis();
    let server = PrivateRedis::start(ports::unused_port()).expect("redis-server starts");
    let url = format!("redis://127.0.0.1:{}", server.port);
    (server, url)
}

fn redis_yaml(upstream: &Upstream, url: &str, prefix: &str, extra: &str) -> String {
    verify_yaml(
        &format!("http://{}", upstream.addr),
        "",
        &format!("replay: {{ store: redis, url: \"{url}\", key_prefix: \"{prefix}\", timeout: 300ms{extra} }}"),
    )
}

fn unique_prefix(test: &str) -> String {
    format!("hmacgw-test:{test}:{}:", hmac_gateway::testing::fresh_nonce().unwrap())
}

#[tokio::test]
#[ignore = "needs redis-server (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn a_replay_sent_to_another_replica_is_rejected() {
    let (_redis, url) = redis();
    let upstream = Upstream::start().await;
    let prefix = unique_prefix("replicas");
    let first = gateway(&redis_yaml(&upstream, &url, &prefix, "")).await;
    let second = gateway(&redis_yaml(&upstream, &url, &prefix, "")).await;
    let (a, b) = (first.addr("ingress").unwrap(), second.addr("ingress").unwrap());
    // Both replicas answer for the same public authority.
    let mut req = Req::post(a, "/_functions/pay", b"{\"amount\": 10}");
    req.authority = "api.example".into();
    let req = signed(req);
    assert_eq!(send(a, &req).await.status, StatusCode::OK);
    let replay = send(b, &req).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.error_code(), "replayed_request");
    assert_eq!(upstream.count(), 1);
}

/// A private redis-server on a free port, so the test can stop and start it.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start(port: u16) -> Option<Self> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let ready = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        ready.then_some(Self { port, child: Some(child) })
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
#[ignore = "needs redis-server (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn an_outage_fails_closed_and_the_gateway_recovers() {
    redis_servers::require_redis();
    let port = ports::unused_port();
    let mut redis = PrivateRedis::start(port).expect("redis-server on PATH");
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let upstream = Upstream::start().await;
    let strict = gateway(&redis_yaml(&upstream, &url, &unique_prefix("outage"), "")).await;
    let lenient = gateway(&redis_yaml(&upstream, &url, &unique_prefix("outage-allow"), ", on_error: allow")).await;
    let (s, l) = (strict.addr("ingress").unwrap(), lenient.addr("ingress").unwrap());
    assert_eq!(send(s, &signed(Req::get(s, "/_functions/a"))).await.status, StatusCode::OK);

    redis.stop();
    let down = send(s, &signed(Req::get(s, "/_functions/b"))).await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.error_code(), "replay_store_unavailable");
    assert!(!down.json()["message"].as_str().unwrap().contains("127.0.0.1"), "internal detail leaked");
    assert_eq!(send(l, &signed(Req::get(l, "/_functions/c"))).await.status, StatusCode::OK, "on_error: allow");
    assert_eq!(upstream.count(), 2);

    let _redis = PrivateRedis::start(port).expect("redis-server restarts");
    let mut recovered = false;
    for _ in 0..40 {
        if send(s, &signed(Req::get(s, "/_functions/d"))).await.status == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "the gateway did not reconnect to Redis");
}

#[tokio::test]
#[ignore = "needs redis-server (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn a_request_that_never_left_is_released_in_redis_too() {
    let (_redis, url) = redis();
    // Nothing listens on the upstream's address yet.
    let upstream_addr = ports::unused_addr();
    let prefix = unique_prefix("release");
    let yaml = verify_yaml(
        &format!("http://{upstream_addr}"),
        "",
        &format!(
            "replay: {{ store: redis, url: \"{url}\", key_prefix: \"{prefix}\" }}\ntimeouts: {{ upstream_connect: 1s }}"
        ),
    );
    let first = gateway(&yaml).await;
    let second = gateway(&yaml).await;
    let (a, b) = (first.addr("ingress").unwrap(), second.addr("ingress").unwrap());
    let mut req = Req::post(a, "/_functions/pay", b"{\"amount\": 10}");
    req.authority = "api.example".into();
    let req = signed(req);
    assert_eq!(send(a, &req).await.error_code(), "upstream_unavailable");
    let upstream = Upstream::start_at(&upstream_addr.to_string(), Duration::ZERO).await;
    // The retry reaches another replica: the claim was released in Redis.
    assert_eq!(send(b, &req).await.status, StatusCode::OK);
    assert_eq!(send(a, &req).await.error_code(), "replayed_request");
    assert_eq!(upstream.count(), 1);
}
