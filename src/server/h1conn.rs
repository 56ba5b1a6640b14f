//! HTTP/1 connections, in rounds. A round is one hyper connection serving
//! requests; between rounds the connection is **parked**: hyper's
//! connection holds about 16 KiB of buffers while it lives, and nginx frees
//! a connection's buffers while it waits for the next request, so an idle
//! connection here holds only its socket until its next bytes arrive.
//!
//! A connection is, at any moment, in one of these states:
//! - **serving**: a round runs (reading a head, a request in flight, or idle
//!   for less than two ticks);
//! - **parked**: the socket only, waiting for the next request's first byte
//!   within the keep-alive timeout (`header_read`);
//! - **draining**: its listener is closing; the request in flight is
//!   answered, then the connection closes;
//! - **cut**: the watchdog ended it (`send_idle`, `upstream_body_idle`);
//! - **upgraded**: the socket went to a websocket tunnel after a 101.
//!
//! Each tick ([`TICK`]) the round's watchdog samples its [`RoundState`]. An
//! answer that has not progressed for its idle limit is cut: the connection
//! is dropped, so the client sees the body end short of its length, never a
//! complete-looking one. A round idle for two ticks (nothing in flight,
//! nothing read since, nothing left unwritten) asks hyper to stop
//! (`graceful_shutdown`, which on an idle connection ends at once) and takes
//! back the socket with any bytes hyper had read but not used, such as the
//! first part of a pipelined request: those start the next round at once.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::watch;
use tokio::time::Instant;

use super::progress::{Progress, Stall, TICK, Tracked, Watch, WriteCounter};
use super::rewound::Rewound;
use super::signalled;
use super::sniff::Prefixed;
use crate::body::{Deferred, End, IdleLimits, ProxyBody};
use crate::proxy::{ClientUpgrade, UpgradeSender};

/// How one HTTP/1 connection is served.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    /// How long a parked connection waits for its next request.
    pub keep_alive: Duration,
    /// The idle limits of an answer that names none.
    pub limits: IdleLimits,
}

/// How a connection ended.
#[derive(Debug)]
pub(super) enum Ended {
    /// hyper finished (either side closed, or the listener did), or failed.
    Closed(Result<(), hyper::Error>),
    /// Parked past the keep-alive timeout, or the listener closed meanwhile.
    Idle,
    /// The watchdog cut an answer that stopped progressing.
    Cut(End),
    /// The socket went to a websocket tunnel.
    Upgraded,
}

/// Serves HTTP/1 on `io` until the connection ends; `handle` answers each
/// request, parking it between requests.
pub(super) async fn serve<S, F, Fut>(
    h1: &http1::Builder,
    io: S,
    handle: F,
    closing: &mut watch::Receiver<bool>,
    settings: Settings,
) -> Ended
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + Clone + Unpin + 'static,
    Fut: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let mut io = Rewound::new(io, Bytes::new());
    // Bytes left over from a round hold the start of a request: hyper's
    // header timer restarts with the round, so that round does not park
    // again until a request has started (a trickled head cannot dodge it).
    let mut after_a_request = false;
    loop {
        // Boxed: while parked, the task keeps no room for hyper's connection.
        match Box::pin(serve_round(h1, io, handle.clone(), closing, after_a_request, settings.limits)).await {
            Round::Parked(inner, leftover) if !leftover.is_empty() => {
                (io, after_a_request) = (Rewound::new(inner, leftover), true);
            }
            Round::Parked(inner, _) => match park_until_bytes(inner, settings.keep_alive, closing).await {
                Some((inner, first)) => (io, after_a_request) = (Rewound::new(inner, first), false),
                None => return Ended::Idle,
            },
            Round::Closed(mut inner) => {
                // What hyper's own shutdown would have done: FIN (and, over
                // TLS, close_notify), bounded in case the peer reads nothing.
                let _ = tokio::time::timeout(Duration::from_secs(1), inner.shutdown()).await;
                return Ended::Closed(Ok(()));
            }
            Round::Ended(ended) => return ended,
        }
    }
}

/// How one round ended.
enum Round<S> {
    /// Idle: the socket, and the bytes hyper had read but not used.
    Parked(S, Bytes),
    /// hyper is done with the connection: the socket, to shut down.
    Closed(S),
    /// Anything else; the socket is gone.
    Ended(Ended),
}

/// One hyper connection's worth of requests; it parks when idle, but with
/// `after_a_request` only once a request has started.
async fn serve_round<S, F, Fut>(
    h1: &http1::Builder,
    io: Rewound<S>,
    handle: F,
    closing: &mut watch::Receiver<bool>,
    after_a_request: bool,
    limits: IdleLimits,
) -> Round<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + Clone + Unpin + 'static,
    Fut: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let state = io.state().clone();
    let service = {
        let state = state.clone();
        service_fn(move |request| {
            let (guard, request) = InFlight::start(&state, request, limits);
            let response = handle(request);
            async move { Ok::<_, Infallible>(guard.respond(response.await)) }
        })
    };
    let mut conn = h1.serve_connection(TokioIo::new(io), service);
    let mut watchdog = Watchdog::default();
    // `Some(requests started)` once hyper was asked to stop for parking.
    let mut parking: Option<u64> = None;
    let mut draining = false;
    loop {
        tokio::select! {
            done = std::future::poll_fn(|cx| poll_settling(&mut conn, &state, cx)) => {
                let parked = parking.is_some_and(|started| !draining && state.started() == started);
                return finish(conn, done, &state, parked);
            }
            () = tokio::time::sleep(TICK) => match watchdog.tick(&state, Instant::now()) {
                Verdict::Cut(why) => {
                    state.response.cut(why);
                    state.settle(Some(why));
                    // Dropping hyper's connection drops the socket and the
                    // answer: its client sees the body end short.
                    return Round::Ended(Ended::Cut(why));
                }
                Verdict::Idle if parking.is_none() && (!after_a_request || state.started() > 0) => {
                    parking = Some(state.started());
                    // On an idle connection hyper stops at once, keeping
                    // any bytes it read.
                    Pin::new(&mut conn).graceful_shutdown();
                }
                Verdict::Idle | Verdict::Busy => {}
            },
            () = signalled(closing), if !draining => {
                draining = true;
                // After the request in flight, if any.
                Pin::new(&mut conn).graceful_shutdown();
            }
        }
    }
}

type Conn<S, Svc> = http1::Connection<TokioIo<Rewound<S>>, Svc>;

/// Polls hyper; then an answer whose last bytes hyper has now written out
/// (nothing left blocked) is reported complete.
fn poll_settling<S, Svc>(conn: &mut Conn<S, Svc>, state: &RoundState, cx: &mut Context<'_>) -> Poll<hyper::Result<()>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    Svc: hyper::service::HttpService<Incoming, ResBody = Tracked<InFlight>>,
{
    let polled = Pin::new(conn).poll(cx);
    if state.delivering.load(Ordering::Relaxed) && !state.writes.blocked() {
        state.settle(None);
    }
    polled
}

/// The socket back from hyper: for the next round, a tunnel, or the close.
fn finish<S, Svc>(conn: Conn<S, Svc>, done: hyper::Result<()>, state: &RoundState, parked: bool) -> Round<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    Svc: hyper::service::HttpService<Incoming, ResBody = Tracked<InFlight>>,
{
    if let Err(e) = done {
        state.settle(Some(End::Aborted));
        return Round::Ended(Ended::Closed(Err(e)));
    }
    // hyper finished cleanly: everything it held went out.
    state.settle(None);
    let parts = conn.into_parts();
    let (inner, unread) = parts.io.into_inner().into_parts();
    let leftover = leftover(parts.read_buf, unread);
    if let Some(upgrade) = state.take_upgrade() {
        let _ = upgrade.send(Box::new(Prefixed::new(inner, leftover)));
        return Round::Ended(Ended::Upgraded);
    }
    if parked { Round::Parked(inner, leftover) } else { Round::Closed(inner) }
}

/// The bytes read but not used, in the order they arrived: hyper read its
/// buffer's from the front of ours, so hyper's come first.
fn leftover(hyper_read: Bytes, still_ours: Bytes) -> Bytes {
    match (hyper_read.is_empty(), still_ours.is_empty()) {
        (true, _) => still_ours,
        (_, true) => hyper_read,
        _ => [hyper_read, still_ours].concat().into(),
    }
}

/// Waits, holding only the socket, for the next request's first byte;
/// `None` when none comes within `idle`, the peer closes, or the listener
/// closes.
async fn park_until_bytes<S: AsyncRead + Unpin>(
    mut stream: S,
    idle: Duration,
    closing: &mut watch::Receiver<bool>,
) -> Option<(S, Bytes)> {
    let mut first = [0u8; 1];
    tokio::select! {
        read = tokio::time::timeout(idle, stream.read(&mut first)) => match read {
            Ok(Ok(1)) => Some((stream, Bytes::copy_from_slice(&first))),
            _ => None,
        },
        () = signalled(closing) => None,
    }
}

/// A round's requests, reads, writes and answer, shared by its service,
/// its response bodies and its socket.
#[derive(Debug, Default)]
pub(super) struct RoundState {
    started: AtomicU64,
    in_flight: AtomicUsize,
    reads: AtomicU64,
    /// `reads` when the last request finished: more since then is a request
    /// arriving.
    idle_at: AtomicU64,
    pub writes: WriteCounter,
    /// The answer being sent (one at a time on HTTP/1).
    response: Progress,
    /// Set while a request hyper may upgrade is answered; kept when the
    /// answer is 101, to hand the socket over once hyper lets go of it.
    upgrade: Mutex<Option<UpgradeSender>>,
    /// An answer whose body is all with hyper, reported once hyper has
    /// written it out ("complete" means sent, not just handed over), or
    /// when the connection is cut first.
    end: Mutex<Option<Deferred>>,
    delivering: AtomicBool,
}

impl RoundState {
    pub fn on_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    fn take_upgrade(&self) -> Option<UpgradeSender> {
        self.upgrade.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn defer(&self, end: Deferred) {
        let earlier = self.end.lock().unwrap_or_else(PoisonError::into_inner).replace(end);
        self.delivering.store(true, Ordering::Relaxed);
        // One answer at a time: an earlier one is behind this one's bytes.
        if let Some(earlier) = earlier {
            earlier.report(None);
        }
    }

    /// Reports the answer waiting to be written out: complete, or `cut`.
    fn settle(&self, cut: Option<End>) {
        let end = self.end.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.delivering.store(false, Ordering::Relaxed);
        if let Some(end) = end {
            end.report(cut);
        }
    }
}

impl Drop for RoundState {
    fn drop(&mut self) {
        // The connection went without a word (a cancelled task, a shutdown).
        self.settle(Some(End::Aborted));
    }
}

/// What the round's watchdog concludes at a tick.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Busy,
    /// Idle, and was at the last tick too.
    Idle,
    Cut(End),
}

#[derive(Debug, Default)]
struct Watchdog {
    stall: Stall,
    /// (requests started, reads) at the last tick, when idle then.
    idle: Option<(u64, u64)>,
}

impl Watchdog {
    fn tick(&mut self, state: &RoundState, now: Instant) -> Verdict {
        let in_flight = state.in_flight.load(Ordering::Relaxed) > 0;
        let blocked = state.writes.blocked();
        let (waiting, frames) = state.response.sample();
        // A full socket is the client's doing, whether or not the body is done.
        let owed = if blocked { Some(End::SendIdle) } else { waiting.filter(|_| in_flight) };
        let moved = frames.wrapping_add(state.writes.count());
        if let Some(why) = self.stall.tick(now, moved, owed, state.response.limits()) {
            return Verdict::Cut(why);
        }
        let reads = state.reads.load(Ordering::Relaxed);
        let idle = (!in_flight && !blocked && reads == state.idle_at.load(Ordering::Relaxed))
            .then(|| (state.started(), reads));
        let was = std::mem::replace(&mut self.idle, idle);
        if idle.is_some() && idle == was { Verdict::Idle } else { Verdict::Busy }
    }
}

/// Held by a request's handling and then its response body.
#[derive(Debug)]
struct InFlight {
    state: Arc<RoundState>,
    /// hyper offered this request an upgrade (so the round holds a sender).
    upgrade: bool,
}

impl InFlight {
    fn start(state: &Arc<RoundState>, mut request: Request<Incoming>, limits: IdleLimits) -> (Self, Request<Incoming>) {
        state.started.fetch_add(1, Ordering::Relaxed);
        state.in_flight.fetch_add(1, Ordering::Relaxed);
        state.response.begin(limits);
        // hyper offers an upgrade on requests that ask for one; this round
        // hands the socket over itself (its connection cannot upgrade).
        let upgrade = request.extensions().get::<OnUpgrade>().is_some();
        if upgrade {
            let (sender, upgrade) = ClientUpgrade::pair();
            request.extensions_mut().insert(upgrade);
            *state.upgrade.lock().unwrap_or_else(PoisonError::into_inner) = Some(sender);
        }
        (Self { state: state.clone(), upgrade }, request)
    }

    fn respond(self, response: Response<ProxyBody>) -> Response<Tracked<Self>> {
        let state = &self.state;
        if self.upgrade && response.status() != StatusCode::SWITCHING_PROTOCOLS {
            drop(state.take_upgrade());
        }
        if let Some(limits) = response.body().limits() {
            state.response.begin(limits);
        }
        response.map(|body| Tracked::new(body, self))
    }
}

impl Watch for InFlight {
    fn progress(&self) -> &Progress {
        &self.state.response
    }

    fn body_done(&self, body: &mut ProxyBody) {
        if let Some(end) = body.take_ending() {
            self.state.defer(end);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let state = &self.state;
        if state.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            state.idle_at.store(state.reads.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
#[path = "h1conn_tests.rs"]
mod tests;
