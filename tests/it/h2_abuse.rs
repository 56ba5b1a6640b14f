//! HTTP/2 abuse that h2 and hyper already bound, pinned over real sockets
//! so that the connection watchdog (or anything else) cannot undo it:
//! CONTINUATION floods, rapid reset, streams beyond MAX_CONCURRENT_STREAMS.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::h2::{self, CONTINUATION, END_HEADERS, END_STREAM, GOAWAY, HEADERS, RST_STREAM};
use crate::common::*;
use http::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

async fn h2_gateway(upstream: &Upstream) -> (hmac_gateway::server::RunningGateway, SocketAddr) {
    let gw = gateway(&verify_yaml(&format!("http://{}", upstream.addr), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    (gw, addr)
}

/// A header block that never ends, 16 KiB per frame: GOAWAY (or a close)
/// must come long before the flood is over.
#[tokio::test]
async fn a_continuation_flood_gets_goaway_within_a_bounded_number_of_bytes() {
    const LIMIT: usize = 8 << 20;
    let upstream = Upstream::start().await;
    let (_gw, addr) = h2_gateway(&upstream).await;
    let (mut read, mut write) = TcpStream::connect(addr).await.unwrap().into_split();
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    let writer = tokio::spawn(async move {
        let filler = vec![0x82u8; 16 * 1024];
        let mut out = h2::preface_and_settings();
        out.extend(h2::frame(HEADERS, END_STREAM, 1, &filler));
        while counter.load(Ordering::SeqCst) < LIMIT && write.write_all(&out).await.is_ok() {
            counter.fetch_add(out.len(), Ordering::SeqCst);
            out = h2::frame(CONTINUATION, 0, 1, &filler);
            // Paced, so that the count is what the server could have read,
            // not what the socket buffers hold.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    let at_goaway = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match read.read(&mut chunk).await {
                Ok(0) | Err(_) => break written.load(Ordering::SeqCst),
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
            }
            if h2::frame_types(&seen).contains(&GOAWAY) {
                break written.load(Ordering::SeqCst);
            }
        }
    })
    .await
    .expect("no GOAWAY or close during the flood");
    writer.abort();
    eprintln!("CONTINUATION flood: GOAWAY {:?} or close after {at_goaway} bytes written", h2::goaway_error(&seen));
    assert!(h2::goaway_error(&seen).is_some(), "closed without GOAWAY after {at_goaway} bytes");
    assert!(at_goaway < 1_200 * 1024, "the flood ran for {at_goaway} bytes before GOAWAY");
    assert_eq!(upstream.count(), 0);
}

/// HEADERS then RST_STREAM, over and over: the connection is cut off
/// (GOAWAY or close) and the gateway keeps serving others.
#[tokio::test]
async fn rapid_reset_is_cut_off_and_others_are_still_served() {
    let upstream = Upstream::start_with_delay(Duration::from_millis(200)).await;
    let (_gw, addr) = h2_gateway(&upstream).await;
    let mut out = Vec::new();
    for i in 0..2000u32 {
        let block = h2::signed_block(&signed(Req::get(addr, "/_functions/reset")));
        out.extend(h2::frame(HEADERS, END_HEADERS | END_STREAM, 2 * i + 1, &block));
        out.extend(h2::frame(RST_STREAM, 0, 2 * i + 1, &8u32.to_be_bytes()));
    }
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&h2::preface_and_settings()).await.unwrap();
    let _ = stream.write_all(&out).await;
    let seen = h2::read_until_closed(&mut stream, Duration::from_secs(5)).await;
    eprintln!("rapid reset: {seen:?}, upstream saw {}", upstream.count());
    assert!(seen.goaway_after.is_some() || seen.closed_after.is_some(), "rapid reset not cut off");
    assert!(upstream.count() < 2000, "every reset stream reached the upstream");
    let started = Instant::now();
    let got = send(addr, &signed(Req::get(addr, "/_functions/after"))).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2), "served after {:?}", started.elapsed());
}

/// 101 streams held open by a slow upstream: at most 100 are served at once,
/// the rest are refused with RST_STREAM.
#[tokio::test]
async fn streams_beyond_max_concurrent_streams_are_refused() {
    let upstream = Upstream::start_with_delay(Duration::from_secs(3)).await;
    let (_gw, addr) = h2_gateway(&upstream).await;
    let mut out = h2::preface_and_settings();
    for i in 0..101u32 {
        let block = h2::signed_block(&signed(Req::get(addr, "/_functions/held")));
        out.extend(h2::frame(HEADERS, END_HEADERS | END_STREAM, 2 * i + 1, &block));
    }
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&out).await.unwrap();
    let seen = h2::read_until_closed(&mut stream, Duration::from_millis(1500)).await;
    assert!(seen.frames.contains(&RST_STREAM), "no stream refused: {seen:?}");
    assert!(seen.closed_after.is_none(), "the connection was closed: {seen:?}");
    assert_eq!(upstream.count(), 100, "streams at the upstream at once");
}
