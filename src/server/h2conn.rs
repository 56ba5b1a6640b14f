//! What hyper's HTTP/2 server lacks: an idle timeout, and a limit on how
//! long a header block may take. A per-connection watchdog counts the open
//! streams (a request whose handling or response body is still alive) and
//! follows header blocks in the bytes read; with no stream open past
//! `header_read` (before the first stream) or `h2_idle` (after one), or a
//! header block open past `header_read`, the connection gets GOAWAY and,
//! after a short grace, is closed.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::frames::{Block, FrameTracker};

/// After GOAWAY: how long a connection with no open stream (or a stalled
/// header block) has to close by itself. Enough for a responsive peer to
/// answer hyper's shutdown PING; a silent one is closed then.
const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// The timers the watchdog applies.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub header_read: Duration,
    pub idle: Duration,
}

/// Why the watchdog ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// No stream before `header_read`.
    NoRequest,
    /// No open stream for `h2_idle`.
    Idle,
    /// A header block open for longer than `header_read`.
    HeaderBlock,
}

/// State shared by the connection's IO, its streams and its watchdog.
/// Times are milliseconds since `epoch`, so they fit in atomics.
#[derive(Debug)]
pub(super) struct Activity {
    epoch: Instant,
    open: AtomicUsize,
    any_stream: AtomicBool,
    /// When the last stream ended or the last header block completed.
    idle_since: AtomicU64,
    /// When the open header block began, plus one; 0 when none is open.
    block_since: AtomicU64,
    wake: Notify,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            open: AtomicUsize::new(0),
            any_stream: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            block_since: AtomicU64::new(0),
            wake: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    /// A stream reached the service; it stays open while the guard lives.
    pub fn stream_started(self: &Arc<Self>) -> StreamGuard {
        self.open.fetch_add(1, Ordering::AcqRel);
        self.any_stream.store(true, Ordering::Release);
        StreamGuard(self.clone())
    }

    fn on_block(&self, block: Block) {
        match block {
            Block::Started => {
                self.block_since.store(self.now_ms() + 1, Ordering::Release);
                self.wake.notify_one();
            }
            Block::Ended => {
                // A request is arriving: not idle, even before hyper calls the service.
                self.idle_since.store(self.now_ms(), Ordering::Release);
                self.block_since.store(0, Ordering::Release);
            }
        }
    }

    fn block_deadline(&self, limits: Limits) -> Option<Instant> {
        match self.block_since.load(Ordering::Acquire) {
            0 => None,
            since => Some(self.at(since - 1) + limits.header_read),
        }
    }

    /// The next moment the watchdog must act, and why; `None` while streams
    /// are open and no header block is.
    fn deadline(&self, limits: Limits) -> Option<(Instant, Expiry)> {
        // A header block on its way is a request arriving: only its own
        // `header_read` applies, so an idle timer about to run out cannot
        // cut it off.
        if let Some(at) = self.block_deadline(limits) {
            return Some((at, Expiry::HeaderBlock));
        }
        (self.open.load(Ordering::Acquire) == 0).then(|| {
            let since = self.at(self.idle_since.load(Ordering::Acquire));
            match self.any_stream.load(Ordering::Acquire) {
                true => (since + limits.idle, Expiry::Idle),
                false => (since + limits.header_read, Expiry::NoRequest),
            }
        })
    }

    /// Resolves when the connection has outstayed its welcome.
    pub async fn expired(&self, limits: Limits) -> Expiry {
        loop {
            // notify_one keeps a permit when nobody waits yet, so a change
            // between reading the state and waiting still wakes us.
            let notified = self.wake.notified();
            match self.deadline(limits) {
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// After GOAWAY: resolves once the grace has passed and either nothing
    /// is open (no stream, no header block) or a header block has stalled
    /// past `header_read` (the peer
    /// cannot send anything else until it ends, so the streams cannot finish).
    pub async fn drained(&self, limits: Limits) {
        tokio::time::sleep(GOAWAY_GRACE).await;
        loop {
            let notified = self.wake.notified();
            let now = Instant::now();
            let block = self.block_deadline(limits);
            // A block still within its time may become a stream worth finishing.
            let idle = self.open.load(Ordering::Acquire) == 0 && block.is_none();
            if idle || block.is_some_and(|at| at <= now) {
                return;
            }
            match block {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// Held by a stream's handling and then its response body.
#[derive(Debug)]
pub(super) struct StreamGuard(Arc<Activity>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            activity.idle_since.store(activity.now_ms(), Ordering::Release);
            activity.wake.notify_one();
        }
    }
}

/// A response body that holds `guard` (its stream or request counted as
/// open) until hyper has sent it, or dropped it. HTTP/2's watchdog and
/// HTTP/1's parking (`h1conn`) both count this way.
#[derive(Debug)]
pub(super) struct Tracked<B, G> {
    body: B,
    _guard: G,
}

impl<B, G> Tracked<B, G> {
    pub fn new(body: B, guard: G) -> Self {
        Self { body, _guard: guard }
    }
}

impl<B: Body<Data = Bytes> + Unpin, G: Unpin> Body for Tracked<B, G> {
    type Data = Bytes;
    type Error = B::Error;

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

/// The connection's transport, reporting header blocks as they are read.
#[derive(Debug)]
pub(super) struct Watched<S> {
    inner: S,
    frames: FrameTracker,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, frames: FrameTracker::default(), activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let activity = &this.activity;
            this.frames.feed(&buf.filled()[before..], |block| activity.on_block(block));
        }
        polled
    }
}

forward_writes!(Watched<S>, S);

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { header_read: Duration::from_secs(2), idle: Duration::from_secs(10) };

    /// Paused time jumps straight to each timer, give or take a tick.
    fn took(since: Instant, expected: Duration) {
        let elapsed = since.elapsed();
        assert!(elapsed >= expected && elapsed <= expected + Duration::from_millis(5), "{elapsed:?} for {expected:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_stream_expires_at_header_read() {
        let activity = Activity::new();
        let started = Instant::now();
        assert_eq!(activity.expired(LIMITS).await, Expiry::NoRequest);
        took(started, LIMITS.header_read);
    }

    #[tokio::test(start_paused = true)]
    async fn open_streams_hold_off_the_idle_timer_which_restarts_when_they_end() {
        let activity = Activity::new();
        let guard = activity.stream_started();
        let waiter = tokio::spawn({
            let activity = activity.clone();
            async move { activity.expired(LIMITS).await }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!waiter.is_finished(), "expired with a stream open");
        drop(guard);
        let ended = Instant::now();
        assert_eq!(waiter.await.expect("watchdog"), Expiry::Idle);
        took(ended, LIMITS.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_header_block_open_too_long_expires_even_with_streams_open() {
        let activity = Activity::new();
        let _guard = activity.stream_started();
        tokio::time::sleep(Duration::from_secs(5)).await;
        activity.on_block(Block::Started);
        let started = Instant::now();
        assert_eq!(activity.expired(LIMITS).await, Expiry::HeaderBlock);
        took(started, LIMITS.header_read);
        // The drain does not wait for streams that cannot finish.
        let started = Instant::now();
        activity.drained(LIMITS).await;
        took(started, GOAWAY_GRACE);
    }

    #[tokio::test(start_paused = true)]
    async fn the_drain_waits_for_open_streams() {
        let activity = Activity::new();
        let guard = activity.stream_started();
        let drained = tokio::spawn({
            let activity = activity.clone();
            async move { activity.drained(LIMITS).await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!drained.is_finished());
        drop(guard);
        drained.await.expect("drain");
    }
}
