//! TLS listeners over real sockets: a client that completes the handshake
//! and then says nothing (or too little) is closed at `header_read`, on
//! HTTP/1.1 and on h2 alike.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::h2;
use crate::common::tls::{pki, temp_dir, tls_connect, tls_yaml};
use crate::common::*;
use tokio::io::AsyncWriteExt as _;

/// A case: its name, the ALPN protocols offered, the bytes sent after the handshake.
type Case<'a> = (&'static str, &'a [&'a [u8]], &'a [u8]);

#[tokio::test]
async fn a_tls_client_silent_after_the_handshake_is_closed_at_header_read() {
    let dir = temp_dir("tls-silent");
    let server = pki(&dir, "server", vec!["127.0.0.1".into()]);
    let upstream = Upstream::start().await;
    let gw = gateway(&tls_yaml(upstream.addr, &server, None, "timeouts: { header_read: 1s }")).await;
    let addr = gw.addr("ingress").unwrap();
    let preface = h2::preface_and_settings();
    // HTTP/2 without ALPN, stalled mid header block: must not escape the h2 watchdog.
    let block = h2::get_block("127.0.0.1", "/_functions/x");
    let stalled = [preface.clone(), h2::frame(h2::HEADERS, 0, 1, &block[..block.len() / 2])].concat();
    let cases: [Case; 7] = [
        ("http/1.1, nothing sent", &[b"http/1.1"], b""),
        ("no ALPN, nothing sent", &[], b""),
        ("http/1.1, part of an h2 preface", &[b"http/1.1"], &h2::PREFACE[..16]),
        ("h2, nothing sent", &[b"h2"], b""),
        ("h2, preface and SETTINGS only", &[b"h2"], &preface),
        ("no ALPN, h2 preface and a stalled header block", &[], &stalled),
        ("http/1.1, h2 preface and a stalled header block", &[b"http/1.1"], &stalled),
    ];
    let mut watchers = Vec::new();
    for (name, alpn, bytes) in cases {
        let mut stream = tls_connect(addr, &server.ca_pem, alpn).await;
        stream.write_all(bytes).await.unwrap();
        stream.flush().await.unwrap();
        let watch = async move { (name, h2::read_until_closed(&mut stream, Duration::from_secs(5)).await) };
        watchers.push(tokio::spawn(watch));
    }
    for watcher in watchers {
        let (name, seen) = watcher.await.unwrap();
        let closed = seen.closed_after.unwrap_or_else(|| panic!("{name}: still open after 5 s"));
        assert!(closed >= Duration::from_millis(900), "{name}: closed before header_read: {closed:?}");
        assert!(closed < Duration::from_millis(3000), "{name}: closed after {closed:?}");
    }
    assert_eq!(upstream.count(), 0);
}
