//! The in-memory replay store's capacity, through the real gateway: the
//! number a user configures is the number of live nonces admitted.

#![allow(clippy::unwrap_used)]

use crate::common::*;
use http::StatusCode;

const CAPACITY: usize = 200;

#[tokio::test]
async fn replay_capacity_admits_exactly_the_configured_number_of_live_entries() {
    let upstream = Upstream::start().await;
    let extra = format!("replay: {{ store: memory, capacity: {CAPACITY} }}\nadmin: {{ bind: \"127.0.0.1:0\" }}");
    let gw = gateway(&verify_yaml(&format!("http://{}", upstream.addr), "", &extra)).await;
    let (addr, admin) = (gw.addr("ingress").unwrap(), gw.addr("admin").unwrap());
    let first = signed(Req::get(addr, "/_functions/x"));
    assert_eq!(send(addr, &first).await.status, StatusCode::OK);
    let mut accepted = 1;
    let mut full = None;
    for _ in 0..CAPACITY + 50 {
        let got = send(addr, &signed(Req::get(addr, "/_functions/x"))).await;
        if got.status != StatusCode::OK {
            full = Some(got);
            break;
        }
        accepted += 1;
    }
    let full = full.expect("the store never filled");
    assert_eq!((full.status, full.error_code().as_str()), (StatusCode::SERVICE_UNAVAILABLE, "replay_cache_full"));
    assert_eq!(accepted, CAPACITY, "first replay_cache_full after {accepted} accepted requests");
    assert_eq!(upstream.count(), CAPACITY);
    // A full store still recognises what it holds.
    let replay = send(addr, &first).await;
    assert_eq!((replay.status, replay.error_code().as_str()), (StatusCode::UNAUTHORIZED, "replayed_request"));
    let metrics = send(admin, &Req::get(admin, "/metrics")).await;
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    let line = format!("hmacgw_replay_cache_entries {CAPACITY}");
    assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
}
