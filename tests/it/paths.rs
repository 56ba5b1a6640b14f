//! The path policy: under `strict` (the default) paths an upstream might read
//! differently are refused even when correctly signed; under `raw` the signed
//! bytes are forwarded as they are.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use crate::common::*;

/// Sends a correctly signed GET for `path` over raw TCP; returns the response.
async fn signed_get(addr: SocketAddr, path: &str) -> String {
    let req = signed(Req::get(addr, path));
    let head = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n{}\r\n", header_lines(&req));
    raw(addr, head.as_bytes()).await.0
}

#[tokio::test]
async fn strict_policy_refuses_ambiguous_paths_even_when_signed() {
    let upstream = Upstream::start().await;
    let gw = gateway(&verify_yaml(&format!("http://{}", upstream.addr), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    for path in [
        "/_functions/a/../admin",
        "/_functions/./x",
        "/_functions/%2e%2e/admin",
        "/_functions//x",
        "/_functions/a%2Fb",
        "/_functions/a%5cb",
        "/_functions/a;x=1",
        "/_functions/%41",
        "/_functions/a%00",
    ] {
        let response = signed_get(addr, path).await;
        assert!(response.starts_with("HTTP/1.1 400"), "{path}: {response}");
        assert!(response.contains("non_canonical_path"), "{path}: {response}");
    }
    assert_eq!(upstream.count(), 0);
    // Canonical paths with escapes that mean only one thing go through, byte-exact.
    for path in ["/_functions/a%20b/caf%C3%A9", "/_functions/100%25", "/_functions/a.b/~c"] {
        let response = signed_get(addr, path).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{path}: {response}");
        assert_eq!(upstream.last().target, path);
    }
}

#[tokio::test]
async fn raw_policy_forwards_the_signed_bytes_unchanged() {
    let upstream = Upstream::start().await;
    let yaml = verify_yaml(&format!("http://{}", upstream.addr), "", "")
        .replace("    upstream: \"http", "    path_policy: raw\n    upstream: \"http");
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    for path in ["/_functions/a/../b", "/_functions//x", "/_functions/a%2Fb", "/_functions/a;v=1"] {
        let response = signed_get(addr, path).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{path}: {response}");
        assert_eq!(upstream.last().target, path, "forwarded target differs from the verified one");
    }
}
