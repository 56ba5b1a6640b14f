//! The access log: one event per request, a rejection logged once in it
//! with its reason, and the caller's identity whenever it is known, even
//! when forwarding then fails. Runs the binary with JSON logs.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::*;
use http::StatusCode;

/// Runs the binary on `yaml`, lets `drive` send requests to its listener,
/// stops it with SIGTERM, and returns every event it logged.
async fn events_of(yaml: &str, drive: impl AsyncFnOnce(std::net::SocketAddr)) -> Vec<serde_json::Value> {
    let dir = tls::temp_dir("access");
    let config = dir.join("gw.yaml");
    std::fs::write(&config, yaml).unwrap();
    let binary::Binary { mut child, mut lines, addr, .. } = binary::spawn(&config).await;
    drive(addr).await;
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut events = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        events.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    events
}

#[tokio::test]
async fn rejections_are_logged_once_with_their_reason_and_the_known_identity() {
    // Nothing listens there: the upstream is down.
    let down = ports::unused_addr();
    let yaml = verify_yaml(&format!("http://{down}"), "", "timeouts: { upstream_connect: 1s }");
    let events = events_of(&yaml, async |addr| {
        let unsigned = send(addr, &Req::get(addr, "/_functions/a")).await;
        assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
        let unreachable = send(addr, &signed(Req::get(addr, "/_functions/b"))).await;
        assert_eq!(unreachable.error_code(), "upstream_unavailable");
    })
    .await;

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

/// Answers `/_functions/ok` with `hello`, `/_functions/stall` with 10 of
/// the 100 bytes it announces, then nothing, and `/_functions/big` with 1 MiB.
async fn ok_or_stalling_upstream() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                let big = [b"HTTP/1.1 200 OK\r\ncontent-length: 1048576\r\n\r\n".to_vec(), pattern(1 << 20)].concat();
                let reply: &[u8] = if head.starts_with(b"GET /_functions/stall") {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789"
                } else if head.starts_with(b"GET /_functions/big") {
                    &big
                } else {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
                };
                let _ = stream.write_all(reply).await;
                let _ = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut [0u8; 1])).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn each_access_event_says_how_its_answer_ended_and_what_it_sent() {
    let up = ok_or_stalling_upstream().await;
    let timeouts = "timeouts: { upstream_body_idle: 1s, send_idle: 1s }";
    let events = events_of(&verify_yaml(&format!("http://{up}"), "", timeouts), async |addr| {
        let ok = send(addr, &signed(Req::get(addr, "/_functions/ok"))).await;
        assert_eq!((ok.status, &ok.body[..]), (StatusCode::OK, &b"hello"[..]));
        let stalled = signed(Req::get(addr, "/_functions/stall"));
        let head = format!("GET /_functions/stall HTTP/1.1\r\nhost: {addr}\r\n{}\r\n", header_lines(&stalled));
        let (text, closed) = raw(addr, head.as_bytes()).await;
        assert!(closed && text.ends_with("0123456789"), "{text:?}");
        // A client that never reads its 1 MiB answer.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut never_reads = socket.connect(addr).await.unwrap();
        let big = signed(Req::get(addr, "/_functions/big"));
        let head = format!("GET /_functions/big HTTP/1.1\r\nhost: {addr}\r\n{}\r\n", header_lines(&big));
        tokio::io::AsyncWriteExt::write_all(&mut never_reads, head.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
    })
    .await;

    let access: Vec<_> =
        events.iter().filter(|e| e["target"] == "hmac_gateway::access").map(|e| &e["fields"]).collect();
    let of = |path: &str| *access.iter().find(|a| a["path"] == path).unwrap_or_else(|| panic!("{path}: {access:?}"));
    let ok = of("/_functions/ok");
    assert_eq!((ok["end"].as_str(), ok["bytes_out"].as_u64()), (Some("complete"), Some(5)), "{ok:?}");
    let cut = of("/_functions/stall");
    assert_eq!((cut["status"].as_u64(), cut["end"].as_str()), (Some(200), Some("upstream_body_idle")), "{cut:?}");
    assert_eq!(cut["bytes_out"].as_u64(), Some(10));
    let unread = of("/_functions/big");
    assert_eq!((unread["status"].as_u64(), unread["end"].as_str()), (Some(200), Some("send_idle")), "{unread:?}");
    assert!(unread["bytes_out"].as_u64().unwrap() < 1 << 20, "{unread:?}");
    // The whole exchange, stall included, in whole microseconds.
    let took = cut["duration_ms"].as_f64().unwrap();
    assert!(took >= 1000.0, "{took}");
    assert_eq!((took * 1000.0).round() / 1000.0, took, "{took}");
}
