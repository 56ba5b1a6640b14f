//! What hyper's HTTP/2 server lacks: an idle timeout, a limit on how long a
//! header block may take, and stall limits per stream. A per-connection
//! watchdog ([`Activity::watch`]) counts the open streams (a request whose
//! handling or response body is still alive) and follows header blocks and
//! PING acknowledgements in the bytes read:
//! - no stream open past `header_read` (before the first stream) or
//!   `h2_idle` (after one), or a header block open past `header_read`: the
//!   connection gets GOAWAY and is drained ([`Activity::drained`]);
//! - each tick while answers are sent, every stream's progress is sampled:
//!   one that has not moved for its `send_idle` (a zero window, PINGs still
//!   answered) or `upstream_body_idle` is cut, which resets that stream
//!   alone (`crate::stream_tasks`);
//! - a socket that takes no byte for `send_idle`: the connection is closed.
//!
//! A header block only counts while it is open: one that h2 then refuses
//! starts no stream, so it is no activity.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Response;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::frames::{Block, FrameTracker};
use super::progress::{Progress, Stall, TICK, Tracked, Watch, WriteCounter};
use crate::body::{End, IdleLimits, ProxyBody};
use crate::io_wrap::poll_read_noting;
use crate::stream_tasks::StreamCell;

/// After GOAWAY: how long a connection with no open stream (or a stalled
/// header block) has to close by itself or show, by answering a PING, that
/// it is alive. A silent one is closed then.
const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// The timers the watchdog applies.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub header_read: Duration,
    pub idle: Duration,
    /// A socket that takes nothing for this long is given up on; also the
    /// idle limits of an answer that names none.
    pub send: Duration,
    pub upstream: Duration,
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
    /// The socket took no byte for `send_idle`: closed at once.
    SendIdle,
}

/// State shared by the connection's IO, its streams and its watchdog.
/// Times are milliseconds since `epoch`, so they fit in atomics.
#[derive(Debug)]
pub(super) struct Activity {
    epoch: Instant,
    open: AtomicUsize,
    any_stream: AtomicBool,
    /// When the last stream ended.
    idle_since: AtomicU64,
    /// When the open header block began, plus one; 0 when none is open.
    block_since: AtomicU64,
    ping_acks: AtomicU64,
    writes: WriteCounter,
    /// The streams whose answers are being sent, for the watchdog to sample.
    answers: Mutex<Vec<Weak<Answer>>>,
    /// The watchdog samples each tick anyway: a new answer need not wake it.
    ticking: AtomicBool,
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
            ping_acks: AtomicU64::new(0),
            writes: WriteCounter::default(),
            answers: Mutex::new(Vec::new()),
            ticking: AtomicBool::new(false),
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

    fn on_read(&self, seen: Block) {
        match seen {
            Block::Started => {
                self.block_since.store(self.now_ms() + 1, Ordering::Release);
                self.wake.notify_one();
            }
            // Not activity in itself: a stream starting is, and h2 may refuse the block.
            Block::Ended => self.block_since.store(0, Ordering::Release),
            Block::PingAck => {
                self.ping_acks.fetch_add(1, Ordering::AcqRel);
                self.wake.notify_one();
            }
        }
    }

    fn block_deadline(&self, limits: Limits) -> Option<Instant> {
        match self.block_since.load(Ordering::Acquire) {
            0 => None,
            since => Some(self.at(since - 1) + limits.header_read),
        }
    }

    /// The next moment the connection expires, and why; `None` while
    /// streams are open and no header block is.
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

    /// Samples every answer being sent and cuts the stalled ones. Returns
    /// whether any is left to sample, and the longest `send_idle` among them
    /// (at least `send`): the limit for the connection's socket.
    fn sample_answers(&self, now: Instant, send: Duration) -> (bool, Duration) {
        let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        answers.retain(|answer| answer.strong_count() > 0);
        let mut longest = send;
        for answer in answers.iter().filter_map(Weak::upgrade) {
            answer.sample(now);
            longest = longest.max(answer.progress.limits().send);
        }
        (!answers.is_empty(), longest)
    }

    /// Resolves when the connection has outstayed its welcome; meanwhile
    /// cuts stalled streams each tick. One timer, moved only when it must
    /// fire sooner (a later deadline just lets it fire early, once): no
    /// timer work per request.
    pub async fn watch(&self, limits: Limits) -> Expiry {
        let mut socket = Stall::default();
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        let mut next_tick = Instant::now();
        loop {
            // notify_one keeps a permit when nobody waits yet, so a change
            // between reading the state and waiting still wakes us.
            let notified = self.wake.notified();
            let now = Instant::now();
            let (answering, send) = self.sample_answers(now, limits.send);
            let owed = self.writes.blocked().then_some(End::SendIdle);
            if socket.tick(now, self.writes.count(), owed, IdleLimits { send, upstream: send }).is_some() {
                return Expiry::SendIdle;
            }
            let deadline = self.deadline(limits);
            if let Some((_, why)) = deadline.filter(|(at, _)| *at <= now) {
                return why;
            }
            // While streams are open the socket is sampled each tick too.
            let sampling = answering || owed.is_some() || self.open.load(Ordering::Acquire) > 0;
            self.ticking.store(sampling, Ordering::Release);
            if now >= next_tick {
                next_tick = now + TICK;
            }
            let wake_at = match (deadline.map(|(at, _)| at), sampling) {
                (Some(at), true) => Some(at.min(next_tick)),
                (at, true) => at.or(Some(next_tick)),
                (at, false) => at,
            };
            let Some(at) = wake_at else {
                notified.await;
                continue;
            };
            if armed.is_none_or(|armed| at < armed || armed <= now) {
                timer.as_mut().reset(at);
                armed = Some(at);
            }
            tokio::select! {
                () = &mut timer => armed = None,
                () = notified => {}
            }
        }
    }

    /// Cuts every answer still being sent, for `why` (the connection goes).
    pub fn cut_all(&self, why: End) {
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        for answer in answers.iter().filter_map(Weak::upgrade) {
            answer.cut(why);
        }
    }

    /// After GOAWAY: resolves when the connection should be dropped rather
    /// than left to finish. Open streams are waited for (their own limits
    /// still cut them); a header block stalled past `header_read` is not
    /// (no other frame can come until it ends). With nothing open, a peer
    /// that has answered a PING since the GOAWAY (hyper's shutdown sends
    /// one) is alive, and gets up to `send_idle` to take what h2 still holds
    /// for it; one that has not is closed after the grace.
    pub async fn drained(&self, limits: Limits) {
        let acks = self.ping_acks.load(Ordering::Acquire);
        tokio::time::sleep(GOAWAY_GRACE).await;
        let mut finishing_until: Option<Instant> = None;
        loop {
            let notified = self.wake.notified();
            let now = Instant::now();
            let (answering, _) = self.sample_answers(now, limits.send);
            let block = self.block_deadline(limits);
            if block.is_some_and(|at| at <= now) {
                return;
            }
            let open = self.open.load(Ordering::Acquire) > 0;
            if !open && block.is_none() {
                let alive = self.ping_acks.load(Ordering::Acquire) != acks;
                let until = *finishing_until.get_or_insert(now + limits.send);
                if !alive || now >= until {
                    return;
                }
            }
            let wait = if answering || !open { TICK } else { limits.header_read };
            let at = block.map_or(now + wait, |at| at.min(now + wait));
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = notified => {}
            }
        }
    }
}

/// Held by a stream's handling and then its response body.
#[derive(Debug)]
pub(super) struct StreamGuard(Arc<Activity>);

impl StreamGuard {
    /// The stream's answer: its body, watched from now on (run inside the
    /// stream's task, whose cell lets the watchdog cut it).
    pub fn respond(self, response: Response<ProxyBody>, fallback: IdleLimits) -> Response<Tracked<Answering>> {
        let answer =
            Arc::new(Answer { progress: Progress::default(), cell: StreamCell::current(), stall: Mutex::default() });
        answer.progress.begin(response.body().limits().unwrap_or(fallback));
        let activity = &self.0;
        activity.answers.lock().unwrap_or_else(PoisonError::into_inner).push(Arc::downgrade(&answer));
        if !activity.ticking.load(Ordering::Acquire) {
            activity.wake.notify_one();
        }
        response.map(|body| Tracked::new(body, Answering { answer, _stream: self }))
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            activity.idle_since.store(activity.now_ms(), Ordering::Release);
            activity.wake.notify_one();
        }
    }
}

/// One stream's answer as the watchdog samples it.
#[derive(Debug)]
pub(super) struct Answer {
    progress: Progress,
    /// The stream's task, to end when the answer stalls.
    cell: Option<Arc<StreamCell>>,
    stall: Mutex<Stall>,
}

impl Answer {
    fn sample(&self, now: Instant) {
        let (waiting, frames) = self.progress.sample();
        let mut stall = self.stall.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(why) = stall.tick(now, frames, waiting, self.progress.limits()) {
            tracing::debug!(why = why.code(), "HTTP/2 stream reset: its answer stalled");
            self.cut(why);
        }
    }

    fn cut(&self, why: End) {
        self.progress.cut(why);
        if let Some(cell) = &self.cell {
            cell.cut(why);
        }
    }
}

/// A stream's response body's hold: its answer, and the stream counted open.
#[derive(Debug)]
pub(super) struct Answering {
    answer: Arc<Answer>,
    _stream: StreamGuard,
}

impl Watch for Answering {
    /// hyper hands a stream's frames to h2 only when h2 has room: 16 KiB
    /// frames (h2's own maximum) show a slow reader's progress often, where
    /// an upstream chunk of hundreds of KiB would look like a stall.
    const FRAME_LIMIT: usize = 16 * 1024;

    fn progress(&self) -> &Progress {
        &self.answer.progress
    }
}

/// The connection's transport, reporting what it reads and writes.
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
        let Self { inner, frames, activity } = self.get_mut();
        poll_read_noting(inner, cx, buf, |read| frames.feed(read, |seen| activity.on_read(seen)))
    }
}

counted_writes!(Watched<S>, activity.writes);

#[cfg(test)]
#[path = "h2conn_tests.rs"]
mod tests;
