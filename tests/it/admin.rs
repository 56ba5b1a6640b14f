//! The admin listener: health, readiness and Prometheus metrics.

#![allow(clippy::unwrap_used)]

use crate::common::*;
use http::StatusCode;

async fn admin_get(addr: std::net::SocketAddr, path: &str) -> Got {
    send(addr, &Req::get(addr, path)).await
}

#[tokio::test]
async fn metrics_count_requests_and_failures_without_secrets() {
    let upstream = Upstream::start().await;
    let yaml = verify_yaml(&format!("http://{}", upstream.addr), "", "admin: { bind: \"127.0.0.1:0\" }");
    let gw = gateway(&yaml).await;
    let (addr, admin) = (gw.addr("ingress").unwrap(), gw.addr("admin").unwrap());
    assert_eq!(send(addr, &signed(Req::get(addr, "/_functions/x?secret=1"))).await.status, StatusCode::OK);
    assert_eq!(send(addr, &Req::get(addr, "/_functions/x")).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(send(addr, &Req::get(addr, "/nowhere")).await.status, StatusCode::NOT_FOUND);

    assert_eq!(admin_get(admin, "/healthz").await.status, StatusCode::OK);
    assert_eq!(admin_get(admin, "/readyz").await.status, StatusCode::OK);
    let metrics = admin_get(admin, "/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    for line in [
        r#"hmacgw_requests_total{route="api",status="200"} 1"#,
        r#"hmacgw_requests_total{route="api",status="401"} 1"#,
        r#"hmacgw_requests_total{route="",status="404"} 1"#,
        r#"hmacgw_auth_failures_total{route="api",reason="missing_signature"} 1"#,
        "hmacgw_replay_cache_entries 1",
        "hmacgw_config_generation 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    assert!(text.contains("hmacgw_request_duration_seconds_bucket{"));
    assert!(text.contains("hmacgw_upstream_duration_seconds_count{route=\"api\"} 1"));
    for secret in [KEY_B64, "site-b-1", "secret=1"] {
        assert!(!text.contains(secret), "`{secret}` leaked into metrics");
    }
}

#[tokio::test]
async fn readiness_follows_the_replay_store() {
    let dead = ports::unused_addr();
    let yaml = verify_yaml(
        "echo",
        "",
        &format!(
            "admin: {{ bind: \"127.0.0.1:0\" }}\nreplay: {{ store: redis, url: \"redis://{dead}\", timeout: 200ms }}"
        ),
    );
    let gw = gateway(&yaml).await;
    let admin = gw.addr("admin").unwrap();
    assert_eq!(admin_get(admin, "/healthz").await.status, StatusCode::OK, "alive even without Redis");
    assert_eq!(admin_get(admin, "/readyz").await.status, StatusCode::SERVICE_UNAVAILABLE);
}
