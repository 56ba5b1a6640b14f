//! HTTP/2 connection lifetimes over real sockets, with hand-written frames:
//! a silent or stalled h2c client cannot hold a connection slot, an idle
//! connection gets GOAWAY, and a peer that stops answering pings is closed.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::h2::{self, END_HEADERS, END_STREAM, HEADERS, PING, RST_STREAM};
use crate::common::*;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

async fn h2_gateway(upstream: &Upstream, extra_top: &str) -> (hmac_gateway::server::RunningGateway, SocketAddr) {
    let gw = gateway(&verify_yaml(&format!("http://{}", upstream.addr), "", extra_top)).await;
    let addr = gw.addr("ingress").unwrap();
    (gw, addr)
}

/// A raw h2c connection that has sent `bytes` after the preface and SETTINGS.
async fn h2c(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut out = h2::preface_and_settings();
    out.extend_from_slice(bytes);
    stream.write_all(&out).await.unwrap();
    stream
}

/// The scenario: nine connections that sent only the preface and
/// SETTINGS, one whose HEADERS never end, `max_connections: 10`.
#[tokio::test]
async fn silent_and_stalled_h2c_connections_are_closed_and_free_the_listener() {
    let upstream = Upstream::start().await;
    let extra = "limits: { max_connections: 10 }\ntimeouts: { header_read: 1s }";
    let (_gw, addr) = h2_gateway(&upstream, extra).await;
    let started = Instant::now();
    let mut held = Vec::new();
    for _ in 0..9 {
        held.push(h2c(addr, &[]).await);
    }
    // Half a header block: HEADERS without END_HEADERS, no CONTINUATION.
    let block = h2::get_block(&addr.to_string(), "/_functions/x");
    held.push(h2c(addr, &h2::frame(HEADERS, END_STREAM, 1, &block[..block.len() / 2])).await);
    let watchers: Vec<_> = held
        .into_iter()
        .map(|mut s| tokio::spawn(async move { h2::read_until_closed(&mut s, Duration::from_secs(5)).await }))
        .collect();
    // A fresh HTTP/1.1 client waits in the backlog until a slot frees up.
    let req = signed(Req::get(addr, "/_functions/x"));
    let got = tokio::time::timeout(Duration::from_secs(5), send(addr, &req))
        .await
        .expect("the listener stayed locked by idle h2 connections");
    assert_eq!(got.status, StatusCode::OK);
    let served = started.elapsed();
    assert!(served < Duration::from_millis(3500), "fresh request served after {served:?}");
    for (i, watcher) in watchers.into_iter().enumerate() {
        let seen = watcher.await.unwrap();
        let closed = seen.closed_after.unwrap_or_else(|| panic!("connection {i} still open: {seen:?}"));
        assert!(closed >= Duration::from_millis(900), "connection {i} closed before header_read: {closed:?}");
        assert!(closed < Duration::from_millis(3500), "connection {i} closed after {closed:?}");
        assert!(seen.goaway_after.is_some(), "connection {i} closed without GOAWAY: {seen:?}");
    }
}

#[tokio::test]
async fn an_idle_h2_connection_gets_goaway_after_h2_idle() {
    let upstream = Upstream::start().await;
    let (_gw, addr) = h2_gateway(&upstream, "timeouts: { header_read: 3s, h2_idle: 1s }").await;
    // One complete request (404: no route), then silence.
    let block = h2::get_block(&addr.to_string(), "/nowhere");
    let mut stream = h2c(addr, &h2::frame(HEADERS, END_HEADERS | END_STREAM, 1, &block)).await;
    let seen = h2::read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(seen.frames.contains(&HEADERS), "no response: {seen:?}");
    let goaway = seen.goaway_after.unwrap_or_else(|| panic!("no GOAWAY on an idle connection: {seen:?}"));
    assert!(goaway >= Duration::from_millis(900), "GOAWAY before h2_idle: {goaway:?}");
    assert!(goaway < Duration::from_millis(2000), "GOAWAY after {goaway:?}");
    let closed = seen.closed_after.unwrap_or_else(|| panic!("never closed: {seen:?}"));
    assert!(closed < Duration::from_millis(3500), "closed after {closed:?}");
}

#[tokio::test]
async fn a_slow_h2_response_is_not_cut_by_the_idle_or_header_timers() {
    let upstream = Upstream::start_with_delay(Duration::from_millis(1500)).await;
    let (_gw, addr) = h2_gateway(&upstream, "timeouts: { header_read: 300ms, h2_idle: 300ms }").await;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
    let req = signed(Req::get(addr, "/_functions/slow"));
    let mut request =
        Request::builder().uri(format!("http://{addr}/_functions/slow")).body(Full::new(Bytes::new())).unwrap();
    *request.headers_mut() = req.headers;
    let response = tokio::time::timeout(Duration::from_secs(5), client.request(request)).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(upstream.count(), 1);
}

/// A stream waiting on a slow upstream keeps the connection busy; a second
/// header block that never ends must still be cut off at `header_read`.
#[tokio::test]
async fn a_stalled_header_block_closes_the_connection_even_with_a_stream_open() {
    let upstream = Upstream::start_with_delay(Duration::from_secs(8)).await;
    let (_gw, addr) = h2_gateway(&upstream, "timeouts: { header_read: 1s }").await;
    let open = h2::signed_block(&signed(Req::get(addr, "/_functions/slow")));
    let stalled = h2::get_block(&addr.to_string(), "/_functions/x");
    let mut bytes = h2::frame(HEADERS, END_HEADERS | END_STREAM, 1, &open);
    bytes.extend(h2::frame(HEADERS, END_STREAM, 3, &stalled[..stalled.len() / 2]));
    let mut stream = h2c(addr, &bytes).await;
    let seen = h2::read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let closed = seen.closed_after.unwrap_or_else(|| panic!("a stalled header block held the connection: {seen:?}"));
    assert!(closed >= Duration::from_millis(900), "closed before header_read: {closed:?}");
    assert!(closed < Duration::from_millis(3500), "closed after {closed:?}");
    assert_eq!(upstream.count(), 1, "the first stream should have reached the upstream");
}

#[tokio::test]
async fn a_peer_that_ignores_pings_while_holding_a_stream_is_closed() {
    let upstream = Upstream::start_with_delay(Duration::from_secs(8)).await;
    let extra = "timeouts: { h2_keepalive_interval: 300ms, h2_keepalive_timeout: 300ms }";
    let (_gw, addr) = h2_gateway(&upstream, extra).await;
    let block = h2::signed_block(&signed(Req::get(addr, "/_functions/slow")));
    let mut stream = h2c(addr, &h2::frame(HEADERS, END_HEADERS | END_STREAM, 1, &block)).await;
    let seen = h2::read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(seen.frames.contains(&PING), "no keep-alive ping: {seen:?}");
    let closed = seen.closed_after.unwrap_or_else(|| panic!("an unresponsive peer held its stream: {seen:?}"));
    assert!(closed < Duration::from_millis(2500), "closed after {closed:?}");
    assert_eq!(upstream.count(), 1, "the stream should have reached the upstream");
}

/// An upstream that streams its body slowly: ten 1000-byte chunks, 300 ms apart.
async fn trickling_upstream() -> SocketAddr {
    use tokio::io::AsyncReadExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else { return };
        let mut head = [0u8; 4096];
        let _ = stream.read(&mut head).await;
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").await;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let chunk = format!("3e8\r\n{}\r\n", "x".repeat(1000));
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
    });
    addr
}

/// A response still streaming keeps its stream open: neither `h2_idle` nor
/// `header_read` may cut it.
#[tokio::test]
async fn a_response_body_still_streaming_keeps_its_stream_open() {
    use http_body_util::BodyExt as _;
    let upstream = trickling_upstream().await;
    let yaml = verify_yaml(&format!("http://{upstream}"), "", "timeouts: { header_read: 300ms, h2_idle: 300ms }");
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
    let req = signed(Req::get(addr, "/_functions/stream"));
    let mut request =
        Request::builder().uri(format!("http://{addr}/_functions/stream")).body(Full::new(Bytes::new())).unwrap();
    *request.headers_mut() = req.headers;
    let response = tokio::time::timeout(Duration::from_secs(5), client.request(request)).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect()).await.unwrap();
    assert_eq!(body.unwrap().to_bytes().len(), 10_000, "the body was cut while streaming");
}

/// A header block that h2 itself refuses (a connection-specific field makes
/// it malformed: RST_STREAM) starts no stream, so it is no activity: a peer
/// sending nothing else is still closed once `h2_idle` has passed.
#[tokio::test]
async fn header_blocks_that_h2_refuses_do_not_keep_an_idle_connection_open() {
    let upstream = Upstream::start().await;
    let (_gw, addr) = h2_gateway(&upstream, "timeouts: { header_read: 3s, h2_idle: 1s }").await;
    let block = h2::get_block(&addr.to_string(), "/nowhere");
    let stream = h2c(addr, &h2::frame(HEADERS, END_HEADERS | END_STREAM, 1, &block)).await;
    let (mut reader, mut writer) = stream.into_split();
    let refused = h2::request_block("GET", &addr.to_string(), "/nowhere", &[("connection", "keep-alive")]);
    let junk = tokio::spawn(async move {
        for i in 0..16u32 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let frame = h2::frame(HEADERS, END_HEADERS | END_STREAM, 3 + 2 * i, &refused);
            if writer.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    let seen = h2::read_until_closed(&mut reader, Duration::from_secs(5)).await;
    junk.abort();
    assert!(seen.frames.contains(&RST_STREAM), "h2 did not refuse the malformed blocks: {seen:?}");
    let goaway = seen.goaway_after.unwrap_or_else(|| panic!("refused header blocks kept the connection: {seen:?}"));
    assert!(goaway < Duration::from_millis(2500), "GOAWAY after {goaway:?}");
}

/// A response the gateway has finished but whose DATA still waits in its
/// HTTP/2 buffers for the client's window (a small window, a slow reader)
/// when the gateway shuts down: the drain delivers it, whole.
#[tokio::test]
async fn shutdown_still_delivers_data_buffered_for_a_slow_h2_reader() {
    const SIZE: usize = 300 * 1024;
    let upstream = sized_upstream(Bytes::from(pattern(SIZE))).await;
    let gw = gateway(&verify_yaml(&format!("http://{}", upstream.addr), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut client, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(16 * 1024)
        .initial_connection_window_size(64 * 1024)
        .handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = signed(Req::get(addr, "/_functions/big"));
    let mut request = Request::builder().uri(format!("http://{addr}/_functions/big")).body(Full::new(Bytes::new()));
    *request.as_mut().unwrap().headers_mut() = req.headers;
    let response = client.send_request(request.unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shutdown = tokio::spawn(gw.shutdown());
    // A pause longer than the drain's grace, then the whole body.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let body = tokio::time::timeout(Duration::from_secs(10), http_body_util::BodyExt::collect(response.into_body()))
        .await
        .expect("the body never ended");
    let body = body.expect("the stream was cut by the shutdown").to_bytes();
    assert!(body == pattern(SIZE), "{} of {SIZE} bytes", body.len());
    tokio::time::timeout(Duration::from_secs(10), shutdown).await.unwrap().unwrap();
}
