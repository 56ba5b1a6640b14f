//! A worker's pool of HTTP/1.1 connections to one plain-HTTP upstream, on
//! hyper's connection API: no lock shared between workers (each worker has
//! its own pool, so its mutex is never contended), no boxed connector, and
//! one task per connection rather than per request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Sender = SendRequest<Full<Bytes>>;

/// Idle connections kept per upstream and worker; more are closed once
/// their response ends.
const MAX_IDLE: usize = 256;
/// A pooled connection unused for this long is closed rather than reused:
/// upstreams commonly drop keep-alive connections after 60 s or more.
const IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// Why a request could not be exchanged.
#[derive(Debug)]
pub enum PoolError {
    /// No connection could be made: nothing was sent.
    Connect(std::io::Error),
    /// The exchange failed after the request was handed to a connection.
    Exchange(hyper::Error),
}

/// Connections to one upstream, for one worker.
#[derive(Debug)]
pub struct H1Pool {
    host: String,
    port: u16,
    connect_timeout: Duration,
    idle: Mutex<Vec<(Sender, Instant)>>,
}

impl H1Pool {
    /// A pool for `host:port` (no connection is made until a request needs one).
    pub fn new(host: &str, port: u16, connect_timeout: Duration) -> Self {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        Self { host, port, connect_timeout, idle: Mutex::new(Vec::new()) }
    }

    /// Sends `request` on an idle connection, or a new one, and returns the
    /// response head. A pooled connection that closed before the request was
    /// written is skipped; the request then goes on the next one. `written`
    /// is set once the request was handed to a connection.
    pub async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
        written: &AtomicBool,
    ) -> Result<Response<Incoming>, PoolError> {
        while let Some(mut sender) = self.checkout() {
            written.store(true, Ordering::Relaxed);
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.checkin(sender, response)),
                Err(mut e) => match e.take_message() {
                    // Never written: the connection had closed meanwhile.
                    Some(unsent) => request = unsent,
                    None => return Err(PoolError::Exchange(e.into_error())),
                },
            }
            written.store(false, Ordering::Relaxed);
        }
        let mut sender = self.connect().await.map_err(PoolError::Connect)?;
        written.store(true, Ordering::Relaxed);
        let response = sender.send_request(request).await.map_err(PoolError::Exchange)?;
        Ok(self.checkin(sender, response))
    }

    /// An idle connection ready for a request; closed and stale ones go.
    fn checkout(&self) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        idle.retain(|(sender, since)| !sender.is_closed() && now.duration_since(*since) < IDLE_TIMEOUT);
        // Newest first: the connection most likely still open upstream.
        let at = idle.iter().rposition(|(sender, _)| sender.is_ready())?;
        Some(idle.swap_remove(at).0)
    }

    /// Pools the connection again; it takes the next request once this
    /// response's body has been read. An upgraded connection is the tunnel's.
    fn checkin(&self, sender: Sender, response: Response<Incoming>) -> Response<Incoming> {
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if idle.len() < MAX_IDLE {
                idle.push((sender, Instant::now()));
            }
        }
        response
    }

    /// A new connection, its task spawned on this worker.
    async fn connect(&self) -> Result<Sender, std::io::Error> {
        let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "upstream connect timed out");
        let stream = tokio::time::timeout(self.connect_timeout, self.dial()).await.map_err(|_| timed_out())??;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }

    /// An IP literal is dialled directly; a name is resolved first.
    async fn dial(&self) -> Result<TcpStream, std::io::Error> {
        match self.host.parse::<IpAddr>() {
            Ok(ip) => TcpStream::connect(SocketAddr::new(ip, self.port)).await,
            Err(_) => TcpStream::connect((self.host.as_str(), self.port)).await,
        }
    }
}
