//! Request smuggling and framing, with raw TCP clients: every ambiguous
//! message is refused with 400 JSON and a closed connection, and the
//! recording upstream sees nothing it should not.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use crate::common::*;

async fn setup() -> (Upstream, hmac_gateway::server::RunningGateway, SocketAddr) {
    let upstream = Upstream::start().await;
    let gw = gateway(&verify_yaml(&format!("http://{}", upstream.addr), "", "limits: { max_body_bytes: 100 }")).await;
    let addr = gw.addr("ingress").unwrap();
    (upstream, gw, addr)
}

#[tokio::test]
async fn smuggling_table_is_refused_before_the_upstream() {
    let (upstream, _gw, addr) = setup().await;
    let post = |framing: &str, body: &str| {
        let req = signed(Req::post(addr, "/_functions/x", b"hello"));
        format!("POST /_functions/x HTTP/1.1\r\nhost: {addr}\r\n{}{framing}\r\n{body}", header_lines(&req))
    };
    let get = signed(Req::get(addr, "/_functions/x"));
    let get_lines = header_lines(&get);
    let cases: Vec<(&str, String)> = vec![
        ("TE list", post("transfer-encoding: gzip, chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")),
        ("TE twice", post("transfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")),
        ("TE chunked, chunked", post("transfer-encoding: chunked, chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")),
        ("TE obfuscated", post("transfer-encoding: xchunked\r\n", "5\r\nhello\r\n0\r\n\r\n")),
        ("TE space before colon", post("transfer-encoding : chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")),
        ("conflicting CL", post("content-length: 5\r\ncontent-length: 6\r\n", "hello")),
        ("CL list", post("content-length: 5, 5\r\n", "hello")),
        ("CL sign", post("content-length: +5\r\n", "hello")),
        ("bad chunk size", post("transfer-encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n")),
        ("chunk size overflow", post("transfer-encoding: chunked\r\n", "fffffffffffffffffff\r\nhello\r\n0\r\n\r\n")),
        ("missing Host", format!("GET /_functions/x HTTP/1.1\r\n{get_lines}\r\n")),
        ("double Host", format!("GET /_functions/x HTTP/1.1\r\nhost: {addr}\r\nhost: {addr}\r\n{get_lines}\r\n")),
        (
            "absolute-form elsewhere",
            format!("GET http://evil.example/_functions/x HTTP/1.1\r\nhost: {addr}\r\n{get_lines}\r\n"),
        ),
        (
            "underscore header",
            format!("GET /_functions/x HTTP/1.1\r\nhost: {addr}\r\nx_consumer_id: admin\r\n{get_lines}\r\n"),
        ),
        (
            "upgrade",
            format!(
                "GET /_functions/x HTTP/1.1\r\nhost: {addr}\r\nconnection: upgrade\r\nupgrade: websocket\r\n{get_lines}\r\n"
            ),
        ),
    ];
    for (name, request) in cases {
        let (response, closed) = raw(addr, request.as_bytes()).await;
        assert!(response.starts_with("HTTP/1.1 400"), "{name}: {response}");
        assert!(closed, "{name}: connection left open");
        assert_eq!(upstream.count(), 0, "{name} reached the upstream");
    }
}

/// hyper drops Content-Length when Transfer-Encoding is present (RFC 9112
/// section 6.3) before the gateway sees the headers, and closes the
/// connection after the response. So the gateway cannot answer 400 here;
/// what it guarantees instead: the upstream receives one freshly framed
/// message with the chunked body, and nothing smuggled after it.
#[tokio::test]
async fn te_with_cl_is_reframed_and_closes_the_connection() {
    let (upstream, _gw, addr) = setup().await;
    for (name, framing) in [
        ("CL.TE", "content-length: 3\r\ntransfer-encoding: chunked\r\n"),
        ("TE.CL", "transfer-encoding: chunked\r\ncontent-length: 3\r\n"),
    ] {
        let req = signed(Req::post(addr, "/_functions/x", b"hello"));
        // After the chunked body, bytes that a CL-trusting peer would read as a
        // second request: they must not reach the upstream.
        let smuggled = format!("GET /_functions/smuggled HTTP/1.1\r\nhost: {addr}\r\n\r\n");
        let request = format!(
            "POST /_functions/x HTTP/1.1\r\nhost: {addr}\r\n{}{framing}\r\n5\r\nhello\r\n0\r\n\r\n{smuggled}",
            header_lines(&req)
        );
        let before = upstream.count();
        let (response, closed) = raw(addr, request.as_bytes()).await;
        assert!(closed, "{name}: connection left open");
        assert_eq!(response.matches("HTTP/1.1 ").count(), 1, "{name}: {response}");
        if response.starts_with("HTTP/1.1 200") {
            let seen = upstream.last();
            assert_eq!(&seen.body[..], b"hello", "{name}");
            assert_eq!(seen.headers["content-length"], "5", "{name}");
            assert!(!seen.headers.contains_key("transfer-encoding"), "{name}");
        } else {
            assert!(response.starts_with("HTTP/1.1 400"), "{name}: {response}");
        }
        assert!(upstream.count() <= before + 1, "{name}: smuggled request reached the upstream");
        assert!(upstream.seen.lock().unwrap().iter().all(|r| r.target != "/_functions/smuggled"), "{name}");
    }
}

#[tokio::test]
async fn a_pipelined_unsigned_request_after_a_signed_one_is_rejected() {
    let (upstream, _gw, addr) = setup().await;
    let get = signed(Req::get(addr, "/_functions/ok"));
    let pipelined = format!(
        "GET /_functions/ok HTTP/1.1\r\nhost: {addr}\r\n{}\r\nGET /_functions/sneaky HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n",
        header_lines(&get)
    );
    let (response, _) = raw(addr, pipelined.as_bytes()).await;
    let statuses: Vec<&str> = response.match_indices("HTTP/1.1 ").map(|(i, _)| &response[i + 9..i + 12]).collect();
    assert_eq!(statuses, ["200", "401"], "{response}");
    assert_eq!(upstream.count(), 1);
    assert_eq!(upstream.last().target, "/_functions/ok");
}

#[tokio::test]
async fn over_limit_declared_body_gets_413_without_100_continue() {
    let (upstream, _gw, addr) = setup().await;
    let req = signed(Req::post(addr, "/_functions/x", &[b'a'; 101]));
    let head = format!(
        "POST /_functions/x HTTP/1.1\r\nhost: {addr}\r\nexpect: 100-continue\r\ncontent-length: 101\r\n{}\r\n",
        header_lines(&req)
    );
    let (response, closed) = raw(addr, head.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(!response.contains("100 Continue"), "{response}");
    assert!(response.contains("body_too_large"));
    assert!(closed);
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn request_trailers_are_dropped_never_merged() {
    let (upstream, _gw, addr) = setup().await;
    let req = signed(Req::post(addr, "/_functions/x", b"hello"));
    let request = format!(
        "POST /_functions/x HTTP/1.1\r\nhost: {addr}\r\n{}transfer-encoding: chunked\r\ntrailer: x-consumer-id\r\n\r\n5\r\nhello\r\n0\r\nx-consumer-id: admin\r\nx-late: 1\r\n\r\n",
        header_lines(&req)
    );
    let (response, _) = raw(addr, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let seen = upstream.last();
    assert_eq!(&seen.body[..], b"hello");
    assert_eq!(seen.headers["x-consumer-id"], "site-b");
    assert!(!seen.headers.contains_key("x-late"));
    assert!(!seen.headers.contains_key("trailer"));
}

/// An upstream that answers every connection with `reply`, then closes.
async fn scripted_upstream(reply: &'static [u8]) -> SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(reply).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

/// RFC 9112 section 6.1: a response with both Transfer-Encoding and
/// Content-Length must not reach the client with that Content-Length, which
/// would cut the chunked body short and still look complete.
#[tokio::test]
async fn a_response_with_te_and_cl_is_delivered_whole_without_the_cl() {
    for (name, reply) in [
        (
            "CL.TE",
            &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n"
                [..],
        ),
        (
            "TE.CL",
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\nb\r\nhello world\r\n0\r\n\r\n"
                [..],
        ),
    ] {
        let up = scripted_upstream(reply).await;
        let gw = gateway(&verify_yaml(&format!("http://{up}"), "", "")).await;
        let addr = gw.addr("ingress").unwrap();
        let req = signed(Req::get(addr, "/_functions/x"));
        let head =
            format!("GET /_functions/x HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n{}\r\n", header_lines(&req));
        let (response, closed) = raw(addr, head.as_bytes()).await;
        assert!(closed, "{name}: {response}");
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{name}: {response}");
        assert!(!head.to_ascii_lowercase().contains("content-length: 5"), "{name}: {response}");
        let whole = body == "hello world" || body.contains("\r\nhello world\r\n0\r\n\r\n");
        assert!(whole, "{name}: body cut short: {response:?}");
    }
}
