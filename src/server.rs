//! Listeners and connections: accept, serve HTTP/1.1 and h2c with hyper,
//! drain gracefully on shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::{Config, Timeouts};
use crate::proxy::{Conn, Proxy};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("listener `{name}` cannot bind {addr}: {source}")]
    Bind { name: String, addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// A started gateway: its bound addresses and the means to stop it.
#[derive(Debug)]
pub struct RunningGateway {
    addrs: Vec<(String, SocketAddr)>,
    proxy: Arc<Proxy>,
    shutdown: watch::Sender<bool>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl RunningGateway {
    /// The address a listener actually bound (useful with port 0).
    pub fn addr(&self, listener: &str) -> Option<SocketAddr> {
        self.addrs.iter().find(|(n, _)| n == listener).map(|(_, a)| *a)
    }

    pub fn addrs(&self) -> &[(String, SocketAddr)] {
        &self.addrs
    }

    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// Stops accepting, lets in-flight requests finish within the grace
    /// period, then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.supervisor.await;
    }
}

/// Binds every listener, then serves in background tasks.
pub async fn start(config: Config) -> Result<RunningGateway, ServerError> {
    let config = Arc::new(config);
    let proxy = Arc::new(Proxy::new(config.clone())?);
    let mut bound = Vec::new();
    for (index, listener) in config.listeners.iter().enumerate() {
        let tcp = TcpListener::bind(listener.bind).await.map_err(|source| ServerError::Bind {
            name: listener.name.clone(),
            addr: listener.bind,
            source,
        })?;
        let addr = tcp.local_addr().unwrap_or(listener.bind);
        tracing::info!(listener = %listener.name, %addr, routes = listener.routes.len(), "listening");
        bound.push((listener.name.clone(), addr, index, tcp));
    }
    let addrs = bound.iter().map(|(n, a, _, _)| (n.clone(), *a)).collect();
    let (shutdown, signal) = watch::channel(false);
    let builder = http_builder(&config.timeouts);
    let graceful = Arc::new(GracefulShutdown::new());
    let mut loops = JoinSet::new();
    for (_, _, index, tcp) in bound {
        let accept = AcceptLoop {
            tcp,
            listener: index,
            proxy: proxy.clone(),
            builder: builder.clone(),
            graceful: graceful.clone(),
            permits: Arc::new(Semaphore::new(config.limits.max_connections)),
        };
        loops.spawn(accept.run(signal.clone()));
    }
    let grace = config.timeouts.shutdown_grace;
    let supervisor = tokio::spawn(async move {
        loops.join_all().await;
        drain(graceful, grace).await;
    });
    Ok(RunningGateway { addrs, proxy, shutdown, supervisor })
}

async fn drain(graceful: Arc<GracefulShutdown>, grace: Duration) {
    let Ok(graceful) = Arc::try_unwrap(graceful) else { return };
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(?grace, "connections still open after the shutdown grace period; closing them");
    }
}

fn http_builder(timeouts: &Timeouts) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(timeouts.header_read).keep_alive(true);
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(100);
    builder
}

struct AcceptLoop {
    tcp: TcpListener,
    listener: usize,
    proxy: Arc<Proxy>,
    builder: auto::Builder<TokioExecutor>,
    graceful: Arc<GracefulShutdown>,
    permits: Arc<Semaphore>,
}

impl AcceptLoop {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(5);
        loop {
            // At the connection limit, stop accepting: the kernel backlog holds
            // newcomers until a slot frees up.
            let permit = tokio::select! {
                _ = shutdown.changed() => break,
                permit = self.permits.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = shutdown.changed() => break,
                accepted = self.tcp.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    let _ = stream.set_nodelay(true);
                    self.serve(stream, peer, permit);
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

    fn serve(&self, stream: tokio::net::TcpStream, peer: SocketAddr, permit: tokio::sync::OwnedSemaphorePermit) {
        let conn = Conn { listener: self.listener, peer, https: false };
        let proxy = self.proxy.clone();
        let service = service_fn(move |request| {
            let proxy = proxy.clone();
            async move { Ok::<_, Infallible>(proxy.handle(conn, request).await) }
        });
        let connection = self.builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let connection = self.graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
}
