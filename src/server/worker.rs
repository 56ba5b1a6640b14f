//! Worker threads: each runs a current-thread runtime and serves the
//! connections the accept loops hand it, with the generation current when
//! the connection arrived for its TLS and HTTP settings.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio_rustls::server::TlsStream;

use super::h1conn::{self, Ended};
use super::h2conn::{Activity, Expiry, Limits, Watched};
use super::progress::TICK;
use super::signalled;
use super::sniff::{Protocol, first_bytes, sniff_protocol};
use crate::body::{End, IdleLimits};
use crate::proxy::{Conn, Proxy, ProxyBody};
use crate::stream_tasks::StreamExecutor;

/// Unsent bytes the kernel holds for a client before its socket reports
/// full (`TCP_NOTSENT_LOWAT`).
const NOTSENT_LOWAT: u32 = 128 * 1024;

/// A connection on its way from an accept loop to a worker.
pub(super) struct Accepted {
    pub stream: std::net::TcpStream,
    pub conn: Conn,
    /// Set when the connection's listener closes (shutdown, or a reload
    /// removed it): finish the request in flight, then close.
    pub closing: watch::Receiver<bool>,
    pub permit: OwnedSemaphorePermit,
}

/// One worker thread: a current-thread runtime serving the connections it is
/// handed until the channel closes, then waiting for the supervisor's stop.
pub(super) struct Worker {
    pub proxy: Arc<Proxy>,
    /// Held by every connection task: the supervisor's drain ends when all
    /// clones are gone.
    pub drain: mpsc::Sender<()>,
}

impl Worker {
    pub fn run(self, mut connections: mpsc::UnboundedReceiver<Accepted>, mut stop: watch::Receiver<bool>) {
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
        let Accepted { stream, mut conn, closing, permit } = accepted;
        // Only what the handshake needs is taken from the generation: the
        // connection must not pin an old generation for its whole life.
        let generation = self.proxy.shared().current();
        let Some((index, _)) = generation.listener(conn.listener) else {
            return tracing::debug!(peer = %conn.peer, "listener closed by a reload; connection dropped");
        };
        let tls = generation.tls_acceptor(index);
        let (h1, h2) = (generation.http1.clone(), generation.http2.clone());
        let timeouts = &generation.config.timeouts;
        let handshake_timeout = timeouts.tls_handshake;
        let limits = Limits {
            header_read: timeouts.header_read,
            idle: timeouts.h2_idle,
            send: timeouts.send_idle,
            upstream: timeouts.upstream_body_idle,
        };
        drop(generation);
        let stream = match tokio::net::TcpStream::from_std(stream) {
            Ok(s) => s,
            Err(e) => return tracing::warn!(error = %e, "cannot register connection"),
        };
        let _ = stream.set_nodelay(true);
        // At most this much unsent data in the kernel: a socket is writable
        // again as soon as a client that reads has taken some, so a steady
        // reader shows progress within a tick whatever the send buffer has
        // grown to, and a client that stops reading holds kernel memory of
        // this size, not megabytes.
        let _ = socket2::SockRef::from(&stream).set_tcp_notsent_lowat(NOTSENT_LOWAT);
        conn.https = tls.is_some();
        let peer = conn.peer;
        let handler = Handler { proxy: self.proxy.clone(), conn: Arc::new(conn) };
        let drain = self.drain.clone();
        let open = self.proxy.shared().metrics().open_connections.clone();
        open.inc();
        tokio::spawn(async move {
            let http = Http { h1: &h1, h2: &h2, handler, closing, peer, limits };
            match tls {
                None => http.serve_cleartext(stream).await,
                // Boxed for the same reason: a TLS session's state.
                Some(acceptor) => {
                    Box::pin(async move {
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                            Ok(Ok(tls_stream)) => http.serve_tls(tls_stream).await,
                            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    })
                    .await
                }
            }
            open.dec();
            drop((drain, permit));
        });
    }
}

/// Every request of a connection goes to the proxy.
#[derive(Clone)]
struct Handler {
    proxy: Arc<Proxy>,
    conn: Arc<Conn>,
}

impl Handler {
    async fn call(self, request: http::Request<Incoming>) -> http::Response<ProxyBody> {
        self.proxy.handle(&self.conn, request).await
    }
}

/// One connection on its way to hyper, once the gateway knows its protocol.
struct Http<'a> {
    h1: &'a http1::Builder,
    h2: &'a auto::Builder<StreamExecutor>,
    handler: Handler,
    closing: watch::Receiver<bool>,
    peer: std::net::SocketAddr,
    limits: Limits,
}

impl Http<'_> {
    async fn serve_cleartext(self, stream: tokio::net::TcpStream) {
        match sniff_protocol(&stream, self.limits.header_read).await {
            // Boxed: the HTTP/2 state is large, and an HTTP/1 connection's
            // task should not carry room for it while it sits idle.
            Some(Protocol::Http2) => Box::pin(self.serve_h2(stream)).await,
            Some(Protocol::Http1) => self.serve_h1(stream).await,
            None => tracing::debug!(peer = %self.peer, "no request bytes in time; closed"),
        }
    }

    /// ALPN picks the protocol; otherwise the first bytes, which must come
    /// within `header_read` as on cleartext. A client that speaks HTTP/2
    /// without ALPN gets the HTTP/2 path and its watchdog too: hyper-util
    /// would detect the preface itself and serve it unwatched.
    async fn serve_tls(self, stream: TlsStream<tokio::net::TcpStream>) {
        if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
            return Box::pin(self.serve_h2(stream)).await;
        }
        match first_bytes(stream, self.limits.header_read).await {
            Some((Protocol::Http2, stream)) => Box::pin(self.serve_h2(stream)).await,
            Some((Protocol::Http1, stream)) => self.serve_h1(stream).await,
            None => tracing::debug!(peer = %self.peer, "no request bytes in time after the TLS handshake; closed"),
        }
    }

    /// HTTP/1 in rounds, parked while idle (see `h1conn`). The keep-alive
    /// timeout (`header_read`) counts from the last response, parked or not.
    async fn serve_h1<S: AsyncRead + AsyncWrite + Send + Unpin + 'static>(mut self, stream: S) {
        let handler = self.handler.clone();
        let handle = move |request| handler.clone().call(request);
        let settings = h1conn::Settings {
            keep_alive: self.limits.header_read.saturating_sub(TICK),
            limits: self.fallback_limits(),
        };
        match h1conn::serve(self.h1, stream, handle, &mut self.closing, settings).await {
            Ended::Closed(Err(e)) => tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error"),
            Ended::Cut(why) => {
                tracing::debug!(peer = %self.peer, why = why.code(), "connection closed: its answer stalled")
            }
            Ended::Idle => tracing::debug!(peer = %self.peer, "idle connection closed"),
            Ended::Closed(Ok(())) | Ended::Upgraded => {}
        }
    }

    /// HTTP/2 under the connection watchdog (see `h2conn`).
    async fn serve_h2<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(mut self, stream: S) {
        let activity = Activity::new();
        let io = TokioIo::new(Watched::new(stream, activity.clone()));
        let (handler, streams, fallback) = (self.handler.clone(), activity.clone(), self.fallback_limits());
        let service = service_fn(move |request| {
            let guard = streams.stream_started();
            let response = handler.clone().call(request);
            async move { Ok::<_, Infallible>(guard.respond(response.await, fallback)) }
        });
        let connection = self.h2.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        let why = tokio::select! {
            result = connection.as_mut() => return self.log_end(result),
            _ = signalled(&mut self.closing) => "listener closing",
            expiry = activity.watch(self.limits) => match expiry {
                Expiry::NoRequest => "no request within header_read",
                Expiry::Idle => "idle for h2_idle",
                Expiry::HeaderBlock => "header block not completed within header_read",
                Expiry::SendIdle => {
                    // Nothing more can be sent, GOAWAY included: close now.
                    activity.cut_all(End::SendIdle);
                    return tracing::debug!(peer = %self.peer, "HTTP/2 connection closed: its socket took nothing for send_idle");
                }
            },
        };
        tracing::debug!(peer = %self.peer, why, "HTTP/2 connection sent GOAWAY");
        // GOAWAY: streams in flight may finish, and what h2 holds for a peer
        // that still reads is sent; then close (see `Activity::drained`).
        connection.as_mut().graceful_shutdown();
        tokio::select! {
            result = connection.as_mut() => self.log_end(result),
            () = activity.drained(self.limits) => tracing::debug!(peer = %self.peer, "HTTP/2 connection closed after GOAWAY"),
        }
    }

    /// The idle limits of an answer that names none (the global timeouts).
    fn fallback_limits(&self) -> IdleLimits {
        IdleLimits { send: self.limits.send, upstream: self.limits.upstream }
    }

    fn log_end(&self, result: Result<(), Box<dyn std::error::Error + Send + Sync>>) {
        if let Err(e) = result {
            tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
        }
    }
}
