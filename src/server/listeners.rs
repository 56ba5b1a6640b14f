//! The set of open listening sockets and how a new config changes it.
//! A listener is identified by its configured bind address, so a reload
//! that keeps the address keeps the socket (and every connection on it),
//! even when the listener is renamed or its TLS certificate changes. Each
//! socket has a [`ListenerId`] for as long as it is open; a generation maps
//! those ids to its listeners, and connections find theirs by id.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use super::ServerError;
use super::accept::AcceptLoop;
use super::worker::Accepted;
use crate::config::Config;
use crate::generation::ListenerId;

pub(super) struct Listeners {
    open: Vec<Open>,
    workers: Arc<[mpsc::UnboundedSender<Accepted>]>,
    next: Arc<AtomicUsize>,
    /// Open connections per listener (a start-up setting).
    max_connections: usize,
    /// The id the next socket bound gets.
    next_id: u64,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.open.iter().map(|o| (o.configured, o.addr))).finish()
    }
}

struct Open {
    /// The bind address as configured (port 0 stays 0): the reload key.
    configured: SocketAddr,
    addr: SocketAddr,
    id: ListenerId,
    /// Its name in the current generation (a reload may rename it).
    name: Arc<str>,
    closing: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// What a new config needs, per listener in its order: an open socket to
/// keep, or a freshly bound one.
pub(super) struct Prepared(Vec<Slot>);

enum Slot {
    Keep(usize, ListenerId),
    New(TcpListener, ListenerId),
}

impl Prepared {
    /// The socket each listener will be served by, in the config's order.
    pub fn ids(&self) -> Vec<ListenerId> {
        self.0
            .iter()
            .map(|slot| match slot {
                Slot::Keep(_, id) | Slot::New(_, id) => *id,
            })
            .collect()
    }
}

impl Listeners {
    pub fn new(
        workers: Arc<[mpsc::UnboundedSender<Accepted>]>,
        next: Arc<AtomicUsize>,
        max_connections: usize,
    ) -> Self {
        Self { open: Vec::new(), workers, next, max_connections, next_id: 0 }
    }

    /// Binds the addresses `config` adds. Nothing changes yet: on error the
    /// new sockets are dropped and the running set stays as it was.
    pub async fn prepare(&mut self, config: &Config) -> Result<Prepared, ServerError> {
        let mut taken = vec![false; self.open.len()];
        let mut keep: Vec<Option<usize>> = vec![None; config.listeners.len()];
        // Same name and address first, then same address (a rename): with
        // several `:0` binds, the address alone cannot tell them apart.
        for same_name in [true, false] {
            for (slot, listener) in keep.iter_mut().zip(&config.listeners).filter(|(k, _)| k.is_none()) {
                let fits = |i: usize| {
                    !taken[i]
                        && self.open[i].configured == listener.bind
                        && (!same_name || self.open[i].name == listener.name)
                };
                if let Some(i) = (0..self.open.len()).find(|&i| fits(i)) {
                    taken[i] = true;
                    *slot = Some(i);
                }
            }
        }
        let mut slots = Vec::with_capacity(config.listeners.len());
        for (listener, keep) in config.listeners.iter().zip(keep) {
            if let Some(i) = keep {
                slots.push(Slot::Keep(i, self.open[i].id));
                continue;
            }
            let tcp = TcpListener::bind(listener.bind).await.map_err(|source| ServerError::Bind {
                name: listener.name.to_string(),
                addr: listener.bind,
                source,
            })?;
            self.next_id += 1;
            slots.push(Slot::New(tcp, ListenerId(self.next_id)));
        }
        Ok(Prepared(slots))
    }

    /// Applies a prepared change for `config` (already installed as the
    /// current generation): starts new accept loops, renames kept ones,
    /// closes the rest. Returns every listener's bound address.
    pub fn commit(&mut self, prepared: Prepared, config: &Config) -> Vec<(String, SocketAddr)> {
        let mut old: Vec<Option<Open>> = std::mem::take(&mut self.open).into_iter().map(Some).collect();
        for (listener, slot) in config.listeners.iter().zip(prepared.0) {
            let open = match slot {
                Slot::Keep(i, _) => {
                    let Some(mut open) = old.get_mut(i).and_then(Option::take) else { continue };
                    open.name = listener.name.clone();
                    open
                }
                Slot::New(tcp, id) => self.spawn(tcp, id, listener),
            };
            self.open.push(open);
        }
        for closed in old.into_iter().flatten() {
            tracing::info!(addr = %closed.addr, "listener closed by reload; draining its connections");
            let _ = closed.closing.send(true);
        }
        let names = config.listeners.iter().map(|l| l.name.to_string());
        names.zip(self.open.iter().map(|o| o.addr)).collect()
    }

    fn spawn(&self, tcp: TcpListener, id: ListenerId, listener: &crate::config::Listener) -> Open {
        let addr = tcp.local_addr().unwrap_or(listener.bind);
        tracing::info!(listener = %listener.name, %addr, routes = listener.routes.len(), "listening");
        let (closing, closing_rx) = watch::channel(false);
        let accept = AcceptLoop {
            tcp,
            id,
            workers: self.workers.clone(),
            next: self.next.clone(),
            permits: Arc::new(Semaphore::new(self.max_connections)),
            closing: closing_rx,
        };
        let name = listener.name.clone();
        Open { configured: listener.bind, addr, id, name, closing, task: tokio::spawn(accept.run()) }
    }

    /// Closes every listener and waits for the accept loops to end; their
    /// connections drain on their own.
    pub async fn close_all(self) {
        for open in &self.open {
            let _ = open.closing.send(true);
        }
        for open in self.open {
            let _ = open.task.await;
        }
    }
}
