//! Idle HTTP/1 connections that cost next to nothing. hyper's connection
//! holds about 16 KiB of buffers for as long as it lives; nginx frees a
//! connection's buffers while it waits for the next request. So a cleartext
//! HTTP/1 connection is served by a hyper connection only while requests
//! come: once none has been in flight for a [`PARK_AFTER`] period, hyper hands the
//! socket back (a graceful shutdown that does not close it) and the
//! connection waits for its next bytes holding only the socket. Those bytes
//! start a new hyper connection. Bytes hyper had already read go first.
//!
//! Connections on a listener with a websocket route are not parked: an
//! upgrade needs hyper's upgradeable connection, which cannot hand its
//! socket back.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf as _, Bytes};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::h2conn::Tracked;
use super::signalled;
use crate::body::ProxyBody;

/// How long a connection with no request in flight keeps its hyper
/// connection (and buffers) before it is parked.
pub(super) const PARK_AFTER: Duration = Duration::from_millis(250);

/// How one round of a connection ended.
pub(super) enum Round {
    /// Idle: the socket and any bytes hyper had read but not used.
    Parked(TcpStream, Bytes),
    /// Closed, by either side, or by the listener closing.
    Ended(Result<(), hyper::Error>),
}

/// Serves requests on one hyper connection until the connection ends or has
/// been idle for a [`PARK_AFTER`] period (checked once per period, so a
/// busy connection pays no timer per request).
///
/// To stop, the socket reads as closed (`Rewound::poll_read`) once no
/// request is in flight and no byte is waiting: hyper then ends as if the
/// client had closed, without shutting the socket, and hands it back.
pub(super) async fn serve_round<F, Fut>(
    h1: &http1::Builder,
    io: Rewound,
    handle: F,
    closing: &mut watch::Receiver<bool>,
) -> Round
where
    F: Fn(http::Request<hyper::body::Incoming>) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = Result<http::Response<ProxyBody>, std::convert::Infallible>> + Send + 'static,
{
    let state = io.state.clone();
    let counted = state.clone();
    let service = service_fn(move |request| {
        let guard = counted.started();
        let response = handle(request);
        async move { response.await.map(|r| r.map(|body| Tracked::new(body, guard))) }
    });
    // Boxed: the parked connection's task keeps no room for it.
    let mut conn = Box::pin(h1.serve_connection(TokioIo::new(io), service).without_shutdown());
    let mut seen = state.activity();
    let mut closed_listener = false;
    loop {
        tokio::select! {
            parts = &mut conn => {
                let parts = match parts {
                    Ok(parts) => parts,
                    Err(e) => return Round::Ended(Err(e)),
                };
                if closed_listener || !state.stop.load(Ordering::Relaxed) {
                    return Round::Ended(Ok(()));
                }
                let rewound = parts.io.into_inner();
                let unread = [rewound.unread, parts.read_buf].concat();
                return Round::Parked(rewound.inner, Bytes::from(unread));
            }
            () = tokio::time::sleep(PARK_AFTER) => {
                let now = state.activity();
                if now.is_some() && now == seen {
                    state.stop.store(true, Ordering::Relaxed);
                }
                seen = now;
            }
            // The request in flight is answered; then the connection closes.
            () = signalled(closing), if !closed_listener => {
                closed_listener = true;
                state.stop.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// One round's requests and reads, shared by its service, its response
/// bodies and its socket.
#[derive(Debug, Default)]
pub(super) struct RoundState {
    started: AtomicU64,
    in_flight: AtomicUsize,
    bytes_read: AtomicU64,
    /// `bytes_read` when the last request finished: more since then is a
    /// request arriving, which must not be cut off.
    idle_at: AtomicU64,
    /// Set to end the round: the socket reads as closed once idle.
    stop: AtomicBool,
}

impl RoundState {
    fn started(self: &Arc<Self>) -> InFlight {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// `None` while a request is in flight or arriving; otherwise changes
    /// whenever one starts. The same value a period apart means idle.
    fn activity(&self) -> Option<(u64, u64)> {
        let bytes = self.bytes_read.load(Ordering::Relaxed);
        let busy = self.in_flight.load(Ordering::Relaxed) > 0 || bytes != self.idle_at.load(Ordering::Relaxed);
        (!busy).then(|| (self.started.load(Ordering::Relaxed), bytes))
    }
}

/// Held by a request's handling and then its response body.
#[derive(Debug)]
struct InFlight(Arc<RoundState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let state = &self.0;
        if state.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            state.idle_at.store(state.bytes_read.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

/// Waits, holding only the socket, for the next request's first bytes;
/// `None` when none come within `idle` (the keep-alive timeout), the peer
/// closes, or the listener closes.
pub(super) async fn park(stream: TcpStream, idle: Duration, closing: &mut watch::Receiver<bool>) -> Option<TcpStream> {
    let mut probe = [0u8; 1];
    tokio::select! {
        ready = tokio::time::timeout(idle, stream.peek(&mut probe)) => match ready {
            Ok(Ok(n)) if n > 0 => Some(stream),
            _ => None,
        },
        _ = signalled(closing) => None,
    }
}

/// A socket with bytes already read from it, returned first.
#[derive(Debug)]
pub(super) struct Rewound {
    unread: Bytes,
    inner: TcpStream,
    state: Arc<RoundState>,
}

impl Rewound {
    pub fn new(inner: TcpStream, unread: Bytes) -> Self {
        Self { unread, inner, state: Arc::default() }
    }
}

impl AsyncRead for Rewound {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let state = &this.state;
        if !this.unread.is_empty() {
            let n = this.unread.len().min(buf.remaining());
            buf.put_slice(&this.unread[..n]);
            this.unread.advance(n);
            state.bytes_read.fetch_add(1, Ordering::Relaxed);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                state.bytes_read.fetch_add(1, Ordering::Relaxed);
                Poll::Ready(Ok(()))
            }
            // Nothing waiting, no request in flight or arriving, and the
            // round is to end: read as closed, so hyper stops between requests.
            Poll::Pending if state.stop.load(Ordering::Relaxed) && state.activity().is_some() => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

forward_writes!(Rewound);
