//! Listeners and connections. Accept loops hand each connection to one of
//! `workers` threads, round robin; every worker runs a single-threaded event
//! loop with its own upstream pools, so a request never hops threads (the
//! cross-thread wake-ups of a work-stealing runtime cost more CPU than the
//! signature check itself). Shutdown drains in-flight requests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::proxy::{Conn, Proxy, Shared};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("listener `{name}` cannot bind {addr}: {source}")]
    Bind { name: String, addr: SocketAddr, source: std::io::Error },
    #[error("cannot start worker thread: {0}")]
    Worker(std::io::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("replay store: {0}")]
    Replay(#[from] crate::replay::ReplayError),
}

/// A started gateway: its bound addresses and the means to stop it.
#[derive(Debug)]
pub struct RunningGateway {
    addrs: Vec<(String, SocketAddr)>,
    shutdown: watch::Sender<bool>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl RunningGateway {
    /// The address a listener actually bound (useful with port 0).
    pub fn addr(&self, listener: &str) -> Option<SocketAddr> {
        self.addrs.iter().find(|(n, _)| n == listener).map(|(_, a)| *a)
    }

    /// Stops accepting, lets in-flight requests finish within the grace
    /// period, then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.supervisor.await;
    }
}

/// A connection on its way from an accept loop to a worker.
struct Accepted {
    stream: std::net::TcpStream,
    conn: Conn,
    _permit: OwnedSemaphorePermit,
}

/// Binds every listener, starts the workers, then serves in the background.
pub async fn start(config: Config) -> Result<RunningGateway, ServerError> {
    let config = Arc::new(config);
    let shared = Arc::new(Shared::new(config.clone())?);
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
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (stop, stop_rx) = watch::channel(false);
    let (drain_tx, mut drain_rx) = mpsc::channel::<()>(1);
    let mut senders = Vec::new();
    let mut threads = Vec::new();
    for id in 0..config.workers {
        let proxy = Arc::new(Proxy::new(shared.clone())?);
        let (tx, rx) = mpsc::unbounded_channel();
        let builder = http_builder(&config);
        let worker = Worker {
            proxy,
            h1: builder.clone().http1_only(),
            h2: builder.http2_only(),
            first_bytes_timeout: config.timeouts.header_read,
            tls: config.listeners.iter().map(|l| l.tls.as_ref().map(|t| TlsAcceptor::from(t.config.clone()))).collect(),
            handshake_timeout: config.timeouts.tls_handshake,
            shutdown: shutdown_rx.clone(),
            drain: drain_tx.clone(),
        };
        let stop_rx = stop_rx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("hmacgw-worker-{id}"))
            .spawn(move || worker.run(rx, stop_rx))
            .map_err(ServerError::Worker)?;
        senders.push(tx);
        threads.push(thread);
    }
    drop(drain_tx);
    let senders: Arc<[mpsc::UnboundedSender<Accepted>]> = senders.into();
    let next = Arc::new(AtomicUsize::new(0));
    let mut addrs: Vec<(String, SocketAddr)> = bound.iter().map(|(n, a, _, _)| (n.clone(), *a)).collect();
    let admin = match config.admin {
        Some(bind) => {
            let listener = crate::admin::bind(bind).await.map_err(|source| ServerError::Bind {
                name: "admin".into(),
                addr: bind,
                source,
            })?;
            let addr = listener.local_addr().unwrap_or(bind);
            tracing::info!(%addr, "admin listening");
            addrs.push(("admin".into(), addr));
            Some(tokio::spawn(crate::admin::serve(listener, shared.clone(), shutdown_rx.clone())))
        }
        None => None,
    };
    let mut loops = JoinSet::new();
    for (_, _, index, tcp) in bound {
        let accept = AcceptLoop {
            tcp,
            listener: index,
            workers: senders.clone(),
            next: next.clone(),
            permits: Arc::new(Semaphore::new(config.limits.max_connections)),
        };
        loops.spawn(accept.run(shutdown_rx.clone()));
    }
    drop(senders);
    let grace = config.timeouts.shutdown_grace;
    let supervisor = tokio::spawn(async move {
        loops.join_all().await;
        if let Some(admin) = admin {
            let _ = admin.await;
        }
        // Every connection task holds a drain sender; recv() ends when all are gone.
        if tokio::time::timeout(grace, drain_rx.recv()).await.is_err() {
            tracing::warn!(?grace, "connections still open after the shutdown grace period; closing them");
        }
        let _ = stop.send(true);
        let _ = tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| drop(t.join()))).await;
    });
    Ok(RunningGateway { addrs, shutdown, supervisor })
}

/// Resolves once the flag is set (or its sender is gone).
async fn signalled(flag: &mut watch::Receiver<bool>) {
    // Drop the borrow guard here: it must not live across an await.
    let _ = flag.wait_for(|set| *set).await;
}

/// hyper's own caps sit above the configured limits, which the proxy checks
/// itself so that a client gets the JSON error; hyper's are the backstop.
fn http_builder(config: &Config) -> auto::Builder<TokioExecutor> {
    let (limits, timeouts) = (&config.limits, &config.timeouts);
    let head_bytes = 2 * limits.max_header_bytes + limits.max_uri_bytes;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read)
        .keep_alive(true)
        .max_buf_size(head_bytes.max(8192))
        .max_headers(2 * limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(100)
        .max_header_list_size(u32::try_from(head_bytes).unwrap_or(u32::MAX));
    builder
}

struct AcceptLoop {
    tcp: TcpListener,
    listener: usize,
    workers: Arc<[mpsc::UnboundedSender<Accepted>]>,
    next: Arc<AtomicUsize>,
    permits: Arc<Semaphore>,
}

impl AcceptLoop {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(5);
        loop {
            // At the connection limit, stop accepting: the kernel backlog holds
            // newcomers until a slot frees up.
            let permit = tokio::select! {
                _ = signalled(&mut shutdown) => break,
                permit = self.permits.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = signalled(&mut shutdown) => break,
                accepted = self.tcp.accept() => accepted,
            };
            match accepted.and_then(|(s, peer)| Ok((s.into_std()?, peer))) {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    let conn = Conn { listener: self.listener, peer, https: false };
                    let worker = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
                    let _ = self.workers[worker].send(Accepted { stream, conn, _permit: permit });
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

/// One worker thread: a current-thread runtime serving the connections it is
/// handed until the channel closes, then waiting for the supervisor's stop.
struct Worker {
    proxy: Arc<Proxy>,
    /// One builder per protocol: the gateway picks the protocol itself (ALPN,
    /// or a bounded sniff of the first bytes) so that a silent or trickling
    /// client cannot sit in hyper's version detection, which has no timeout.
    h1: auto::Builder<TokioExecutor>,
    h2: auto::Builder<TokioExecutor>,
    first_bytes_timeout: Duration,
    /// Per listener index: the TLS acceptor, when that listener terminates TLS.
    tls: Vec<Option<TlsAcceptor>>,
    handshake_timeout: Duration,
    shutdown: watch::Receiver<bool>,
    drain: mpsc::Sender<()>,
}

impl Worker {
    fn run(self, mut connections: mpsc::UnboundedReceiver<Accepted>, mut stop: watch::Receiver<bool>) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "worker runtime failed to start");
                return;
            }
        };
        runtime.block_on(async move {
            while let Some(accepted) = connections.recv().await {
                self.serve(accepted);
            }
            drop(self);
            signalled(&mut stop).await;
        });
    }

    fn serve(&self, accepted: Accepted) {
        let Accepted { stream, mut conn, _permit } = accepted;
        let stream = match tokio::net::TcpStream::from_std(stream) {
            Ok(s) => s,
            Err(e) => return tracing::warn!(error = %e, "cannot register connection"),
        };
        let _ = stream.set_nodelay(true);
        let tls = self.tls.get(conn.listener).cloned().flatten();
        conn.https = tls.is_some();
        let proxy = self.proxy.clone();
        let service = service_fn(move |request| {
            let proxy = proxy.clone();
            async move { Ok::<_, Infallible>(proxy.serve(conn, request).await) }
        });
        let (h1, h2) = (self.h1.clone(), self.h2.clone());
        let shutdown = self.shutdown.clone();
        let drain = self.drain.clone();
        let (handshake_timeout, sniff_timeout) = (self.handshake_timeout, self.first_bytes_timeout);
        let open = self.proxy.shared().metrics().open_connections.clone();
        open.inc();
        tokio::spawn(async move {
            match tls {
                None => match sniff_protocol(&stream, sniff_timeout).await {
                    Some(Protocol::Http2) => serve_io(&h2, TokioIo::new(stream), service, shutdown, conn).await,
                    Some(Protocol::Http1) => serve_io(&h1, TokioIo::new(stream), service, shutdown, conn).await,
                    None => tracing::debug!(peer = %conn.peer, "no request bytes in time; closed"),
                },
                Some(acceptor) => match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => {
                        let h2_negotiated = tls_stream.get_ref().1.alpn_protocol() == Some(b"h2");
                        let builder = if h2_negotiated { &h2 } else { &h1 };
                        serve_io(builder, TokioIo::new(tls_stream), service, shutdown, conn).await;
                    }
                    Ok(Err(e)) => tracing::debug!(peer = %conn.peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(peer = %conn.peer, "TLS handshake timed out"),
                },
            }
            open.dec();
            drop((drain, _permit));
        });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// Tells HTTP/1 from h2c (prior knowledge) by peeking at the first bytes,
/// within `timeout`; `None` when the client sends nothing useful in time.
async fn sniff_protocol(stream: &tokio::net::TcpStream, timeout: Duration) -> Option<Protocol> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; PREFACE.len()];
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        if !PREFACE.starts_with(&buf[..n]) {
            return Some(Protocol::Http1);
        }
        if n == PREFACE.len() {
            return Some(Protocol::Http2);
        }
        // A partial preface: wait for more without spinning.
        tokio::time::sleep(Duration::from_millis(5)).await;
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
    }
}

/// Serves one connection until it ends, or drains it on shutdown.
async fn serve_io<I, S>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    service: S,
    mut shutdown: watch::Receiver<bool>,
    conn: Conn,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<crate::proxy::ProxyBody>,
            Error = Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = signalled(&mut shutdown) => {
            // Finish the request in flight, refuse keep-alive, send GOAWAY.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(peer = %conn.peer, error = %e, "connection ended with an error");
    }
}
