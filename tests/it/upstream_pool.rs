//! The worker's HTTP/1.1 pool to a plain-HTTP upstream: connections are
//! reused across requests, and a pooled connection the upstream has closed
//! is never the cause of a failed request. Raw upstreams on real sockets.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::*;
use http::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// An upstream that answers `200 ok` with keep-alive, counts the
/// connections it accepts, and closes each one after `per_connection`
/// responses (as a server with a keep-alive request limit does: nothing
/// in the response says so).
async fn upstream(per_connection: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                for _ in 0..per_connection {
                    if !read_head(&mut stream, &mut buf).await {
                        return;
                    }
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.write_all(reply).await.is_err() {
                        return;
                    }
                }
                // Closed without warning once the limit is reached.
            });
        }
    });
    (url, accepted)
}

/// Reads one body-less request head; false when the peer closed first.
async fn read_head(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            return true;
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return false,
        }
    }
}

#[tokio::test]
async fn sequential_requests_reuse_one_upstream_connection() {
    let (url, accepted) = upstream(usize::MAX).await;
    let gw = gateway(&verify_yaml(&url, "", "workers: 1")).await;
    let addr = gw.addr("ingress").unwrap();
    for i in 0..5 {
        let got = send(addr, &signed(Req::get(addr, &format!("/_functions/r{i}")))).await;
        assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "keep-alive to the upstream");
}

#[tokio::test]
async fn a_pooled_connection_the_upstream_closed_is_not_a_failed_request() {
    // One response per connection, then a silent close: every request after
    // the first finds its pooled connection closed (or closing).
    let (url, accepted) = upstream(1).await;
    let gw = gateway(&verify_yaml(&url, "", "workers: 1")).await;
    let addr = gw.addr("ingress").unwrap();
    for i in 0..6 {
        let got = send(addr, &signed(Req::get(addr, &format!("/_functions/c{i}")))).await;
        assert_eq!(got.status, StatusCode::OK, "request {i}: {:?}", got.body);
        // Let the close reach the gateway, as in a keep-alive timeout.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 6, "a new connection for each request");
    // And with no pause: the close races the next request.
    for i in 0..20 {
        let got = send(addr, &signed(Req::get(addr, &format!("/_functions/d{i}")))).await;
        assert_eq!(got.status, StatusCode::OK, "request {i} without a pause: {:?}", got.body);
    }
}

/// An upstream that closes every connection idle for 1 s, as gunicorn (2 s),
/// Node (`keepAliveTimeout`, 5 s), uvicorn and Apache (5 s) do, only sooner:
/// well before the pool would retire the connection itself.
async fn short_keep_alive_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let head = async {
                        loop {
                            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                buf.drain(..end + 4);
                                return true;
                            }
                            let mut chunk = [0u8; 4096];
                            match stream.read(&mut chunk).await {
                                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                                _ => return false,
                            }
                        }
                    };
                    // Idle for a second with no request under way: closed.
                    match tokio::time::timeout(Duration::from_secs(1), head).await {
                        Ok(true) => {}
                        _ if !buf.is_empty() => continue,
                        _ => return,
                    }
                    if stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn an_upstream_closing_idle_connections_after_1s_never_costs_a_502() {
    let url = short_keep_alive_upstream().await;
    let gw = gateway(&verify_yaml(&url, "", "workers: 1")).await;
    let addr = gw.addr("ingress").unwrap();
    // 30 clients, each sending a request about every second, spread over the
    // second: requests keep landing around the moment a pooled connection
    // reaches its upstream's idle limit.
    let clients = (0..30u64).map(|i| async move {
        tokio::time::sleep(Duration::from_millis(i * 33)).await;
        let mut statuses = Vec::new();
        for round in 0..8u64 {
            let got = send(addr, &signed(Req::get(addr, &format!("/_functions/k{i}-{round}")))).await;
            statuses.push(got.status);
            tokio::time::sleep(Duration::from_millis(990 + (i + round) % 3 * 10)).await;
        }
        statuses
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(clients).await.into_iter().flatten().collect();
    let failed: Vec<_> = statuses.iter().filter(|s| **s != StatusCode::OK).collect();
    assert_eq!(statuses.len(), 240);
    assert!(failed.is_empty(), "{} of 240 failed: {failed:?}", failed.len());
}
