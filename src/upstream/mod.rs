//! Pooled HTTP/HTTPS clients to upstreams, one per configured upstream so
//! each keeps its own pool, CA bundle and connect timeout. Plain-HTTP
//! upstreams use the worker's own HTTP/1.1 pool (`pool.rs`); HTTPS ones
//! hyper-util's client, which negotiates HTTP/2 by ALPN.

mod pool;

use std::error::Error as StdError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{HttpConnector, capture_connection};
use hyper_util::rt::TokioExecutor;

use crate::config::{Config, HttpUpstream, Timeouts};
use crate::error::Rejection;
use crate::tls;

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How one upstream is reached from one worker.
#[derive(Debug)]
enum UpstreamClient {
    Http(pool::H1Pool),
    Https(Box<HttpsClient>),
}

#[derive(Debug)]
pub struct UpstreamClients {
    clients: Vec<UpstreamClient>,
}

impl UpstreamClients {
    pub fn new(config: &Config) -> Result<Self, tls::TlsError> {
        let clients = config.upstreams.iter().map(|up| build_client(up, &config.timeouts)).collect::<Result<_, _>>()?;
        Ok(Self { clients })
    }

    /// Sends `request` and waits for the response head, mapping failures to
    /// the documented statuses. The body then streams to the client.
    pub async fn send(
        &self,
        upstream: &HttpUpstream,
        request: Request<Full<Bytes>>,
        response_timeout: Duration,
    ) -> Result<Response<Incoming>, ForwardError> {
        let client = self
            .clients
            .get(upstream.id)
            .ok_or(ForwardError::unsent(Rejection::Internal("no client for this upstream")))?;
        match client {
            UpstreamClient::Http(pool) => send_pooled(pool, upstream, request, response_timeout).await,
            UpstreamClient::Https(client) => send_https(client, upstream, request, response_timeout).await,
        }
    }
}

/// A plain-HTTP exchange on the worker's pool.
async fn send_pooled(
    pool: &pool::H1Pool,
    upstream: &HttpUpstream,
    request: Request<Full<Bytes>>,
    response_timeout: Duration,
) -> Result<Response<Incoming>, ForwardError> {
    let written = AtomicBool::new(false);
    match tokio::time::timeout(response_timeout, pool.send(request, &written)).await {
        Ok(Ok(response)) => Ok(response),
        // Still connecting when the time ran out: nothing was sent.
        Err(_) => Err(ForwardError {
            rejection: Rejection::UpstreamTimeout,
            may_have_arrived: written.load(Ordering::Relaxed),
        }),
        Ok(Err(pool::PoolError::Connect(e))) => Err(ForwardError::unsent(classify_io(&upstream.name, &e))),
        Ok(Err(pool::PoolError::Exchange(e))) => {
            tracing::warn!(upstream = %upstream.name, error = %ErrorChain(&e), "upstream request failed");
            Err(ForwardError { rejection: Rejection::UpstreamUnavailable, may_have_arrived: true })
        }
    }
}

/// An HTTPS exchange through hyper-util's client.
async fn send_https(
    client: &HttpsClient,
    upstream: &HttpUpstream,
    mut request: Request<Full<Bytes>>,
    response_timeout: Duration,
) -> Result<Response<Incoming>, ForwardError> {
    {
        // Set once a connection (TLS handshake done) is handed the request.
        let connection = capture_connection(&mut request);
        match tokio::time::timeout(response_timeout, client.request(request)).await {
            Err(_) => {
                // Timed out while still connecting (a stalled TLS handshake,
                // or `upstream_response` shorter than `upstream_connect`):
                // nothing was sent.
                let may_have_arrived = connection.connection_metadata().is_some();
                Err(ForwardError { rejection: Rejection::UpstreamTimeout, may_have_arrived })
            }
            Ok(Ok(response)) => Ok(response),
            // A connect error (refused, TLS handshake, connect timeout) means
            // no byte of the request was written.
            Ok(Err(e)) => {
                Err(ForwardError { rejection: classify(&upstream.name, &e), may_have_arrived: !e.is_connect() })
            }
        }
    }
}

/// A connect failure: a timeout is 504, anything else (refused, no route) 502.
fn classify_io(name: &str, e: &std::io::Error) -> Rejection {
    if e.kind() == std::io::ErrorKind::TimedOut {
        tracing::warn!(upstream = name, "upstream connect timed out");
        Rejection::UpstreamTimeout
    } else {
        tracing::warn!(upstream = name, error = %e, "upstream connect failed");
        Rejection::UpstreamUnavailable
    }
}

/// Why a request could not be forwarded, and whether the upstream may have
/// seen it (which decides whether its replay claim may be given back).
#[derive(Debug)]
pub struct ForwardError {
    pub rejection: Rejection,
    /// False only when the request certainly never left the gateway.
    pub may_have_arrived: bool,
}

impl ForwardError {
    /// A failure before anything was sent.
    pub fn unsent(rejection: Rejection) -> Self {
        Self { rejection, may_have_arrived: false }
    }
}

impl From<ForwardError> for Rejection {
    fn from(e: ForwardError) -> Self {
        e.rejection
    }
}

fn build_client(up: &HttpUpstream, timeouts: &Timeouts) -> Result<UpstreamClient, tls::TlsError> {
    if !up.https {
        let port = up.authority.port_u16().unwrap_or(80);
        return Ok(UpstreamClient::Http(pool::H1Pool::new(up.authority.host(), port, timeouts.upstream_connect)));
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(timeouts.upstream_connect));
    let tls_config = tls::client_config(up.ca.as_ref())?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(UpstreamClient::Https(Box::new(
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .build(connector),
    )))
}

/// Connect timeouts → 504; TLS failures → 502 `upstream_tls_error`;
/// everything else (refused, reset, malformed response) → 502.
fn classify(name: &str, err: &hyper_util::client::legacy::Error) -> Rejection {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if e.is::<rustls::Error>() {
            tracing::warn!(upstream = name, error = %e, "upstream TLS handshake failed");
            return Rejection::UpstreamTls;
        }
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                tracing::warn!(upstream = name, "upstream connect timed out");
                return Rejection::UpstreamTimeout;
            }
            // io::Error::source() skips the wrapped error itself; descend into it.
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    tracing::warn!(upstream = name, error = %ErrorChain(err), "upstream request failed");
    Rejection::UpstreamUnavailable
}

/// Displays an error with its causes, for logs.
struct ErrorChain<'a>(&'a (dyn StdError + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}
