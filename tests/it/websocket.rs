//! Websocket upgrades: refused unless the route allows them, verified like
//! any request, and tunnelled only after the upstream answers 101.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Answers the handshake with `status_line`, then echoes whatever arrives.
async fn ws_upstream(status_line: &'static str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                record.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
                let reply = format!(
                    "{status_line}\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: test\r\ncontent-length: 0\r\n\r\n"
                );
                stream.write_all(reply.as_bytes()).await.unwrap();
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, heads)
}

fn ws_route(upstream: SocketAddr, allow: bool) -> String {
    ws_route_with(upstream, allow, "")
}

fn ws_route_with(upstream: SocketAddr, allow: bool, extra_top: &str) -> String {
    let ws = if allow { "    websocket: true\n" } else { "" };
    verify_yaml(&format!("http://{upstream}"), "", extra_top)
        .replace("    upstream: \"http", &format!("{ws}    upstream: \"http"))
}

fn upgrade_request(addr: SocketAddr, signed_request: bool) -> String {
    let mut req = Req::get(addr, "/_functions/socket");
    req.headers.insert("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap());
    req.headers.insert("sec-websocket-version", "13".parse().unwrap());
    if signed_request {
        req = signed(req);
    }
    format!(
        "GET /_functions/socket HTTP/1.1\r\nhost: {addr}\r\nconnection: upgrade\r\nupgrade: websocket\r\n{}\r\n",
        header_lines(&req)
    )
}

/// The gateway's response head, as text (what arrived if it closed first).
async fn response_head(stream: &mut tokio::net::TcpStream) -> String {
    let head = tokio::time::timeout(Duration::from_secs(5), read_head(stream)).await.unwrap();
    String::from_utf8_lossy(&head).into_owned()
}

#[tokio::test]
async fn a_verified_upgrade_is_tunnelled_after_101() {
    let (up, heads) = ws_upstream("HTTP/1.1 101 Switching Protocols").await;
    let gw = gateway(&ws_route(up, true)).await;
    let addr = gw.addr("ingress").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(upgrade_request(addr, true).as_bytes()).await.unwrap();
    let head = response_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream.write_all(b"ping through the tunnel").await.unwrap();
    let mut echoed = [0u8; 23];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut echoed)).await.unwrap().unwrap();
    assert_eq!(&echoed, b"ping through the tunnel");
    let seen = heads.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains("upgrade: websocket") && seen[0].contains("x-consumer-id: site-b"), "{}", seen[0]);
}

#[tokio::test]
async fn unsigned_or_disallowed_upgrades_never_reach_the_upstream() {
    let (up, heads) = ws_upstream("HTTP/1.1 101 Switching Protocols").await;
    let gw = gateway(&ws_route(up, true)).await;
    let addr = gw.addr("ingress").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(upgrade_request(addr, false).as_bytes()).await.unwrap();
    assert!(response_head(&mut stream).await.starts_with("HTTP/1.1 401"));

    let gw = gateway(&ws_route(up, false)).await;
    let addr = gw.addr("ingress").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(upgrade_request(addr, true).as_bytes()).await.unwrap();
    assert!(response_head(&mut stream).await.starts_with("HTTP/1.1 400"));
    assert!(heads.lock().unwrap().is_empty());
}

#[tokio::test]
async fn no_tunnel_unless_the_upstream_switches() {
    let (up, _) = ws_upstream("HTTP/1.1 403 Forbidden").await;
    let gw = gateway(&ws_route(up, true)).await;
    let addr = gw.addr("ingress").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(upgrade_request(addr, true).as_bytes()).await.unwrap();
    assert!(response_head(&mut stream).await.starts_with("HTTP/1.1 403"));
}

/// Upgrades `stream` and checks one round trip through the tunnel.
async fn open_tunnel(stream: &mut tokio::net::TcpStream, addr: SocketAddr) {
    stream.write_all(upgrade_request(addr, true).as_bytes()).await.unwrap();
    let head = response_head(stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream.write_all(b"hello").await.unwrap();
    let mut echoed = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut echoed)).await.unwrap().unwrap();
    assert_eq!(&echoed, b"hello");
}

#[tokio::test]
async fn a_quiet_tunnel_is_closed_after_tunnel_idle_and_a_busy_one_is_not() {
    let (up, _) = ws_upstream("HTTP/1.1 101 Switching Protocols").await;
    let gw = gateway(&ws_route_with(up, true, "timeouts: { tunnel_idle: 1s }")).await;
    let addr = gw.addr("ingress").unwrap();
    let mut quiet = tokio::net::TcpStream::connect(addr).await.unwrap();
    open_tunnel(&mut quiet, addr).await;
    let mut busy = tokio::net::TcpStream::connect(addr).await.unwrap();
    open_tunnel(&mut busy, addr).await;
    // One message every 300 ms for 3 s: never a second without traffic.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        busy.write_all(b"tick").await.unwrap();
        let mut echoed = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(2), busy.read_exact(&mut echoed)).await.unwrap().unwrap();
    }
    // The quiet one has been closed by now.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(1), quiet.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "a tunnel quiet for 3 s is still open with tunnel_idle: 1s");
}

#[tokio::test]
async fn a_websocket_route_added_by_a_reload_upgrades_a_connection_opened_before() {
    let (up, _) = ws_upstream("HTTP/1.1 101 Switching Protocols").await;
    let gw = gateway(&ws_route(up, false)).await;
    let addr = gw.addr("ingress").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // A first request, so the connection is served (and parked) before the reload.
    let unsigned = format!("GET /_functions/x HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    stream.write_all(unsigned.as_bytes()).await.unwrap();
    let head = response_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap();
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;

    let config = hmac_gateway::config::Loaded::from_yaml(&ws_route(up, true), "test.yaml", std::path::Path::new("."));
    gw.reload(config.unwrap()).await.unwrap();
    open_tunnel(&mut stream, addr).await;
}
