//! The request pipeline. [`Proxy::handle`] owns one per-request context
//! (`pipeline::RequestCtx`) and runs the phases in order; each phase lives
//! in one file:
//!
//! 1. **admit** (`pipeline.rs`, `admit`): sizes, framing and header hygiene
//!    (`hygiene.rs`, `check`), then the authority the client addressed,
//!    parsed once (`hygiene.rs`, `authority`).
//! 2. **route** (`pipeline.rs`, `route`): the first matching route
//!    (`route.rs`, `find`), its path policy (`path.rs`), upgrades, the
//!    declared body length (`body.rs`).
//! 3. **authenticate** (`pipeline.rs`, `authenticate`): a verify route checks
//!    the request in its scheme (`verify.rs`, `authenticate`), giving the
//!    caller's identity (kept in the context) and a replay key; a sign route
//!    only reads the body (`body.rs`, `read`).
//! 4. **claim** (`pipeline.rs`, `Proxy::claim`): the replay key, once.
//! 5. **build** (`upstream_request.rs`, `build_upstream_request`): the
//!    upstream target is computed once (`route.rs`, `target_for`) and both
//!    signed (`sign.rs`, `sign_upstream`) and sent; headers cleaned, identity
//!    or signature added.
//! 6. **forward** (`forward.rs`, `send`): to the HTTP or echo upstream
//!    (`echo.rs`), with a websocket tunnel when the upstream agrees
//!    (`tunnel.rs`). A
//!    failure that never reached the upstream releases the claim
//!    (`pipeline.rs`, `Proxy::release`).
//! 7. **respond** (`respond.rs`, `respond`): a rejection becomes its JSON
//!    answer (`crate::error`), with `Accept-Signature` on a 401 of an RFC 9421
//!    route.
//! 8. **log** (`respond.rs`, `log`): metrics once the answer's head is
//!    decided, and one access-log event per request when its answer ends
//!    (how it ended, the bytes sent), carrying a rejection's code and reason.
//!
//! `explain.rs` runs phases 1 to 3 on a request given as text, calling the
//! same functions step by step, for `hmac-gateway explain`.

mod body;
mod echo;
pub(crate) mod explain;
mod forward;
pub mod headers;
mod hygiene;
pub mod path;
mod pipeline;
mod respond;
mod route;
mod sign;
mod tunnel;
mod upstream_request;
mod verify;

use std::net::SocketAddr;

use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;

pub use body::ProxyBody;
pub(crate) use body::declared_length;
pub use sign::{Outbound, fresh_nonce, sign_request};
pub use tunnel::{ClientUpgrade, UpgradeSender};

use crate::config::ReplaySettings;
use crate::generation::{Generation, ListenerId};
use crate::metrics::Metrics;
use crate::replay::ReplayStore;
use pipeline::RequestCtx;

/// State every worker thread shares. The generation is swapped on reload;
/// the replay store, request ids and metrics outlive every generation, so a
/// reload neither forgets a nonce nor resets a counter.
#[derive(Debug)]
pub struct Shared {
    current: ArcSwap<Generation>,
    replay: ReplayStore,
    ids: RequestIds,
    metrics: Metrics,
}

impl Shared {
    /// The replay store is built here, once: a reload never replaces it.
    pub fn new(first: Generation, replay: &ReplaySettings) -> Result<Self, crate::replay::ReplayError> {
        let metrics = Metrics::new();
        metrics.config_generation.set(i64::try_from(first.number).unwrap_or(i64::MAX));
        Ok(Self {
            replay: ReplayStore::from_settings(replay)?,
            ids: RequestIds::new(),
            metrics,
            current: ArcSwap::from_pointee(first),
        })
    }

    /// The generation new requests use.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// Makes `next` the generation for every request that starts from now
    /// on; requests in flight keep theirs.
    pub fn install(&self, next: Generation) {
        self.metrics.config_generation.set(i64::try_from(next.number).unwrap_or(i64::MAX));
        self.current.store(Arc::new(next));
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn replay_store(&self) -> &ReplayStore {
        &self.replay
    }
}

/// One worker thread's request handler. Its upstream pools live in each
/// generation, one set per worker, so a request and its upstream exchange
/// never hop threads.
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    worker: usize,
}

/// Facts about the connection a request arrived on.
#[derive(Debug, Clone)]
pub struct Conn {
    /// The socket it was accepted on: each generation maps it to its
    /// listener (a reload may rename the listener, or close it).
    pub listener: ListenerId,
    pub peer: SocketAddr,
    pub https: bool,
}

impl Proxy {
    pub fn new(shared: Arc<Shared>, worker: usize) -> Self {
        Self { shared, worker }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Handles one request; never fails: rejections become JSON responses.
    /// The context is this function's: the phases fill it in, `respond`
    /// and `log` read it.
    pub async fn handle(&self, conn: &Conn, request: Request<Incoming>) -> Response<ProxyBody> {
        let generation = self.shared.current();
        let mut ctx = RequestCtx::new(&generation, conn, &request, &self.shared.ids);
        let outcome = pipeline::guarded(self.run(&mut ctx, request)).await;
        let mut response = respond::respond(&mut ctx, outcome);
        response.headers_mut().insert(headers::X_REQUEST_ID, ctx.request_id.clone());
        respond::log(&self.shared.metrics, ctx, &mut response);
        response
    }
}

/// Who sent a verified request: sent upstream as `X-Consumer-ID` and
/// `X-Credential-Identifier`, and logged.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub consumer: HeaderValue,
    pub keyid: HeaderValue,
}

/// An inbound id is kept (so a chain of gateways logs one id) only if it is
/// short and plain enough to be safe in logs and headers.
fn is_sane_request_id(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    (1..=128).contains(&bytes.len()) && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// Now, in Unix seconds; 0 if the clock is before 1970.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unique request ids: a random per-process prefix and a counter, so making
/// one costs no syscall and ids from different replicas do not collide.
#[derive(Debug)]
struct RequestIds {
    prefix: u64,
    counter: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        Self { prefix: getrandom::u64().unwrap_or_default() & 0xffff_ffff_ffff, counter: AtomicU64::new(0) }
    }

    fn next(&self) -> HeaderValue {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // 12 hex digits of prefix, 10 of counter: no formatting machinery.
        let value = (u128::from(self.prefix) << 40) | u128::from(n & 0xff_ffff_ffff);
        let mut text = [0u8; 22];
        for (i, byte) in text.iter_mut().enumerate() {
            let nibble = u8::try_from((value >> (4 * (21 - i))) & 0xf).unwrap_or_default();
            *byte = HEX[usize::from(nibble)];
        }
        HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_json() {
        let panicked = pipeline::guarded(async { panic!("boom") }).await.expect_err("a panic is refused");
        assert_eq!(panicked.log_reason(), "internal error: the request handler panicked");
        let response = panicked.to_response(&HeaderValue::from_static("id"));
        assert_eq!(response.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["content-type"], "application/json");
        let fine = async { Ok(Response::new(body::full(bytes::Bytes::from_static(b"fine")))) };
        let ok = pipeline::guarded(fine).await.expect("no panic");
        assert_eq!(ok.status(), http::StatusCode::OK);
    }
}
