//! Listeners and connections. Accept loops hand each connection to one of
//! `workers` threads, round robin; every worker runs a single-threaded event
//! loop with its own upstream pools, so a request never hops threads (the
//! cross-thread wake-ups of a work-stealing runtime cost more CPU than the
//! signature check itself). A reload swaps the generation and opens or
//! closes listeners; shutdown drains in-flight requests.

mod accept;
mod frames;
mod h1conn;
mod h2conn;
mod listeners;
mod progress;
mod rewound;
mod sniff;
mod worker;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, watch};

use crate::config::{ConfigError, Loaded, Startup};
use crate::generation::Generation;
use crate::metrics::ReloadResult;
use crate::proxy::{Proxy, Shared};
use listeners::Listeners;
use worker::{Accepted, Worker};

/// Why the gateway could not start, or a reload could not apply its listeners.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener (or the admin one) could not bind its address.
    #[error("listener `{name}` cannot bind {addr}: {source}")]
    Bind {
        /// The listener's name; `admin` for the admin listener.
        name: String,
        /// The address it was given.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// A worker thread could not be spawned.
    #[error("cannot start worker thread: {0}")]
    Worker(std::io::Error),
    /// A TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The replay store could not be set up.
    #[error("replay store: {0}")]
    Replay(#[from] crate::replay::ReplayError),
}

/// Why a reload was refused; the previous generation keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The new config could not be applied.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// A started gateway: its bound addresses and the means to reload and stop it.
#[derive(Debug)]
pub struct RunningGateway {
    shared: Arc<Shared>,
    /// What this process started with; a reload cannot change it.
    startup: Startup,
    listeners: tokio::sync::Mutex<Listeners>,
    /// Listener name → bound address, including `admin`.
    addrs: Mutex<Vec<(String, SocketAddr)>>,
    admin: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
    drained: mpsc::Receiver<()>,
    stop: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Binds every listener, starts the workers, then serves in the background.
pub async fn start(loaded: Loaded) -> Result<RunningGateway, ServerError> {
    let Loaded { startup, config } = loaded;
    let workers = startup.workers;
    let mut first = Generation::build(1, config, workers)?;
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..workers).map(|_| mpsc::unbounded_channel::<Accepted>()).unzip();
    let mut listeners = Listeners::new(senders.into(), Arc::new(AtomicUsize::new(0)), startup.max_connections);
    let opened = listeners.prepare(&first.config).await?;
    first.set_listener_ids(opened.ids());
    let shared = Arc::new(Shared::new(first, &startup.replay)?);
    let (stop, stop_rx) = watch::channel(false);
    let (drain_tx, drained) = mpsc::channel::<()>(1);
    let mut threads = Vec::new();
    for (id, rx) in receivers.into_iter().enumerate() {
        let worker = Worker { proxy: Arc::new(Proxy::new(shared.clone(), id)), drain: drain_tx.clone() };
        let stop_rx = stop_rx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("hmacgw-worker-{id}"))
            .spawn(move || worker.run(rx, stop_rx))
            .map_err(ServerError::Worker)?;
        threads.push(thread);
    }
    let generation = shared.current();
    let mut addrs = listeners.commit(opened, &generation.config);
    let admin = match startup.admin {
        Some(bind) => {
            let listener = crate::admin::bind(bind).await.map_err(|source| ServerError::Bind {
                name: "admin".into(),
                addr: bind,
                source,
            })?;
            let addr = listener.local_addr().unwrap_or(bind);
            tracing::info!(%addr, "admin listening");
            addrs.push(("admin".into(), addr));
            let (admin_stop, admin_rx) = watch::channel(false);
            Some((admin_stop, tokio::spawn(crate::admin::serve(listener, shared.clone(), admin_rx))))
        }
        None => None,
    };
    Ok(RunningGateway {
        shared,
        startup,
        listeners: tokio::sync::Mutex::new(listeners),
        addrs: Mutex::new(addrs),
        admin,
        drained,
        stop,
        threads,
    })
}

impl RunningGateway {
    /// The address a listener actually bound (useful with port 0).
    pub fn addr(&self, listener: &str) -> Option<SocketAddr> {
        let addrs = self.addrs.lock().unwrap_or_else(PoisonError::into_inner);
        addrs.iter().find(|(n, _)| n == listener).map(|(_, a)| *a)
    }

    /// The generation new requests use (1 at start, +1 per reload).
    pub fn generation(&self) -> u64 {
        self.shared.current().number
    }

    /// The generation itself, with its config.
    pub fn current(&self) -> Arc<Generation> {
        self.shared.current()
    }

    /// Reads and validates `path` (as `hmac-gateway check` does) and, when it
    /// is sound, swaps it in. On any error the running generation stays.
    /// Counted in `hmacgw_config_reloads_total` either way.
    pub async fn reload_file(&self, path: &Path) -> Result<u64, ReloadError> {
        let owned = path.to_owned();
        let loaded = tokio::task::spawn_blocking(move || Loaded::load(&owned))
            .await
            .unwrap_or_else(|e| Err(ConfigError::Read(path.to_owned(), std::io::Error::other(e))));
        let result = match loaded {
            Ok(loaded) => self.reload(loaded).await,
            Err(e) => Err(e.into()),
        };
        self.count_reload(result.is_ok());
        result
    }

    /// Swaps in an already validated config: builds the new generation, binds
    /// any new listener, installs the generation, then closes the listeners
    /// it no longer has. Requests in flight finish on their own generation.
    pub async fn reload(&self, loaded: Loaded) -> Result<u64, ReloadError> {
        let mut listeners = self.listeners.lock().await;
        let current = self.shared.current();
        for setting in self.startup.changed(&loaded.startup) {
            tracing::warn!(setting, "changed in the new configuration; takes effect on restart");
        }
        let mut next =
            Generation::build(current.number + 1, loaded.config, self.startup.workers).map_err(ServerError::from)?;
        let opened = listeners.prepare(&next.config).await?;
        next.set_listener_ids(opened.ids());
        let number = next.number;
        self.shared.install(next);
        let generation = self.shared.current();
        let mut addrs = listeners.commit(opened, &generation.config);
        let mut known = self.addrs.lock().unwrap_or_else(PoisonError::into_inner);
        addrs.extend(known.iter().filter(|(n, _)| n == "admin").cloned());
        *known = addrs;
        tracing::info!(generation = number, "configuration reloaded");
        Ok(number)
    }

    fn count_reload(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.shared.metrics().config_reloads.get_or_create(&ReloadResult { result }).inc();
    }

    /// Stops accepting, lets in-flight requests finish within the grace
    /// period, then returns.
    pub async fn shutdown(mut self) {
        let grace = self.shared.current().config.timeouts.shutdown_grace;
        self.listeners.into_inner().close_all().await;
        if let Some((stop, task)) = self.admin.take() {
            let _ = stop.send(true);
            let _ = task.await;
        }
        // Every connection task holds a drain sender; recv() ends when all are gone.
        if tokio::time::timeout(grace, self.drained.recv()).await.is_err() {
            tracing::warn!(?grace, "connections still open after the shutdown grace period; closing them");
        }
        let _ = self.stop.send(true);
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| drop(t.join()))).await;
    }
}

/// Resolves once the flag is set (or its sender is gone).
async fn signalled(flag: &mut watch::Receiver<bool>) {
    // Drop the borrow guard here: it must not live across an await.
    let _ = flag.wait_for(|set| *set).await;
}
