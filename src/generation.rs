//! A generation: one validated [`Config`] together with everything built
//! from it (upstream pools for each worker, TLS acceptors, HTTP settings).
//! A reload builds a new generation and swaps it in atomically; a request
//! holds the generation it started with until it ends, so a swap never
//! changes the rules under a request in flight.

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use hyper_util::server::conn::auto;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, Listener};
use crate::stream_tasks::StreamExecutor;
use crate::upstream::UpstreamClients;

/// Which open listening socket a connection came in on. A reload keeps a
/// socket (and its id) when the new config binds the same address, even
/// under another name, so a connection finds its listener by this id, never
/// by a name a reload may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(pub u64);

pub struct Generation {
    /// 1 for the configuration loaded at start, +1 per successful reload.
    pub number: u64,
    pub config: Config,
    /// Upstream pools, one set per worker thread so that a request and its
    /// upstream exchange stay on one thread.
    upstreams: Vec<UpstreamClients>,
    /// Per listener index: the TLS acceptor, when that listener terminates TLS.
    tls: Vec<Option<TlsAcceptor>>,
    /// Per listener index: the open socket that serves it (set once the
    /// sockets are bound, before the generation is installed).
    listener_ids: Vec<ListenerId>,
    /// One builder per protocol: the gateway picks the protocol itself (ALPN,
    /// or a bounded sniff of the first bytes) so that a silent or trickling
    /// client cannot sit in hyper's version detection, which has no timeout.
    /// Shared by every connection of the generation: a connection's task
    /// holds a pointer, not a copy of the builder.
    pub http1: Arc<http1::Builder>,
    pub http2: Arc<auto::Builder<StreamExecutor>>,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation").field("number", &self.number).field("config", &self.config).finish_non_exhaustive()
    }
}

impl Generation {
    /// Builds everything `config` needs for `workers` worker threads.
    pub fn build(number: u64, config: Config, workers: usize) -> Result<Self, crate::tls::TlsError> {
        let upstreams = (0..workers).map(|_| UpstreamClients::new(&config)).collect::<Result<_, _>>()?;
        let tls =
            config.listeners.iter().map(|l| l.tls.as_ref().map(|t| TlsAcceptor::from(t.config.clone()))).collect();
        let (http1, http2) = (Arc::new(http1_builder(&config)), Arc::new(http2_builder(&config).http2_only()));
        Ok(Self { number, upstreams, tls, listener_ids: Vec::new(), http1, http2, config })
    }

    /// Names the socket each listener is served by, in the config's order.
    pub fn set_listener_ids(&mut self, ids: Vec<ListenerId>) {
        self.listener_ids = ids;
    }

    /// The listener the socket `id` serves, and its index, if this
    /// generation has it (a reload may have closed it).
    pub fn listener(&self, id: ListenerId) -> Option<(usize, &Listener)> {
        let index = self.listener_ids.iter().position(|known| *known == id)?;
        self.config.listeners.get(index).map(|listener| (index, listener))
    }

    /// The TLS acceptor of listener `index`, if it terminates TLS.
    pub fn tls_acceptor(&self, index: usize) -> Option<TlsAcceptor> {
        self.tls.get(index).cloned().flatten()
    }

    /// Worker `worker`'s upstream pools.
    pub fn upstreams(&self, worker: usize) -> Option<&UpstreamClients> {
        self.upstreams.get(worker)
    }
}

/// hyper's own caps sit above the configured limits, which the proxy checks
/// itself so that a client gets the JSON error; hyper's are the backstop.
fn head_bytes(config: &Config) -> usize {
    2 * config.limits.max_header_bytes + config.limits.max_uri_bytes
}

/// HTTP/1 is served by hyper's own HTTP/1 connection: the gateway has
/// already told the protocol, so the auto builder's wrapper would only cost.
fn http1_builder(config: &Config) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.timeouts.header_read)
        .keep_alive(true)
        .max_buf_size(head_bytes(config).max(8192))
        .max_headers(2 * config.limits.max_headers);
    builder
}

/// Each stream runs as a task a connection's watchdog can cut
/// (`crate::stream_tasks`).
fn http2_builder(config: &Config) -> auto::Builder<StreamExecutor> {
    let timeouts = &config.timeouts;
    let head_bytes = head_bytes(config);
    let mut builder = auto::Builder::new(StreamExecutor);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(100)
        // Pings find a dead peer that still holds streams; idle and stalled
        // connections are the watchdog's (server::h2conn).
        .keep_alive_interval(timeouts.h2_keepalive_interval)
        .keep_alive_timeout(timeouts.h2_keepalive_timeout)
        .max_header_list_size(u32::try_from(head_bytes).unwrap_or(u32::MAX));
    builder
}
