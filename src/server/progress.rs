//! How far an answer has got, as its connection's watchdog sees it. The
//! response body ([`Tracked`]) notes each frame it hands to hyper and each
//! wait for the upstream; the connection's socket notes its writes
//! ([`WriteCounter`]). Each tick (a timer per connection, never one per
//! request) the watchdog compares with the last tick ([`Stall`]): an answer
//! that made no progress for the idle limit of what it waits on is cut.
//!
//! Waiting on the client means hyper stopped asking for body bytes (its
//! buffers are full: the socket, or an HTTP/2 window, takes nothing) or a
//! write is blocked; waiting on the upstream means the body was asked for
//! its next bytes and has none. A slow but steady transfer moves a counter
//! every tick, so it is never cut.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

use crate::body::{End, IdleLimits, ProxyBody};

/// How often a connection's watchdog samples: the resolution of every idle
/// limit it applies, and of HTTP/1 parking.
pub(super) const TICK: Duration = Duration::from_millis(250);

const WAITING_NOTHING: u8 = 0;
const WAITING_UPSTREAM: u8 = 1;
const WAITING_CLIENT: u8 = 2;

/// One answer's progress, written by its body, read by the watchdog.
#[derive(Debug, Default)]
pub(super) struct Progress {
    frames: AtomicU64,
    waiting: AtomicU8,
    send_ms: AtomicU64,
    upstream_ms: AtomicU64,
    /// 0, or the [`End`] the watchdog cut the answer for.
    cut: AtomicU8,
}

impl Progress {
    /// A new answer's body is about to be sent, under `limits`.
    pub fn begin(&self, limits: IdleLimits) {
        self.waiting.store(WAITING_NOTHING, Ordering::Relaxed);
        self.send_ms.store(millis(limits.send), Ordering::Relaxed);
        self.upstream_ms.store(millis(limits.upstream), Ordering::Relaxed);
    }

    pub fn limits(&self) -> IdleLimits {
        IdleLimits {
            send: Duration::from_millis(self.send_ms.load(Ordering::Relaxed)),
            upstream: Duration::from_millis(self.upstream_ms.load(Ordering::Relaxed)),
        }
    }

    pub fn cut(&self, why: End) {
        let _ = self.cut.compare_exchange(0, why.to_u8(), Ordering::AcqRel, Ordering::Acquire);
    }

    pub fn cut_reason(&self) -> Option<End> {
        End::from_u8(self.cut.load(Ordering::Acquire))
    }

    /// What it waits on (`None`: nothing yet), and a counter that moves with
    /// every frame handed over.
    pub fn sample(&self) -> (Option<End>, u64) {
        let waiting = match self.waiting.load(Ordering::Relaxed) {
            WAITING_UPSTREAM => Some(End::UpstreamBodyIdle),
            WAITING_CLIENT => Some(End::SendIdle),
            _ => None,
        };
        (waiting, self.frames.load(Ordering::Relaxed))
    }

    fn on_frame(&self) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.waiting.store(WAITING_CLIENT, Ordering::Relaxed);
    }

    fn on_pending(&self) {
        self.waiting.store(WAITING_UPSTREAM, Ordering::Relaxed);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a response body holds for its connection: where its progress goes.
pub(super) trait Watch: Send + Unpin + 'static {
    /// Largest data frame handed to hyper (0: as the body gives them). An
    /// HTTP/2 stream asks for its next frame only once h2 has room for it,
    /// so smaller frames show a slow reader's progress more often.
    const FRAME_LIMIT: usize = 0;

    fn progress(&self) -> &Progress;

    /// The body is done with: everything it had is with hyper. The default
    /// lets it report its end now.
    fn body_done(&self, _body: &mut ProxyBody) {}
}

/// A response body that reports its progress, and holds `guard` (its
/// request counted in flight) until hyper has sent or dropped it.
#[derive(Debug)]
pub(super) struct Tracked<G: Watch> {
    body: ProxyBody,
    /// The part of a frame larger than `G::FRAME_LIMIT` not handed over yet.
    rest: Bytes,
    guard: G,
}

impl<G: Watch> Tracked<G> {
    pub fn new(body: ProxyBody, guard: G) -> Self {
        Self { body, rest: Bytes::new(), guard }
    }

    /// Up to `G::FRAME_LIMIT` bytes of `data`, keeping the rest for later.
    fn limited(&mut self, mut data: Bytes) -> Bytes {
        if G::FRAME_LIMIT > 0 && data.len() > G::FRAME_LIMIT {
            self.rest = data.split_off(G::FRAME_LIMIT);
        }
        data
    }
}

impl<G: Watch> Body for Tracked<G> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if !this.rest.is_empty() {
            let rest = std::mem::take(&mut this.rest);
            let data = this.limited(rest);
            this.guard.progress().on_frame();
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                this.guard.progress().on_frame();
                match frame.into_data() {
                    Ok(data) => Poll::Ready(Some(Ok(Frame::data(this.limited(data))))),
                    Err(trailers) => Poll::Ready(Some(Ok(trailers))),
                }
            }
            Poll::Pending => {
                this.guard.progress().on_pending();
                Poll::Pending
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let rest = u64::try_from(self.rest.len()).unwrap_or(u64::MAX);
        let inner = self.body.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(rest));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(rest));
        }
        hint
    }
}

impl<G: Watch> Drop for Tracked<G> {
    fn drop(&mut self) {
        // Before the body drops and reports how it ended.
        if let Some(why) = self.guard.progress().cut_reason() {
            self.body.cut(why);
        }
        self.guard.body_done(&mut self.body);
    }
}

/// A socket's writes: a counter that moves with each one that took bytes,
/// and whether the last one found the socket full.
#[derive(Debug, Default)]
pub(super) struct WriteCounter {
    writes: AtomicU64,
    blocked: AtomicBool,
}

impl WriteCounter {
    /// Notes the outcome of a `poll_write`.
    pub fn note<T>(&self, polled: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        match &polled {
            Poll::Pending => self.blocked.store(true, Ordering::Relaxed),
            Poll::Ready(_) => {
                self.blocked.store(false, Ordering::Relaxed);
                self.writes.fetch_add(1, Ordering::Relaxed);
            }
        }
        polled
    }

    /// Notes the outcome of a `poll_flush`. Over TLS a write can succeed
    /// into the session's buffer while the flush to a full socket cannot:
    /// that blocks too. A flush that succeeds counts as progress only after
    /// one that did not (hyper flushes on every turn, bytes or not).
    pub fn note_flush(&self, polled: Poll<std::io::Result<()>>) -> Poll<std::io::Result<()>> {
        match &polled {
            Poll::Pending => self.blocked.store(true, Ordering::Relaxed),
            Poll::Ready(_) => {
                if self.blocked.swap(false, Ordering::Relaxed) {
                    self.writes.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        polled
    }

    pub fn blocked(&self) -> bool {
        self.blocked.load(Ordering::Relaxed)
    }

    pub fn count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

/// One answer's (or one connection's) stall clock: how long nothing has
/// moved, and whether that is past the limit of what it waits on.
#[derive(Debug, Default)]
pub(super) struct Stall {
    last: Option<u64>,
    since: Option<Instant>,
}

impl Stall {
    /// `moved` changes whenever anything progresses; `waiting` is what a
    /// stall would be blamed on (`None`: nothing is owed, no clock runs).
    /// Returns the cut due now, if any.
    pub fn tick(&mut self, now: Instant, moved: u64, waiting: Option<End>, limits: IdleLimits) -> Option<End> {
        let still = self.last == Some(moved);
        self.last = Some(moved);
        let Some(why) = waiting.filter(|_| still) else {
            self.since = None;
            return None;
        };
        let since = *self.since.get_or_insert(now);
        let limit = if why == End::UpstreamBodyIdle { limits.upstream } else { limits.send };
        (now.duration_since(since) >= limit).then_some(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: IdleLimits = IdleLimits { send: Duration::from_secs(2), upstream: Duration::from_secs(3) };

    fn ticks(stall: &mut Stall, start: Instant, samples: &[(u64, Option<End>)]) -> Vec<Option<End>> {
        samples
            .iter()
            .enumerate()
            .map(|(i, (moved, waiting))| {
                let now = start + TICK * u32::try_from(i).expect("few ticks");
                stall.tick(now, *moved, *waiting, LIMITS)
            })
            .collect()
    }

    #[test]
    fn a_stall_is_cut_once_its_limit_has_passed_without_progress() {
        let start = Instant::now();
        let mut stall = Stall::default();
        // Nothing moves while the client is owed bytes: cut at 2 s (tick 8 after the first still one).
        let seen = ticks(&mut stall, start, &[(5, Some(End::SendIdle)); 10]);
        assert_eq!(seen.iter().position(Option::is_some), Some(9));
        assert_eq!(seen[9], Some(End::SendIdle));
        // The upstream's limit applies to the upstream.
        let mut stall = Stall::default();
        let seen = ticks(&mut stall, start, &[(5, Some(End::UpstreamBodyIdle)); 14]);
        assert_eq!(seen.iter().position(Option::is_some), Some(13));
    }

    #[test]
    fn progress_or_nothing_owed_restarts_the_clock() {
        let start = Instant::now();
        let mut stall = Stall::default();
        // A counter that moves every other tick never reaches the limit.
        let steady: Vec<_> = (0..40u64).map(|i| (i / 2, Some(End::SendIdle))).collect();
        assert!(ticks(&mut stall, start, &steady).iter().all(Option::is_none));
        let mut stall = Stall::default();
        let idle: Vec<_> = (0..40).map(|_| (7, None)).collect();
        assert!(ticks(&mut stall, start, &idle).iter().all(Option::is_none));
    }

    #[test]
    fn a_write_counter_tells_a_blocked_socket() {
        let counter = WriteCounter::default();
        let _ = counter.note::<usize>(Poll::Ready(Ok(3)));
        assert!(!counter.blocked());
        let _ = counter.note::<usize>(Poll::Pending);
        assert!(counter.blocked());
        assert_eq!(counter.count(), 1);
        // A flush that goes through after a blocked one is progress; an
        // idle flush is not.
        let _ = counter.note_flush(Poll::Ready(Ok(())));
        assert!(!counter.blocked());
        let _ = counter.note_flush(Poll::Ready(Ok(())));
        assert_eq!(counter.count(), 2);
        let _ = counter.note_flush(Poll::Pending);
        assert!(counter.blocked());
    }
}
