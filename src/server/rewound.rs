//! The socket an HTTP/1 round runs on: bytes already read from it (by an
//! earlier round, or while parked) come first, and every read and write is
//! noted in the round's state for its watchdog. A shutdown hyper asks for is
//! only noted: the connection decides whether the socket closes or parks.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes};
use tokio::io::{AsyncRead, ReadBuf};

use super::h1conn::RoundState;

#[derive(Debug)]
pub(super) struct Rewound<S> {
    unread: Bytes,
    inner: S,
    state: Arc<RoundState>,
}

impl<S> Rewound<S> {
    /// A fresh round's socket, `unread` first.
    pub fn new(inner: S, unread: Bytes) -> Self {
        Self { unread, inner, state: Arc::default() }
    }

    pub fn state(&self) -> &Arc<RoundState> {
        &self.state
    }

    /// The socket, and the bytes not handed out yet.
    pub fn into_parts(self) -> (S, Bytes) {
        (self.inner, self.unread)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.unread.is_empty() {
            let n = this.unread.len().min(buf.remaining());
            buf.put_slice(&this.unread[..n]);
            this.unread.advance(n);
            this.state.on_read();
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.state.on_read();
        }
        polled
    }
}

counted_writes!(Rewound<S>, state.writes, no_shutdown);
