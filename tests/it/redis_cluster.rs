//! The replay store on a real 3-primary Redis Cluster made here with
//! `redis-cli --cluster create` (plain and TLS), reached as an ACL user: claims spread over the nodes, a replay
//! through another replica is refused, and a node killed fails the claims
//! whose keys it holds (503 `replay_store_unavailable`, not ready) until it
//! is back, when requests pass again without a restart of the gateway.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::common::redis_servers::{CLUSTER_PASSWORD, Cluster, free_port, require_redis};
use crate::common::tls::pki;
use crate::common::tls::temp_dir;
use crate::common::*;
use http::StatusCode;

fn cluster_yaml(upstream: &Upstream, cluster: &Cluster, prefix: &str, extra: &str) -> String {
    nodes_yaml(upstream, &cluster.urls(), prefix, extra)
}

fn nodes_yaml(upstream: &Upstream, urls: &[String], prefix: &str, extra: &str) -> String {
    let nodes: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    verify_yaml(
        &format!("http://{}", upstream.addr),
        "",
        &format!(
            "admin: {{ bind: \"127.0.0.1:0\" }}\nreplay: {{ store: redis-cluster, nodes: [{}], username: gateway, \
             password_secret: redis-pass, key_prefix: \"{prefix}\", timeout: 500ms{extra} }}",
            nodes.join(", ")
        ),
    )
    .replace("secrets:\n", &format!("secrets:\n  redis-pass: {{ value: \"{CLUSTER_PASSWORD}\" }}\n"))
}

fn unique_prefix(test: &str) -> String {
    format!("hmacgw-test:{test}:{}:", hmac_gateway::testing::fresh_nonce().unwrap())
}

async fn ready(gw: &hmac_gateway::server::RunningGateway) -> StatusCode {
    let admin = gw.addr("admin").unwrap();
    send(admin, &Req::get(admin, "/readyz")).await.status
}

/// Two replicas on `cluster`: claims land on several nodes, and each
/// request replayed through the other replica is refused.
async fn assert_shared_and_spread(cluster: &Cluster, extra: &str) {
    let upstream = Upstream::start().await;
    let prefix = unique_prefix("cluster");
    let first = gateway(&cluster_yaml(&upstream, cluster, &prefix, extra)).await;
    let second = gateway(&cluster_yaml(&upstream, cluster, &prefix, extra)).await;
    let (a, b) = (first.addr("ingress").unwrap(), second.addr("ingress").unwrap());
    const REQUESTS: usize = 12;
    for i in 0..REQUESTS {
        let mut req = Req::post(a, &format!("/_functions/pay/{i}"), b"{\"amount\": 10}");
        req.authority = "api.example".into();
        let req = signed(req);
        let got = send(a, &req).await;
        assert_eq!(got.status, StatusCode::OK, "request {i}: {}", got.json());
        let replay = send(b, &req).await;
        assert_eq!(replay.error_code(), "replayed_request", "replay {i}");
    }
    assert_eq!(upstream.count(), REQUESTS);
    let per_node = cluster.keys_per_node(&format!("{prefix}*"));
    assert_eq!(per_node.iter().sum::<usize>(), REQUESTS, "one key per claim: {per_node:?}");
    assert!(per_node.iter().filter(|&&n| n > 0).count() >= 2, "keys on one node only: {per_node:?}");
    assert_eq!(ready(&first).await, StatusCode::OK);
}

#[tokio::test]
#[ignore = "needs redis-server and redis-cli (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn claims_spread_over_the_cluster_and_a_replay_to_another_replica_is_refused() {
    require_redis();
    assert_shared_and_spread(&Cluster::start(3), "").await;
}

/// A cluster as managed services run it: TLS to every node (and between
/// them), the CA named with `ca`, nodes found through `rediss://` URLs.
#[tokio::test]
#[ignore = "needs redis-server and redis-cli (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn a_tls_cluster_shares_replay_state_too() {
    require_redis();
    let dir = temp_dir("cluster-tls");
    let pki = pki(&dir, "cluster", vec!["127.0.0.1".into()]);
    let cluster = Cluster::start_tls(3, &pki);
    assert!(cluster.urls().iter().all(|u| u.starts_with("rediss://")));
    assert_shared_and_spread(&cluster, &format!(", ca: \"{}\"", pki.ca_pem.display())).await;
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends fresh signed requests and counts the answers by status.
async fn statuses(addr: std::net::SocketAddr, n: usize) -> (usize, usize, Vec<String>) {
    let (mut ok, mut unavailable, mut other) = (0, 0, Vec::new());
    for _ in 0..n {
        let got = send(addr, &signed(Req::get(addr, "/_functions/a"))).await;
        if got.status == StatusCode::OK {
            ok += 1;
        } else if (got.status, got.error_code().as_str())
            == (StatusCode::SERVICE_UNAVAILABLE, "replay_store_unavailable")
        {
            unavailable += 1;
        } else {
            other.push(format!("{} {}", got.status, got.error_code()));
        }
    }
    (ok, unavailable, other)
}

#[tokio::test]
#[ignore = "needs redis-server and redis-cli (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn a_dead_node_fails_its_keys_closed_and_the_gateway_recovers_when_it_returns() {
    require_redis();
    let mut cluster = Cluster::start(3);
    let upstream = Upstream::start().await;
    let strict = gateway(&cluster_yaml(&upstream, &cluster, &unique_prefix("node-down"), "")).await;
    let lenient =
        gateway(&cluster_yaml(&upstream, &cluster, &unique_prefix("node-down-allow"), ", on_error: allow")).await;
    let (s, l) = (strict.addr("ingress").unwrap(), lenient.addr("ingress").unwrap());
    assert_eq!(statuses(s, 3).await, (3, 0, vec![]), "all nodes up");

    cluster.nodes[1].kill();
    // About a third of the slots are on the dead node: of 24 fresh claims,
    // those on it fail closed, the others pass.
    let (ok, unavailable, other) = statuses(s, 24).await;
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert!(unavailable > 0, "no claim hit the dead node ({ok} passed)");
    assert!(ok > 0, "the live nodes' claims failed too ({unavailable} refused)");
    assert_eq!(ready(&strict).await, StatusCode::SERVICE_UNAVAILABLE, "not ready while a node is down");
    assert_eq!(statuses(l, 6).await.0, 6, "on_error: allow passes every request");

    cluster.nodes[1].restart();
    cluster.wait_until_ok();
    until_all_pass(s, &strict, "the gateway did not recover after the node came back").await;
}

/// Passes until `addr` answers `n` fresh signed requests with 200 (20 s at most).
async fn until_all_pass(addr: std::net::SocketAddr, gw: &hmac_gateway::server::RunningGateway, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if statuses(addr, 10).await == (10, 0, vec![]) && ready(gw).await == StatusCode::OK {
            return;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
#[ignore = "needs redis-server and redis-cli (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn a_gateway_started_before_its_cluster_connects_when_the_cluster_comes_up() {
    require_redis();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let urls: Vec<String> = ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect();
    let upstream = Upstream::start().await;
    let gw = gateway(&nodes_yaml(&upstream, &urls, &unique_prefix("late-cluster"), "")).await;
    let addr = gw.addr("ingress").unwrap();
    assert_eq!(statuses(addr, 2).await, (0, 2, vec![]), "no cluster yet: fail closed");
    assert_eq!(ready(&gw).await, StatusCode::SERVICE_UNAVAILABLE);

    let _cluster = Cluster::start_on(&ports);
    until_all_pass(addr, &gw, "the gateway did not connect once the cluster was up").await;
}
