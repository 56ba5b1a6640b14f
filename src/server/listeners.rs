//! The set of open listening sockets and how a new config changes it.
//! A listener is identified by its configured bind address, so a reload
//! that keeps the address keeps the socket (and every connection on it),
//! even when the listener is renamed or its TLS certificate changes.

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use super::ServerError;
use super::accept::{AcceptLoop, SharedName};
use super::worker::Accepted;
use crate::config::Config;

pub(super) struct Listeners {
    open: Vec<Open>,
    workers: Arc<[mpsc::UnboundedSender<Accepted>]>,
    next: Arc<AtomicUsize>,
    /// Open connections per listener (a start-up setting).
    max_connections: usize,
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
    name: SharedName,
    closing: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Open {
    fn name(&self) -> Arc<str> {
        self.name.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// What a new config needs, per listener in its order: an open socket to
/// keep, or a freshly bound one.
pub(super) struct Prepared(Vec<Slot>);

enum Slot {
    Keep(usize),
    New(TcpListener),
}

impl Listeners {
    pub fn new(
        workers: Arc<[mpsc::UnboundedSender<Accepted>]>,
        next: Arc<AtomicUsize>,
        max_connections: usize,
    ) -> Self {
        Self { open: Vec::new(), workers, next, max_connections }
    }

    /// Binds the addresses `config` adds. Nothing changes yet: on error the
    /// new sockets are dropped and the running set stays as it was.
    pub async fn prepare(&self, config: &Config) -> Result<Prepared, ServerError> {
        let mut taken = vec![false; self.open.len()];
        let mut keep: Vec<Option<usize>> = vec![None; config.listeners.len()];
        // Same name and address first, then same address (a rename): with
        // several `:0` binds, the address alone cannot tell them apart.
        for same_name in [true, false] {
            for (slot, listener) in keep.iter_mut().zip(&config.listeners).filter(|(k, _)| k.is_none()) {
                let fits = |i: usize| {
                    !taken[i]
                        && self.open[i].configured == listener.bind
                        && (!same_name || *self.open[i].name() == *listener.name)
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
                slots.push(Slot::Keep(i));
                continue;
            }
            let tcp = TcpListener::bind(listener.bind).await.map_err(|source| ServerError::Bind {
                name: listener.name.clone(),
                addr: listener.bind,
                source,
            })?;
            slots.push(Slot::New(tcp));
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
                Slot::Keep(i) => {
                    let Some(open) = old.get_mut(i).and_then(Option::take) else { continue };
                    *open.name.lock().unwrap_or_else(PoisonError::into_inner) = listener.name.as_str().into();
                    open
                }
                Slot::New(tcp) => self.spawn(tcp, listener, self.max_connections),
            };
            self.open.push(open);
        }
        for closed in old.into_iter().flatten() {
            tracing::info!(addr = %closed.addr, "listener closed by reload; draining its connections");
            let _ = closed.closing.send(true);
        }
        let names = config.listeners.iter().map(|l| l.name.clone());
        names.zip(self.open.iter().map(|o| o.addr)).collect()
    }

    fn spawn(&self, tcp: TcpListener, listener: &crate::config::Listener, max_connections: usize) -> Open {
        let addr = tcp.local_addr().unwrap_or(listener.bind);
        tracing::info!(listener = %listener.name, %addr, routes = listener.routes.len(), "listening");
        let name: SharedName = Arc::new(Mutex::new(listener.name.as_str().into()));
        let (closing, closing_rx) = watch::channel(false);
        let accept = AcceptLoop {
            tcp,
            name: name.clone(),
            workers: self.workers.clone(),
            next: self.next.clone(),
            permits: Arc::new(Semaphore::new(max_connections)),
            closing: closing_rx,
        };
        Open { configured: listener.bind, addr, name, closing, task: tokio::spawn(accept.run()) }
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
