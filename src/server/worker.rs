//! Worker threads: each runs a current-thread runtime and serves the
//! connections the accept loops hand it, with the generation current when
//! the connection arrived for its TLS and HTTP settings.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use super::signalled;
use crate::proxy::{Conn, Proxy};

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
        let Some((index, _)) = generation.listener(&conn.listener) else {
            return tracing::debug!(peer = %conn.peer, "listener closed by a reload; connection dropped");
        };
        let tls = generation.tls_acceptor(index);
        let (h1, h2) = (generation.http1.clone(), generation.http2.clone());
        // A silent new connection gets as long as a slow request head would.
        let timeouts = &generation.config.timeouts;
        let (handshake_timeout, sniff_timeout) = (timeouts.tls_handshake, timeouts.header_read);
        drop(generation);
        let stream = match tokio::net::TcpStream::from_std(stream) {
            Ok(s) => s,
            Err(e) => return tracing::warn!(error = %e, "cannot register connection"),
        };
        let _ = stream.set_nodelay(true);
        conn.https = tls.is_some();
        let peer = conn.peer;
        let proxy = self.proxy.clone();
        let conn = Arc::new(conn);
        let service = service_fn(move |request| {
            let (proxy, conn) = (proxy.clone(), conn.clone());
            async move { Ok::<_, Infallible>(proxy.serve(&conn, request).await) }
        });
        let drain = self.drain.clone();
        let open = self.proxy.shared().metrics().open_connections.clone();
        open.inc();
        tokio::spawn(async move {
            match tls {
                None => match sniff_protocol(&stream, sniff_timeout).await {
                    Some(Protocol::Http2) => serve_io(&h2, TokioIo::new(stream), service, closing, peer).await,
                    Some(Protocol::Http1) => serve_io(&h1, TokioIo::new(stream), service, closing, peer).await,
                    None => tracing::debug!(%peer, "no request bytes in time; closed"),
                },
                Some(acceptor) => match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => {
                        let h2_negotiated = tls_stream.get_ref().1.alpn_protocol() == Some(b"h2");
                        let builder = if h2_negotiated { &h2 } else { &h1 };
                        serve_io(builder, TokioIo::new(tls_stream), service, closing, peer).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
            open.dec();
            drop((drain, permit));
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
    mut closing: watch::Receiver<bool>,
    peer: std::net::SocketAddr,
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
        _ = signalled(&mut closing) => {
            // Finish the request in flight, refuse keep-alive, send GOAWAY.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
