//! Websocket tunnels: once the upstream answers 101, bytes are copied both
//! ways between the client's connection and the upstream's until either
//! side closes, or no byte has moved either way for the route's
//! `tunnel_idle`. The client's side comes from its HTTP/1 connection, which
//! hands its socket over once the 101 is written ([`ClientUpgrade`]).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use crate::io_wrap::poll_read_noting;

/// A connection's byte stream, once HTTP no longer runs on it.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// What the connection keeps to deliver the socket with.
pub type UpgradeSender = oneshot::Sender<Box<dyn Io>>;

type UpgradeReceiver = oneshot::Receiver<Box<dyn Io>>;

/// The client's side of an upgrade, delivered by its connection after the
/// 101: the socket, with any bytes the client sent after its request first.
/// (Shared only so it can ride in a request's extensions, which clone.)
#[derive(Debug, Clone)]
pub struct ClientUpgrade(Arc<Mutex<Option<UpgradeReceiver>>>);

impl ClientUpgrade {
    /// A pair: the request carries the upgrade, the connection the sender.
    pub fn pair() -> (UpgradeSender, Self) {
        let (tx, rx) = oneshot::channel();
        (tx, Self(Arc::new(Mutex::new(Some(rx)))))
    }

    /// The socket, once the connection hands it over; `None` if it closed
    /// instead (or another clone took it).
    pub async fn socket(self) -> Option<Box<dyn Io>> {
        let receiver = self.0.lock().unwrap_or_else(PoisonError::into_inner).take()?;
        receiver.await.ok()
    }
}

impl std::fmt::Debug for dyn Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Io")
    }
}

/// Copies bytes both ways once both sides have switched protocols.
pub(super) async fn tunnel(client: ClientUpgrade, upstream: OnUpgrade, idle: Duration) {
    let (Some(client), Ok(upstream)) = tokio::join!(client.socket(), upstream) else { return };
    let moved = Arc::new(AtomicU64::new(0));
    let mut client = Counted { inner: client, moved: moved.clone() };
    let mut upstream = Counted { inner: TokioIo::new(upstream), moved: moved.clone() };
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(e) = copied {
                tracing::debug!(error = %e, "websocket tunnel ended with an error");
            }
        }
        () = quiet_for(&moved, idle) => tracing::debug!(?idle, "websocket tunnel closed: no traffic for tunnel_idle"),
    }
}

/// Resolves once `moved` has not changed for `idle`, checked four times per
/// `idle` (at most once a second): one timer per tunnel, not one per read.
async fn quiet_for(moved: &AtomicU64, idle: Duration) {
    let check = (idle / 4).min(Duration::from_secs(1));
    let mut seen = moved.load(Ordering::Relaxed);
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(check).await;
        let now = moved.load(Ordering::Relaxed);
        if now != seen {
            (seen, quiet_since) = (now, tokio::time::Instant::now());
        } else if quiet_since.elapsed() >= idle {
            return;
        }
    }
}

/// A side of the tunnel that counts the reads that brought bytes.
struct Counted<S> {
    inner: S,
    moved: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let Self { inner, moved } = self.get_mut();
        poll_read_noting(inner, cx, buf, |_| {
            moved.fetch_add(1, Ordering::Relaxed);
        })
    }
}

forward_writes!(Counted<S>, S);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn quiet_means_no_change_for_the_whole_idle_period() {
        let moved = Arc::new(AtomicU64::new(0));
        let started = tokio::time::Instant::now();
        let watcher = tokio::spawn({
            let moved = moved.clone();
            async move { quiet_for(&moved, Duration::from_secs(4)).await }
        });
        // Traffic every 3 s for 12 s: never quiet for 4.
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            moved.fetch_add(1, Ordering::Relaxed);
        }
        assert!(!watcher.is_finished(), "closed while busy");
        watcher.await.expect("watcher");
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(16) && took <= Duration::from_secs(18), "closed after {took:?}");
    }
}
