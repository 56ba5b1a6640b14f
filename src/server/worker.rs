//! Worker threads: each runs a current-thread runtime and serves the
//! connections the accept loops hand it, with the generation current when
//! the connection arrived for its TLS and HTTP settings.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio_rustls::server::TlsStream;

use super::h1conn::{self, Rewound, Round};
use super::h2conn::{Activity, Expiry, Limits, Tracked, Watched};
use super::signalled;
use super::sniff::{Protocol, first_bytes, sniff_protocol};
use crate::proxy::{Conn, Proxy, ProxyBody};

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
        let Some((index, listener)) = generation.listener(&conn.listener) else {
            return tracing::debug!(peer = %conn.peer, "listener closed by a reload; connection dropped");
        };
        let tls = generation.tls_acceptor(index);
        let (h1, h2) = (generation.http1.clone(), generation.http2.clone());
        let timeouts = &generation.config.timeouts;
        let handshake_timeout = timeouts.tls_handshake;
        let limits = Limits { header_read: timeouts.header_read, idle: timeouts.h2_idle };
        let parkable = !listener.routes.iter().any(|route| route.websocket);
        drop(generation);
        let stream = match tokio::net::TcpStream::from_std(stream) {
            Ok(s) => s,
            Err(e) => return tracing::warn!(error = %e, "cannot register connection"),
        };
        let _ = stream.set_nodelay(true);
        conn.https = tls.is_some();
        let peer = conn.peer;
        let handler = Handler { proxy: self.proxy.clone(), conn: Arc::new(conn) };
        let drain = self.drain.clone();
        let open = self.proxy.shared().metrics().open_connections.clone();
        open.inc();
        tokio::spawn(async move {
            let http = Http { h1: &h1, h2: &h2, handler, closing, peer, limits, parkable };
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

/// Builds each connection's service: every request goes to the proxy.
#[derive(Clone)]
struct Handler {
    proxy: Arc<Proxy>,
    conn: Arc<Conn>,
}

impl Handler {
    async fn call(self, request: http::Request<Incoming>) -> Result<http::Response<ProxyBody>, Infallible> {
        Ok(self.proxy.serve(&self.conn, request).await)
    }
}

/// One connection on its way to hyper, once the gateway knows its protocol.
struct Http<'a> {
    h1: &'a http1::Builder,
    h2: &'a auto::Builder<TokioExecutor>,
    handler: Handler,
    closing: watch::Receiver<bool>,
    peer: std::net::SocketAddr,
    limits: Limits,
    /// No websocket route on the listener: idle HTTP/1 connections may be
    /// parked without their hyper connection (`h1conn`).
    parkable: bool,
}

impl Http<'_> {
    async fn serve_cleartext(self, stream: tokio::net::TcpStream) {
        match sniff_protocol(&stream, self.limits.header_read).await {
            // Boxed: the HTTP/2 state is large, and an HTTP/1 connection's
            // task should not carry room for it while it sits idle.
            Some(Protocol::Http2) => Box::pin(self.serve_h2(stream)).await,
            Some(Protocol::Http1) if self.parkable => self.serve_h1_parking(stream).await,
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

    /// hyper's own header timer covers HTTP/1 from the first bytes on.
    async fn serve_h1<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(mut self, stream: S) {
        let handler = self.handler.clone();
        let service = service_fn(move |request| handler.clone().call(request));
        let connection = self.h1.serve_connection(TokioIo::new(stream), service).with_upgrades();
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            _ = signalled(&mut self.closing) => {
                // Finish the request in flight, refuse keep-alive.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        self.log_end(result.map_err(Into::into));
    }

    /// Cleartext HTTP/1 in rounds: a hyper connection while requests come,
    /// only the socket while idle (see `h1conn`). The keep-alive timeout
    /// (`header_read`) counts from the last response, parked or not.
    async fn serve_h1_parking(mut self, stream: tokio::net::TcpStream) {
        let keep_alive = self.limits.header_read.saturating_sub(h1conn::PARK_AFTER);
        let mut io = Rewound::new(stream, bytes::Bytes::new());
        loop {
            let handler = self.handler.clone();
            let handle = move |request| handler.clone().call(request);
            match h1conn::serve_round(self.h1, io, handle, &mut self.closing).await {
                Round::Ended(result) => return self.log_end(result.map_err(Into::into)),
                Round::Parked(stream, unread) if !unread.is_empty() => io = Rewound::new(stream, unread),
                Round::Parked(stream, unread) => match h1conn::park(stream, keep_alive, &mut self.closing).await {
                    Some(stream) => io = Rewound::new(stream, unread),
                    None => return tracing::debug!(peer = %self.peer, "idle connection closed"),
                },
            }
        }
    }

    /// HTTP/2 under the connection watchdog (see `h2conn`).
    async fn serve_h2<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(mut self, stream: S) {
        let activity = Activity::new();
        let io = TokioIo::new(Watched::new(stream, activity.clone()));
        let (handler, streams) = (self.handler.clone(), activity.clone());
        let service = service_fn(move |request| {
            let guard = streams.stream_started();
            let response = handler.clone().call(request);
            async move { response.await.map(|r| r.map(|body| Tracked::new(body, guard))) }
        });
        let connection = self.h2.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        let why = tokio::select! {
            result = connection.as_mut() => return self.log_end(result),
            _ = signalled(&mut self.closing) => "listener closing",
            expiry = activity.expired(self.limits) => match expiry {
                Expiry::NoRequest => "no request within header_read",
                Expiry::Idle => "idle for h2_idle",
                Expiry::HeaderBlock => "header block not completed within header_read",
            },
        };
        tracing::debug!(peer = %self.peer, why, "HTTP/2 connection sent GOAWAY");
        // GOAWAY: streams in flight may finish; then close, even if the peer
        // never answers hyper's shutdown PING.
        connection.as_mut().graceful_shutdown();
        tokio::select! {
            result = connection.as_mut() => self.log_end(result),
            _ = activity.drained(self.limits) => tracing::debug!(peer = %self.peer, "HTTP/2 connection closed after GOAWAY"),
        }
    }

    fn log_end(&self, result: Result<(), Box<dyn std::error::Error + Send + Sync>>) {
        if let Err(e) = result {
            tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
        }
    }
}
