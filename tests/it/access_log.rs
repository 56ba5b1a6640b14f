//! The access log: one event per request, a rejection logged once in it
//! with its reason, and the caller's identity whenever it is known, even
//! when forwarding then fails. Runs the binary with JSON logs.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::*;
use http::StatusCode;

#[tokio::test]
async fn rejections_are_logged_once_with_their_reason_and_the_known_identity() {
    // Nothing listens there: the upstream is down.
    let down = ports::unused_addr();
    let dir = std::env::temp_dir().join(format!("hmacgw-access-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gw.yaml");
    std::fs::write(&config, verify_yaml(&format!("http://{down}"), "", "timeouts: { upstream_connect: 1s }")).unwrap();
    let binary::Binary { mut child, mut lines, addr, .. } = binary::spawn(&config).await;
    let unsigned = send(addr, &Req::get(addr, "/_functions/a")).await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    let unreachable = send(addr, &signed(Req::get(addr, "/_functions/b"))).await;
    assert_eq!(unreachable.error_code(), "upstream_unavailable");
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut events = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        events.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let _ = std::fs::remove_dir_all(&dir);

    assert!(!events.iter().any(|e| e["fields"]["message"] == "request rejected"), "logged twice: {events:?}");
    let access: Vec<_> =
        events.iter().filter(|e| e["target"] == "hmac_gateway::access").map(|e| &e["fields"]).collect();
    assert_eq!(access.len(), 2, "{access:?}");
    let (a, b) = (access[0], access[1]);
    assert_eq!((a["path"].as_str(), a["auth"].as_str()), (Some("/_functions/a"), Some("missing_signature")));
    assert!(a["reason"].as_str().is_some_and(|r| !r.is_empty()), "{a:?}");
    assert_eq!(a["consumer"].as_str(), Some(""));
    assert_eq!((b["auth"].as_str(), b["status"].as_u64()), (Some("upstream_unavailable"), Some(502)));
    assert_eq!(b["reason"].as_str(), Some("the upstream could not be reached"));
    // Verified before forwarding failed: who sent it is known and logged.
    assert_eq!((b["consumer"].as_str(), b["keyid"].as_str()), (Some("site-b"), Some("site-b-1")));
}
