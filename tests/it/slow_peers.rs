//! Peers that stop half way: a client that never reads its response, an
//! upstream that stalls in the middle of its body. Each is cut once its idle
//! timeout passes (`send_idle`, `upstream_body_idle`), the cut never looks
//! like a complete response, the upstream connection is released, and the
//! metrics and access log say why. A slow but steady reader is never cut.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::common::*;

const BIG: usize = 8 * 1024 * 1024;

/// A client with a 4 KiB receive buffer that sends `GET path` and then
/// reads nothing.
async fn non_reading_client(addr: SocketAddr, path: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    stream
}

/// Reads until the peer closes or resets the connection: the bytes read,
/// and whether it ended within `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return (out, false),
            Ok(Ok(0) | Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn h2_client(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

fn get(addr: SocketAddr, path: &str) -> Request<Empty<Bytes>> {
    Request::builder().uri(format!("http://{addr}{path}")).body(Empty::new()).unwrap()
}

/// Reads a body to its end: the bytes, and the error it ended with, if any.
async fn read_body(mut body: Incoming, limit: Duration) -> (Vec<u8>, Option<hyper::Error>) {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await.expect("the body neither ended nor failed") {
            None => return (out, None),
            Some(Err(e)) => return (out, Some(e)),
            Some(Ok(frame)) => out.extend_from_slice(frame.data_ref().map_or(&[][..], |d| &d[..])),
        }
    }
}

async fn metrics(gw: &hmac_gateway::server::RunningGateway) -> String {
    let admin = gw.addr("admin").unwrap();
    String::from_utf8(send(admin, &Req::get(admin, "/metrics")).await.body.to_vec()).unwrap()
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "not within 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn http1_clients_that_never_read_are_cut_after_send_idle_and_free_their_upstream() {
    let upstream = sized_upstream(Bytes::from(pattern(BIG))).await;
    // The route's own send_idle, under a global one that would not fire in this test.
    let route = "    timeouts: { send_idle: 1s }";
    let gw = gateway(&sign_yaml(upstream.addr, "send_idle: 60s", route)).await;
    let addr = gw.addr("egress").unwrap();
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(non_reading_client(addr, "/big").await);
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    for client in &mut clients {
        // What the kernels had buffered arrives, then the close: far short
        // of the whole response, which must not look complete.
        let (got, ended) = read_until_closed(client, Duration::from_secs(10)).await;
        assert!(ended, "the connection was left open");
        assert!(got.len() < BIG / 2, "{} bytes arrived: the client was not cut", got.len());
    }
    eventually("every upstream connection released", || upstream.ended.load(Ordering::SeqCst) == 3).await;
    let text = metrics(&gw).await;
    let line = r#"hmacgw_responses_incomplete_total{route="call-host",reason="send_idle"} 3"#;
    assert!(text.lines().any(|l| l == line), "{text}");
}

#[tokio::test]
async fn an_h2_stream_whose_client_never_reads_is_reset_and_its_connection_lives_on() {
    let upstream = sized_upstream(Bytes::from(pattern(BIG))).await;
    // PINGs every 300 ms, each answered by hyper's client: still no progress.
    let timeouts = "send_idle: 1s, h2_keepalive_interval: 300ms, h2_keepalive_timeout: 1s";
    let gw = gateway(&sign_yaml(upstream.addr, timeouts, "")).await;
    let addr = gw.addr("egress").unwrap();
    let mut h2 = h2_client(addr).await;
    // hyper's client answers PINGs but grants no window for a body nobody polls.
    let stalled = h2.send_request(get(addr, "/big")).await.unwrap();
    assert_eq!(stalled.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(4)).await;
    // The connection still serves: another stream's body arrives whole.
    let next = h2.send_request(get(addr, "/again")).await.unwrap();
    let (body, failed) = read_body(next.into_body(), Duration::from_secs(20)).await;
    assert!(failed.is_none() && body == pattern(BIG), "the next stream got {} bytes, {failed:?}", body.len());
    // The stalled stream was reset: its body ends in an error, short of the whole.
    let (got, failed) = read_body(stalled.into_body(), Duration::from_secs(10)).await;
    assert!(failed.is_some() && got.len() < BIG, "{} bytes and {failed:?}: the stream was not reset", got.len());
    eventually("the stalled stream's upstream connection released", || upstream.ended.load(Ordering::SeqCst) >= 1)
        .await;
    let text = metrics(&gw).await;
    let line = r#"hmacgw_responses_incomplete_total{route="call-host",reason="send_idle"} 1"#;
    assert!(text.lines().any(|l| l == line), "{text}");
}

/// About 1 MiB/s: 64 KiB every 60 ms.
async fn read_steadily(stream: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while out.len() < want {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "closed after {} of {want} bytes", out.len());
        out.extend_from_slice(&chunk[..n]);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    out
}

#[tokio::test]
async fn slow_but_steady_readers_are_not_cut() {
    const SIZE: usize = 4 * 1024 * 1024;
    let upstream = sized_upstream(Bytes::from(pattern(SIZE))).await;
    let gw = gateway(&sign_yaml(upstream.addr, "send_idle: 1s", "")).await;
    let addr = gw.addr("egress").unwrap();
    let http1 = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(format!("GET /steady HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
        let got = read_steadily(&mut stream, SIZE).await;
        let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut body = got[head_end..].to_vec();
        if body.len() < SIZE {
            body.extend(read_steadily(&mut stream, SIZE - body.len()).await);
        }
        assert!(body == pattern(SIZE), "HTTP/1 body differs ({} bytes)", body.len());
    };
    let h2 = async {
        let mut client = h2_client(addr).await;
        let mut body = client.send_request(get(addr, "/steady")).await.unwrap().into_body();
        let mut got = Vec::new();
        while let Some(frame) = tokio::time::timeout(Duration::from_secs(10), body.frame()).await.unwrap() {
            got.extend_from_slice(frame.unwrap().data_ref().map_or(&[][..], |d| &d[..]));
            // hyper's client grants window as frames are read: about 1 MiB/s.
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        assert!(got == pattern(SIZE), "HTTP/2 body differs ({} bytes)", got.len());
    };
    tokio::join!(http1, h2);
    assert!(!metrics(&gw).await.contains("hmacgw_responses_incomplete_total{"), "a steady reader was cut");
}

/// Answers `/length` with `Content-Length: 100` and 10 bytes, `/chunked`
/// with one chunk and no last chunk, then says nothing more; counts the
/// connections the gateway closed.
async fn stalling_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closed = Arc::new(AtomicUsize::new(0));
    let count = closed.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                let reply: &[u8] = if head.starts_with(b"GET /chunked") {
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789"
                };
                stream.write_all(reply).await.unwrap();
                // Silent, until the gateway lets go (or a minute passes).
                let mut rest = [0u8; 256];
                let gone = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut rest)).await;
                if matches!(gone, Ok(Ok(0) | Err(_))) {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (addr, closed)
}

#[tokio::test]
async fn an_upstream_that_stalls_mid_body_is_cut_and_never_looks_complete() {
    let (up, released) = stalling_upstream().await;
    // The route's own limit, under a global one that would not fire here.
    let route = "    timeouts: { upstream_body_idle: 1s }";
    let gw = gateway(&sign_yaml(up, "upstream_body_idle: 60s", route)).await;
    let addr = gw.addr("egress").unwrap();

    // HTTP/1, Content-Length: the 10 bytes, then the close (fewer than announced).
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(format!("GET /length HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let (got, ended) = read_until_closed(&mut stream, Duration::from_secs(8)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(ended, "still open after 8 s: {text:?}");
    assert!(text.starts_with("HTTP/1.1 200") && text.contains("content-length: 100"), "{text:?}");
    assert!(text.ends_with("\r\n\r\n0123456789"), "{text:?}");

    // HTTP/1, chunked: the chunk, then the close, and never the last chunk.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(format!("GET /chunked HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let (got, ended) = read_until_closed(&mut stream, Duration::from_secs(8)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(ended, "still open after 8 s: {text:?}");
    assert!(text.contains("0123456789") && !text.contains("\r\n0\r\n\r\n"), "a cut body looked complete: {text:?}");

    // HTTP/2: the stream is reset, not ended.
    let mut h2 = h2_client(addr).await;
    let response = h2.send_request(get(addr, "/length")).await.unwrap();
    let (body, failed) = read_body(response.into_body(), Duration::from_secs(8)).await;
    assert_eq!(body, b"0123456789");
    assert!(failed.is_some(), "the stream ended cleanly");

    eventually("the three upstream connections released", || released.load(Ordering::SeqCst) == 3).await;
    let text = metrics(&gw).await;
    let line = r#"hmacgw_responses_incomplete_total{route="call-host",reason="upstream_body_idle"} 3"#;
    assert!(text.lines().any(|l| l == line), "{text}");
}

/// An upstream answering `/any/N` with N bytes of `pattern`.
async fn upstream_of_any_size() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
                let size = req.uri().path().rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let body = http_body_util::Full::new(Bytes::from(pattern(size)));
                Ok::<_, std::convert::Infallible>(http::Response::new(body))
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    addr
}

/// Over TLS, a client that stops reading is cut or, when its answer fitted
/// in the kernels' buffers before it stopped, served whole: never left
/// hanging with part of its answer, whatever the size. (That a blocked TLS
/// flush counts as a full socket is pinned by `h1conn`'s unit tests.)
#[tokio::test]
async fn tls_clients_that_stop_reading_are_cut_too() {
    use crate::common::tls::{client_config, pki, temp_dir, tls_yaml};
    let dir = temp_dir("tls-slow-read");
    let server = pki(&dir, "server", vec!["127.0.0.1".into()]);
    let upstream = upstream_of_any_size().await;
    let yaml = tls_yaml(upstream, &server, None, "timeouts: { send_idle: 1s }").replace("/_functions/", "/");
    let gw = gateway(&yaml).await;
    let addr = gw.addr("ingress").unwrap();
    let ca = server.ca_pem.clone();
    let sizes = [64, 128, 160, 192, 224, 256, 320, 384, 512, 1024].map(|kib| kib * 1024);
    let clients = sizes.map(|size| {
        let ca = ca.clone();
        async move {
            let socket = TcpSocket::new_v4().unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            let tcp = socket.connect(addr).await.unwrap();
            let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(&ca, &[b"http/1.1"])));
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let mut stream = connector.connect(name, tcp).await.unwrap();
            let path = format!("/any/{size}");
            let req = signed(Req::get(addr, &path));
            let head = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n{}\r\n", header_lines(&req));
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.flush().await.unwrap();
            tokio::time::sleep(Duration::from_secs(4)).await;
            let mut got = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            let ended = loop {
                match tokio::time::timeout(Duration::from_secs(3), stream.read(&mut chunk)).await {
                    Err(_) => break false,
                    Ok(Ok(0) | Err(_)) => break true,
                    Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
                }
            };
            let whole = got.windows(4).position(|w| w == b"\r\n\r\n").is_some_and(|end| got.len() == end + 4 + size);
            // Either it all fitted in the kernel's buffers before the
            // client stopped, or it was cut: never stuck half way.
            assert!(whole || ended, "{size}: {} bytes, then nothing, and the connection left open", got.len());
            whole
        }
    });
    let whole = futures_util::future::join_all(clients).await;
    assert!(whole.iter().any(|w| !w), "no size was large enough to be cut: {whole:?}");
}
