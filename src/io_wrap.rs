//! What the gateway's wrappers around a byte stream share. Each wrapper
//! watches one side of a socket (the bytes read: a prefix returned first,
//! frames followed, traffic counted; or the writes: progress noted) and
//! passes the rest through untouched.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// Reads from `inner` into `buf`; `noted` sees the bytes that arrived, if
/// any did.
pub fn poll_read_noting<S: AsyncRead + Unpin>(
    inner: &mut S,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
    noted: impl FnOnce(&[u8]),
) -> Poll<std::io::Result<()>> {
    let before = buf.filled().len();
    let polled = Pin::new(inner).poll_read(cx, buf);
    if buf.filled().len() > before {
        noted(&buf.filled()[before..]);
    }
    polled
}

/// `AsyncWrite` for a read-side wrapper: every write goes to its `inner`
/// stream untouched. (The wrappers differ only in what they do to reads.)
macro_rules! forward_writes {
    ($wrapper:ty $(, $param:ident)?) => {
        impl$(<$param: tokio::io::AsyncWrite + Unpin>)? tokio::io::AsyncWrite for $wrapper {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
            }
        }
    };
}

/// `AsyncWrite` for a wrapper whose writes go to its `inner` stream and are
/// noted in a `progress::WriteCounter` (`$counter`, a field path from the
/// wrapper): the connection's watchdog sees a full socket, and progress.
/// Shutdown goes through unless the wrapper defines its own (`no_shutdown`).
macro_rules! counted_writes {
    ($wrapper:ty, $($counter:ident).+ $(, $no_shutdown:ident)?) => {
        impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $wrapper {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let this = self.get_mut();
                this.$($counter).+.note(std::pin::Pin::new(&mut this.inner).poll_write(cx, buf))
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let this = self.get_mut();
                this.$($counter).+.note(std::pin::Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let this = self.get_mut();
                this.$($counter).+.note_flush(std::pin::Pin::new(&mut this.inner).poll_flush(cx))
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                counted_writes!(@shutdown self, cx $(, $no_shutdown)?)
            }
        }
    };
    (@shutdown $self:ident, $cx:ident) => {
        std::pin::Pin::new(&mut $self.get_mut().inner).poll_shutdown($cx)
    };
    // The connection, not hyper, decides whether the socket closes or parks.
    (@shutdown $self:ident, $cx:ident, no_shutdown) => {{
        let _ = ($self, $cx);
        std::task::Poll::Ready(Ok(()))
    }};
}
