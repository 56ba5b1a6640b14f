//! Accept loops: one per open listener, handing connections to the workers
//! round robin, holding back at the connection limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use super::signalled;
use super::worker::Accepted;
use crate::generation::ListenerId;
use crate::proxy::Conn;

pub(super) struct AcceptLoop {
    pub tcp: TcpListener,
    /// Stays the socket's across reloads, whatever the listener's name.
    pub id: ListenerId,
    pub workers: Arc<[mpsc::UnboundedSender<Accepted>]>,
    pub next: Arc<AtomicUsize>,
    pub permits: Arc<Semaphore>,
    pub closing: watch::Receiver<bool>,
}

impl AcceptLoop {
    pub async fn run(self) {
        let mut closing = self.closing.clone();
        let mut backoff = Duration::from_millis(5);
        loop {
            // At the connection limit, stop accepting: the kernel backlog holds
            // newcomers until a slot frees up.
            let permit = tokio::select! {
                _ = signalled(&mut closing) => break,
                permit = self.permits.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = signalled(&mut closing) => break,
                accepted = self.tcp.accept() => accepted,
            };
            match accepted.and_then(|(s, peer)| Ok((s.into_std()?, peer))) {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    let conn = Conn { listener: self.id, peer, https: false };
                    let worker = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
                    let accepted = Accepted { stream, conn, closing: self.closing.clone(), permit };
                    let _ = self.workers[worker].send(accepted);
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}
