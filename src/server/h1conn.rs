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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf as _, Bytes};
use http_body::{Body, Frame, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

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
/// been idle for [`PARK_AFTER`] (checked once per period, so a busy
/// connection pays no timer per request).
pub(super) async fn serve_round<F, Fut>(
    h1: &http1::Builder,
    io: Rewound,
    handle: F,
    closing: &mut watch::Receiver<bool>,
) -> Round
where
    F: Fn(http::Request<hyper::body::Incoming>) -> Fut + Send + Clone + Unpin + 'static,
    Fut: Future<Output = Result<http::Response<ProxyBody>, std::convert::Infallible>> + Send + 'static,
{
    let requests = Arc::new(Requests::default());
    let counted = requests.clone();
    let service = service_fn(move |request| {
        let guard = counted.started();
        let response = handle(request);
        // Boxed: `poll_without_shutdown` needs an `Unpin` service future.
        Box::pin(async move { response.await.map(|r| r.map(|body| Counted { body, _guard: guard })) })
    });
    // Boxed: the parked connection's task keeps no room for it.
    let mut conn = Box::new(h1.serve_connection(TokioIo::new(io), service));
    let mut seen = 0;
    loop {
        tokio::select! {
            result = std::future::poll_fn(|cx| Pin::new(&mut *conn).poll_without_shutdown(cx)) => {
                return Round::Ended(result);
            }
            () = tokio::time::sleep(PARK_AFTER) => {
                let started = requests.started.load(Ordering::Relaxed);
                if started == seen && requests.in_flight.load(Ordering::Relaxed) == 0 {
                    break;
                }
                seen = started;
            }
            () = signalled(closing) => {
                // Finish the request in flight, refuse keep-alive, then close.
                Pin::new(&mut *conn).graceful_shutdown();
                let result = std::future::poll_fn(|cx| Pin::new(&mut *conn).poll_without_shutdown(cx)).await;
                return Round::Ended(result);
            }
        }
    }
    // Idle: hyper stops between requests (a request whose bytes are only
    // partly read stays in `read_buf`) and gives the socket back.
    Pin::new(&mut *conn).graceful_shutdown();
    if let Err(e) = std::future::poll_fn(|cx| Pin::new(&mut *conn).poll_without_shutdown(cx)).await {
        return Round::Ended(Err(e));
    }
    let parts = conn.into_parts();
    let rewound = parts.io.into_inner();
    let unread = [rewound.unread, parts.read_buf].concat();
    Round::Parked(rewound.inner, Bytes::from(unread))
}

/// Requests of one round: how many began, and how many are still in flight
/// (handled, or their response still being sent).
#[derive(Debug, Default)]
struct Requests {
    started: AtomicU64,
    in_flight: AtomicUsize,
}

impl Requests {
    fn started(self: &Arc<Self>) -> InFlight {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

/// Held by a request's handling and then its response body.
#[derive(Debug)]
struct InFlight(Arc<Requests>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request in flight until hyper has sent
/// it (or dropped it).
#[derive(Debug)]
struct Counted {
    body: ProxyBody,
    _guard: InFlight,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = <ProxyBody as Body>::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
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
}

impl Rewound {
    pub fn new(inner: TcpStream, unread: Bytes) -> Self {
        Self { unread, inner }
    }
}

impl AsyncRead for Rewound {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.unread.is_empty() {
            let n = this.unread.len().min(buf.remaining());
            buf.put_slice(&this.unread[..n]);
            this.unread.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewound {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
