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

/// An upstream answering `/_functions/big/N` with N bytes of `pattern`.
async fn upstream_of_any_size() -> SocketAddr {
    use http_body_util::Full;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                let size = req.uri().path().rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0);
                Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(bytes::Bytes::from(pattern(size)))))
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
        }
    });
    addr
}

/// The tail of a response still in the gateway's buffers (the client's
/// receive window is small and it pauses) when the connection would park:
/// it must reach the client, not be dropped with hyper's write buffer.
/// Sizes from 32 KiB to 1 MiB, so that for some of them the body has ended
/// inside the gateway, past what the kernel buffers hold, during the pause.
#[tokio::test]
async fn a_response_tail_still_buffered_when_the_client_pauses_arrives_whole() {
    let upstream = upstream_of_any_size().await;
    let gw = gateway(&verify_yaml(&format!("http://{upstream}"), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    let sizes = [32, 64, 96, 128, 160, 192, 256, 320, 384, 512, 768, 1024].map(|kib| kib * 1024);
    let clients = sizes.map(|size| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        stream.write_all(&request_bytes(addr, &format!("/_functions/big/{size}"))).await.unwrap();
        // Long enough for the gateway to take in the whole upstream body
        // (for the smaller sizes) and for an idle connection to park.
        tokio::time::sleep(PARKED * 2).await;
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let complete =
            |got: &[u8]| got.windows(4).position(|w| w == b"\r\n\r\n").is_some_and(|end| got.len() >= end + 4 + size);
        while !complete(&got) {
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await;
            let n = read.unwrap_or_else(|_| panic!("{size}: stalled after {} bytes", got.len())).unwrap_or(0);
            assert!(n > 0, "{size}: closed after {} bytes", got.len());
            got.extend_from_slice(&chunk[..n]);
        }
        let body_at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(got[body_at..] == pattern(size)[..], "{size}: the body differs");
        // And the connection serves its next request.
        stream.write_all(&request_bytes(addr, "/_functions/big/2")).await.unwrap();
        assert_eq!(read_response_head(&mut stream).await, "HTTP/1.1 200 OK", "{size}");
    });
    futures_util::future::join_all(clients).await;
}

/// A pipelined request whose first half arrived with the previous request,
/// the rest after a pause long enough to park: both are answered.
#[tokio::test]
async fn a_pipelined_half_request_survives_a_park() {
    let (_gw, addr) = echo_gateway("").await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut bytes = request_bytes(addr, "/_functions/first");
    let second = request_bytes(addr, "/_functions/second");
    let (head, tail) = second.split_at(second.len() / 2);
    bytes.extend_from_slice(head);
    stream.write_all(&bytes).await.unwrap();
    assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK");
    tokio::time::sleep(PARKED * 2).await;
    stream.write_all(tail).await.unwrap();
    assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK");
}

/// Reads a response's head only; returns its status line.
async fn read_response_head(stream: &mut TcpStream) -> String {
    let head = tokio::time::timeout(Duration::from_secs(5), read_head(stream)).await.unwrap();
    assert!(head.ends_with(b"\r\n\r\n"), "closed: {:?}", String::from_utf8_lossy(&head));
    String::from_utf8_lossy(&head).lines().next().unwrap().to_owned()
}
