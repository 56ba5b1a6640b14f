//! Idle HTTP/1 connections are parked without hyper's buffers and picked up
//! again by their next bytes: a keep-alive client sees no difference. The
//! next request is served on the same connection, a request whose head was
//! split across the pause too, and the keep-alive timeout still applies.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Longer than the gateway takes to park an idle connection (one to two
/// park periods of 250 ms).
const PARKED: Duration = Duration::from_millis(1200);

fn request_bytes(addr: SocketAddr, path: &str) -> Vec<u8> {
    let req = signed(Req::get(addr, path));
    format!("GET {path} HTTP/1.1\r\nhost: {}\r\n{}\r\n", req.authority, header_lines(&req)).into_bytes()
}

/// Reads one response with a Content-Length body; returns its status line.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .map_or(0, |v| v.parse::<usize>().unwrap());
            if data.len() >= end + 4 + length {
                return text.lines().next().unwrap().to_owned();
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "closed before a whole response: {text:?}");
        data.extend_from_slice(&chunk[..n]);
    }
}

async fn echo_gateway(extra_top: &str) -> (hmac_gateway::server::RunningGateway, SocketAddr) {
    let gw = gateway(&verify_yaml("echo", "", extra_top)).await;
    let addr = gw.addr("ingress").unwrap();
    (gw, addr)
}

#[tokio::test]
async fn a_parked_connection_serves_its_next_request() {
    let (_gw, addr) = echo_gateway("").await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for i in 0..3 {
        stream.write_all(&request_bytes(addr, &format!("/_functions/p{i}"))).await.unwrap();
        assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK", "request {i}");
        tokio::time::sleep(PARKED).await;
    }
}

#[tokio::test]
async fn a_request_split_across_the_pause_is_served_whole() {
    let (_gw, addr) = echo_gateway("").await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request_bytes(addr, "/_functions/first")).await.unwrap();
    assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK");
    // Half of the next head, a pause long enough to park, then the rest.
    let next = request_bytes(addr, "/_functions/second");
    let (head, tail) = next.split_at(next.len() / 2);
    stream.write_all(head).await.unwrap();
    tokio::time::sleep(PARKED).await;
    stream.write_all(tail).await.unwrap();
    assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn the_keep_alive_timeout_still_closes_a_parked_connection() {
    let (_gw, addr) = echo_gateway("timeouts: { header_read: 2s }").await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request_bytes(addr, "/_functions/a")).await.unwrap();
    assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(6), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "an idle connection must be closed after header_read");
    assert!(rest.is_empty(), "nothing is sent on an idle close: {:?}", String::from_utf8_lossy(&rest));
}
