//! The body of every answer the gateway gives (one it made, or the
//! upstream's, streamed) and how it ended. Below `error`, `proxy` and
//! `server`, so all of them can name it: the proxy attaches what to do when
//! the answer ends (log it, count it) and the idle timeouts of its route;
//! the connection that sends it says why, when it cuts it short.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;

/// How an answer's body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Every byte was handed to the connection.
    Complete,
    /// The client accepted no byte for `send_idle`: cut.
    SendIdle,
    /// The upstream sent no byte for `upstream_body_idle`: cut.
    UpstreamBodyIdle,
    /// The upstream's body failed (reset, or closed before its end).
    UpstreamError,
    /// The connection or stream went away first: the client closed or
    /// reset it, or the gateway shut down.
    Aborted,
}

impl End {
    const ALL: [Self; 5] = [Self::Complete, Self::SendIdle, Self::UpstreamBodyIdle, Self::UpstreamError, Self::Aborted];

    /// 1 and up, so an atomic holding 0 can mean "not ended".
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Complete => 1,
            Self::SendIdle => 2,
            Self::UpstreamBodyIdle => 3,
            Self::UpstreamError => 4,
            Self::Aborted => 5,
        }
    }

    /// The inverse of [`End::to_u8`]; `None` for 0 (or anything else).
    pub fn from_u8(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|end| end.to_u8() == code)
    }

    /// The access log's `end` and the `reason` label of
    /// `hmacgw_responses_incomplete_total`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::SendIdle => "send_idle",
            Self::UpstreamBodyIdle => "upstream_body_idle",
            Self::UpstreamError => "upstream_error",
            Self::Aborted => "aborted",
        }
    }
}

/// The idle timeouts that apply while an answer's body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleLimits {
    /// The client accepts no byte for this long: cut ([`End::SendIdle`]).
    pub send: Duration,
    /// The upstream sends no byte for this long: cut ([`End::UpstreamBodyIdle`]).
    pub upstream: Duration,
}

/// What happens when an answer ends, once, however it ends.
pub trait Ending: Send + Sync {
    /// Called when the body is dropped: `sent` bytes went to the connection.
    fn ended(self: Box<Self>, end: End, sent: u64);
}

/// An answer's end, held back until its last bytes are out.
pub struct Deferred {
    ending: Box<dyn Ending>,
    end: End,
    sent: u64,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred").field("end", &self.end).field("sent", &self.sent).finish_non_exhaustive()
    }
}

impl Deferred {
    /// Reports the end: as it was, or `cut` when a complete answer never
    /// left the connection's buffers.
    pub fn report(self, cut: Option<End>) {
        let end = match (self.end, cut) {
            (End::Complete, Some(why)) => why,
            (end, _) => end,
        };
        self.ending.ended(end, self.sent);
    }
}

/// What the gateway answers with: a body it made, or the upstream's.
pub struct ProxyBody {
    inner: Inner,
    limits: Option<IdleLimits>,
    ending: Option<Box<dyn Ending>>,
    sent: u64,
    /// Set once known: the end was reached, the upstream failed, or the
    /// connection cut the answer.
    end: Option<End>,
}

enum Inner {
    Made(Full<Bytes>),
    Upstream(Incoming),
}

impl std::fmt::Debug for ProxyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Made(_) => "made",
            Inner::Upstream(_) => "upstream",
        };
        f.debug_struct("ProxyBody").field("kind", &kind).field("sent", &self.sent).field("end", &self.end).finish()
    }
}

/// A body the gateway made.
pub fn full(bytes: Bytes) -> ProxyBody {
    ProxyBody::new(Inner::Made(Full::new(bytes)))
}

/// The upstream's body, streamed as it arrives.
pub fn upstream(incoming: Incoming) -> ProxyBody {
    ProxyBody::new(Inner::Upstream(incoming))
}

impl ProxyBody {
    fn new(inner: Inner) -> Self {
        Self { inner, limits: None, ending: None, sent: 0, end: None }
    }

    /// Attaches the idle timeouts the connection applies while sending it.
    pub fn set_limits(&mut self, limits: IdleLimits) {
        self.limits = Some(limits);
    }

    /// Attaches what to do when it ends (replacing any earlier one).
    pub fn set_ending(&mut self, ending: Box<dyn Ending>) {
        self.ending = Some(ending);
    }

    /// The idle timeouts attached, if any.
    pub fn limits(&self) -> Option<IdleLimits> {
        self.limits
    }

    /// The connection cuts the answer short, for `why`: reported when the
    /// body is dropped, unless it had already ended.
    pub fn cut(&mut self, why: End) {
        self.end.get_or_insert(why);
    }

    /// Takes out what happens at the end, for the connection to report once
    /// the bytes handed over have left its own buffers (or never will).
    pub fn take_ending(&mut self) -> Option<Deferred> {
        let ending = self.ending.take()?;
        Some(Deferred { ending, end: self.how_it_ended(), sent: self.sent })
    }

    fn how_it_ended(&self) -> End {
        match self.end {
            Some(end) => end,
            // Never polled to its end, but nothing was left to send (an
            // empty body, or one hyper does not send: HEAD, 204, 304).
            None if self.is_end_stream() => End::Complete,
            None => End::Aborted,
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let polled = match &mut this.inner {
            Inner::Made(full) => Pin::new(full).poll_frame(cx).map(|f| f.map(|f| f.map_err(|never| match never {}))),
            Inner::Upstream(incoming) => Pin::new(incoming).poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, Bytes::len);
                this.sent += u64::try_from(len).unwrap_or(u64::MAX);
            }
            Poll::Ready(Some(Err(_))) => {
                this.end.get_or_insert(End::UpstreamError);
            }
            Poll::Ready(None) => {
                this.end.get_or_insert(End::Complete);
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Made(full) => full.is_end_stream(),
            Inner::Upstream(incoming) => incoming.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Made(full) => full.size_hint(),
            Inner::Upstream(incoming) => incoming.size_hint(),
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        if let Some(ending) = self.ending.take() {
            ending.ended(self.how_it_ended(), self.sent);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http_body_util::BodyExt as _;

    use super::*;

    #[derive(Default, Clone)]
    struct Seen(Arc<Mutex<Vec<(End, u64)>>>);

    impl Ending for Seen {
        fn ended(self: Box<Self>, end: End, sent: u64) {
            self.0.lock().expect("lock").push((end, sent));
        }
    }

    fn watched(bytes: &'static [u8], seen: &Seen) -> ProxyBody {
        let mut body = full(Bytes::from_static(bytes));
        body.set_ending(Box::new(seen.clone()));
        body
    }

    #[tokio::test]
    async fn an_answer_reports_its_end_once_with_the_bytes_sent() {
        let seen = Seen::default();
        let body = watched(b"hello", &seen);
        assert_eq!(body.collect().await.expect("made bodies do not fail").to_bytes(), "hello");
        assert_eq!(*seen.0.lock().expect("lock"), [(End::Complete, 5)]);
    }

    #[test]
    fn a_cut_or_unsent_answer_says_why() {
        let seen = Seen::default();
        let mut cut = watched(b"hello", &seen);
        cut.cut(End::SendIdle);
        drop(cut);
        drop(watched(b"never polled", &seen));
        // Nothing to send: not polled, yet complete.
        drop(watched(b"", &seen));
        assert_eq!(*seen.0.lock().expect("lock"), [(End::SendIdle, 0), (End::Aborted, 0), (End::Complete, 0)]);
    }
}
