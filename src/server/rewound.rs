//! The socket an HTTP/1 round runs on: bytes already read from it (by an
//! earlier round, or while parked) come first, and every read and write is
//! noted in the round's state for its watchdog. A shutdown hyper asks for
//! does nothing: the connection decides whether the socket closes or parks.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};

use super::h1conn::RoundState;
use super::sniff::Prefixed;
use crate::io_wrap::poll_read_noting;

#[derive(Debug)]
pub(super) struct Rewound<S> {
    inner: Prefixed<S>,
    state: Arc<RoundState>,
}

impl<S> Rewound<S> {
    /// A fresh round's socket, `unread` first.
    pub fn new(inner: S, unread: Bytes) -> Self {
        Self { inner: Prefixed::new(inner, unread), state: Arc::default() }
    }

    pub fn state(&self) -> &Arc<RoundState> {
        &self.state
    }

    /// The socket, and the bytes not handed out yet.
    pub fn into_parts(self) -> (S, Bytes) {
        self.inner.into_parts()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let Self { inner, state } = self.get_mut();
        poll_read_noting(inner, cx, buf, |_| state.on_read())
    }
}

counted_writes!(Rewound<S>, state.writes, no_shutdown);
