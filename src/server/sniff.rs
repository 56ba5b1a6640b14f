//! The first request bytes, awaited within `header_read`. hyper-util's
//! connection first reads up to 24 bytes to tell HTTP/1 from HTTP/2, with
//! no timeout (even when only one protocol is enabled), and hyper's own
//! header timer starts only after that. So the gateway reads those bytes
//! itself: a peek on cleartext connections, a read on TLS ones (whose
//! plaintext cannot be peeked), replayed to hyper by [`Prefixed`].

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf as _, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt as _, ReadBuf};

use super::frames::PREFACE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    Http1,
    Http2,
}

/// What the first bytes say, once they say enough: anything that departs
/// from the h2 preface is HTTP/1; the whole preface is h2c.
fn judge(first: &[u8]) -> Option<Protocol> {
    if !PREFACE.starts_with(first) {
        Some(Protocol::Http1)
    } else if first.len() == PREFACE.len() {
        Some(Protocol::Http2)
    } else {
        None
    }
}

/// Tells HTTP/1 from h2c (prior knowledge) by peeking at the first bytes,
/// within `timeout`; `None` when the client sends nothing useful in time.
pub(super) async fn sniff_protocol(stream: &tokio::net::TcpStream, timeout: Duration) -> Option<Protocol> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; PREFACE.len()];
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        if let Some(protocol) = judge(&buf[..n]) {
            return Some(protocol);
        }
        // A partial preface: wait for more without spinning.
        tokio::time::sleep(Duration::from_millis(5)).await;
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
    }
}

/// Reads from `stream` until its first bytes tell the protocol apart (as
/// hyper-util will), within `timeout`; `None` when they do not arrive in
/// time or the peer closes. The bytes read are replayed first.
pub(super) async fn first_bytes<S: AsyncRead + Unpin>(
    mut stream: S,
    timeout: Duration,
) -> Option<(Protocol, Prefixed<S>)> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; PREFACE.len()];
    let mut len = 0;
    loop {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf[len..])).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        len += n;
        if let Some(protocol) = judge(&buf[..len]) {
            return Some((protocol, Prefixed::new(stream, Bytes::copy_from_slice(&buf[..len]))));
        }
    }
}

/// A stream whose first bytes were already read: they are returned first.
/// (Also the socket a websocket tunnel gets, with what the client sent
/// after its upgrade request.)
#[derive(Debug)]
pub(super) struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(inner: S, prefix: Bytes) -> Self {
        Self { prefix, inner }
    }

    /// The stream, and the bytes not returned yet.
    pub fn into_parts(self) -> (S, Bytes) {
        (self.inner, self.prefix)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

forward_writes!(Prefixed<S>, S);

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt as _;

    use super::*;

    #[test]
    fn judges_like_hyper_util() {
        assert_eq!(judge(b"G"), Some(Protocol::Http1));
        assert_eq!(judge(b"PRI * HTTP/1.1"), Some(Protocol::Http1));
        assert_eq!(judge(b"PRI * HTTP/2.0"), None);
        assert_eq!(judge(PREFACE), Some(Protocol::Http2));
    }

    #[tokio::test]
    async fn first_bytes_are_replayed_then_the_rest_follows() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b"GET / HTTP/1.1\r\n").await.expect("write");
        let (_, mut prefixed) = first_bytes(server, Duration::from_secs(1)).await.expect("bytes in time");
        client.write_all(b"host: a\r\n\r\n").await.expect("write");
        drop(client);
        let mut all = String::new();
        prefixed.read_to_string(&mut all).await.expect("read");
        assert_eq!(all, "GET / HTTP/1.1\r\nhost: a\r\n\r\n");
    }

    #[tokio::test(start_paused = true)]
    async fn silence_or_a_partial_preface_times_out() {
        for sent in [&b""[..], &PREFACE[..16]] {
            let (mut client, server) = tokio::io::duplex(64);
            client.write_all(sent).await.expect("write");
            assert!(first_bytes(server, Duration::from_secs(1)).await.is_none());
        }
    }
}
