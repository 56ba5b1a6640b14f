//! The request pipeline: pick the route, verify or sign, forward.

mod body;
mod echo;
mod forward;
pub mod headers;
mod hygiene;
pub mod path;
mod route;
mod sign;
mod verify;

use std::net::SocketAddr;

use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use http::request::Parts;
use http::{HeaderValue, Request, Response, header};
use hyper::body::Incoming;

pub use body::ProxyBody;
pub use sign::{Outbound, SignedTarget, fresh_nonce, sign_request};

use crate::config::{Action, PathPolicy, VerifyScheme};
use crate::error::Rejection;
use crate::generation::Generation;
use crate::metrics::{Metrics, RouteLabel, RouteReason, RouteStatus};
use crate::replay::ReplayStore;

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
    pub fn new(first: Generation) -> Result<Self, crate::replay::ReplayError> {
        let metrics = Metrics::new();
        metrics.config_generation.set(i64::try_from(first.number).unwrap_or(i64::MAX));
        Ok(Self {
            replay: ReplayStore::from_settings(&first.config.replay)?,
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
    /// The listener's name (stable across reloads, unlike its index).
    pub listener: Arc<str>,
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

    /// [`Proxy::handle`], with a panic confined to its own request: that
    /// request gets 500 JSON, the connection and every other request go on.
    pub async fn serve(&self, conn: &Conn, request: Request<Incoming>) -> Response<ProxyBody> {
        guarded(self.handle(conn, request)).await
    }

    /// Handles one request; never fails: rejections become JSON responses.
    pub async fn handle(&self, conn: &Conn, request: Request<Incoming>) -> Response<ProxyBody> {
        let started = std::time::Instant::now();
        let generation = self.shared.current();
        let config = &generation.config;
        let (parts, body) = request.into_parts();
        let log = AccessLog {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            bytes_in: body::declared_length(&parts.headers),
        };
        let request_id = match parts.headers.get(headers::X_REQUEST_ID) {
            Some(id) if is_sane_request_id(id) => id.clone(),
            _ => self.shared.ids.next(),
        };
        // A listener the latest reload removed has no routes left.
        let routes = generation.listener(&conn.listener).map_or(&[][..], |(_, l)| &l.routes[..]);
        let routed = hygiene::check(&parts, conn.https, &config.limits)
            .and_then(|()| inbound_authority(&parts, conn.https))
            .and_then(|authority| {
                let host = Some(route::host_of(&authority));
                let route = route::find(routes, host, &parts.method, parts.uri.path()).ok_or(Rejection::NoRoute)?;
                if route.path_policy == PathPolicy::Strict {
                    path::check_strict(parts.uri.path()).map_err(Rejection::NonCanonicalPath)?;
                }
                let websocket = hygiene::check_upgrade(&parts, route.websocket)?;
                Ok((route, authority, websocket))
            });
        let (route, result) = match routed {
            Err(rejection) => (None, Err(rejection)),
            Ok((route, authority, websocket)) => {
                let ctx = forward::Ctx {
                    proxy: self,
                    generation: &generation,
                    conn,
                    route,
                    request_id: &request_id,
                    authority: &authority,
                    websocket,
                };
                let result = match &route.action {
                    Action::Verify(policy) => verify::run(&ctx, policy, parts, body).await,
                    Action::Sign(policy) => sign::run(&ctx, policy, parts, body).await,
                };
                (Some(route), result)
            }
        };
        let route_name = route.map_or("", |r| r.name.as_str());
        let mut auth = "ok";
        let mut response = result.unwrap_or_else(|rejection| {
            auth = rejection.code();
            tracing::info!(
                request_id = request_id.to_str().unwrap_or_default(),
                route = route_name,
                status = rejection.status().as_u16(),
                error = rejection.code(),
                reason = %rejection,
                "request rejected"
            );
            if matches!(rejection, Rejection::Auth(_) | Rejection::ConsumerNotAllowed) {
                let labels = RouteReason { route: route_name.to_owned(), reason: rejection.code() };
                self.shared.metrics.auth_failures.get_or_create(&labels).inc();
            }
            // Accept-Signature is RFC 9421's way to say what to sign.
            let accept_signature = route.and_then(|r| match &r.action {
                Action::Verify(policy) => match &policy.scheme {
                    VerifyScheme::Rfc9421(rules) => Some(&rules.accept_signature),
                    _ => None,
                },
                Action::Sign(_) => None,
            });
            rejection.into_response(&request_id, accept_signature)
        });
        let status = response.status().as_u16();
        let metrics = &self.shared.metrics;
        metrics.requests.get_or_create(&RouteStatus { route: route_name.to_owned(), status }).inc();
        let elapsed = started.elapsed();
        metrics
            .request_seconds
            .get_or_create(&RouteLabel { route: route_name.to_owned() })
            .observe(elapsed.as_secs_f64());
        log.emit(&conn.listener, route_name, &request_id, &response, auth, elapsed);
        response.headers_mut().insert(headers::X_REQUEST_ID, request_id);
        response
    }
}

async fn guarded(handler: impl Future<Output = Response<ProxyBody>>) -> Response<ProxyBody> {
    use futures_util::FutureExt as _;
    match std::panic::AssertUnwindSafe(handler).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!("request handler panicked; answered 500");
            Rejection::Internal.into_response(&HeaderValue::from_static("-"), None)
        }
    }
}

/// Who a verified request came from, attached to its response for the log.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub consumer: HeaderValue,
    pub keyid: HeaderValue,
}

/// What the access log needs from the request before it is consumed.
struct AccessLog {
    method: http::Method,
    path: String,
    bytes_in: Option<u64>,
}

impl AccessLog {
    /// One event per request, target `hmac_gateway::access` (filter it with
    /// RUST_LOG). The path is logged without its query: values stay out.
    fn emit(
        &self,
        listener: &str,
        route: &str,
        request_id: &HeaderValue,
        response: &Response<ProxyBody>,
        auth: &str,
        elapsed: std::time::Duration,
    ) {
        let identity = response.extensions().get::<Identity>();
        let text = |v: Option<&HeaderValue>| v.and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        tracing::info!(
            target: "hmac_gateway::access",
            request_id = request_id.to_str().unwrap_or_default(),
            listener,
            route,
            consumer = text(identity.map(|i| &i.consumer)),
            keyid = text(identity.map(|i| &i.keyid)),
            method = self.method.as_str(),
            path = self.path.as_str(),
            status = response.status().as_u16(),
            auth,
            bytes_in = self.bytes_in.unwrap_or(0),
            bytes_out = http_body::Body::size_hint(response.body()).exact().unwrap_or(0),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "access"
        );
    }
}

/// The authority the client addressed: the URI's (HTTP/2, absolute-form)
/// or the single `Host` header, lowercase with the default port removed.
fn inbound_authority(parts: &Parts, https: bool) -> Result<String, Rejection> {
    let bad = |why: &'static str| Rejection::BadRequest(why.into());
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(bad("more than one Host header"));
    }
    let raw = match (parts.uri.authority(), host) {
        (Some(a), _) => a.as_str(),
        (None, Some(h)) => h.to_str().map_err(|_| bad("invalid Host header"))?,
        (None, None) => return Err(bad("missing Host header")),
    };
    crate::config::normalize_host(raw, https).ok_or_else(|| bad("invalid Host header"))
}

/// An inbound id is kept (so a chain of gateways logs one id) only if it is
/// short and plain enough to be safe in logs and headers.
fn is_sane_request_id(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    (1..=128).contains(&bytes.len()) && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

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
            *byte = HEX[((value >> (4 * (21 - i))) & 0xf) as usize];
        }
        HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_json() {
        let response = guarded(async { panic!("boom") }).await;
        assert_eq!(response.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["content-type"], "application/json");
        let ok = guarded(async { Response::new(ProxyBody::full(bytes::Bytes::from_static(b"fine"))) }).await;
        assert_eq!(ok.status(), http::StatusCode::OK);
    }
}
