//! The last two phases: `respond` turns the outcome into the client's answer
//! and `log` records the request once: its metrics when the answer's head is
//! decided, its access-log event when the answer ends.

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use http::{HeaderValue, Method, Response, Uri};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::pipeline::RequestCtx;
use super::{Identity, ProxyBody};
use crate::body::{End, Ending, IdleLimits};
use crate::config::{Action, RouteTimeouts};
use crate::error::Rejection;
use crate::metrics::{Metrics, RouteLabel, RouteReason, RouteStatus};

/// The upstream's response as it is, or the rejection's JSON answer. The
/// rejection stays in `ctx` for the log.
pub(super) fn respond(
    ctx: &mut RequestCtx<'_>,
    outcome: Result<Response<ProxyBody>, Rejection>,
) -> Response<ProxyBody> {
    let rejection = match outcome {
        Ok(response) => return response,
        Err(rejection) => rejection,
    };
    let mut response = rejection.to_response_with(&ctx.request_id, ctx.debug_signed.as_deref());
    if matches!(rejection, Rejection::Auth(_) | Rejection::Replayed)
        && let Some(value) = accept_signature(ctx)
    {
        response.headers_mut().insert("accept-signature", value.clone());
    }
    ctx.rejection = Some(rejection);
    response
}

/// RFC 9421's way to tell a client what to sign: the route's verify policy
/// gives it (RFC 9421 routes only), and only a 401 carries it.
fn accept_signature<'a>(ctx: &RequestCtx<'a>) -> Option<&'a HeaderValue> {
    match &ctx.route?.action {
        Action::Verify(policy) => policy.accept_signature(),
        Action::Sign(_) => None,
    }
}

/// The route (or listener) label of a request none took.
static UNNAMED: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));

fn text(value: Option<&HeaderValue>) -> &str {
    value.and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The request's metrics, now that its answer's head is decided; and, for
/// when the answer ends, its access-log event ([`AccessRecord`]) and the
/// idle timeouts the connection applies while sending it.
pub(super) fn log(metrics: &Metrics, ctx: RequestCtx<'_>, response: &mut Response<ProxyBody>) {
    let route: Arc<str> = ctx.route.map_or_else(|| Arc::clone(&UNNAMED), |r| Arc::clone(&r.name));
    let status = response.status().as_u16();
    metrics.requests.get_or_create(&RouteStatus { route: route.clone(), status }).inc();
    let elapsed = ctx.started.elapsed().as_secs_f64();
    metrics.request_seconds.get_or_create(&RouteLabel { route: route.clone() }).observe(elapsed);
    if let Some(rejection @ (Rejection::Auth(_) | Rejection::ConsumerNotAllowed)) = &ctx.rejection {
        let labels = RouteReason { route: route.clone(), reason: rejection.code() };
        metrics.auth_failures.get_or_create(&labels).inc();
    }
    let timeouts = ctx.route.map_or_else(|| RouteTimeouts::from(&ctx.generation.config.timeouts), |r| r.timeouts);
    let body = response.body_mut();
    body.set_limits(IdleLimits { send: timeouts.send_idle, upstream: timeouts.upstream_body_idle });
    body.set_ending(Box::new(AccessRecord::new(ctx, route, status, metrics.responses_incomplete.clone())));
}

/// What the access log says of a request, kept until its answer ends:
/// one event per request, target `hmac_gateway::access` (filter it with
/// RUST_LOG), carrying a rejection's code and reason and how the answer
/// ended. The path is logged without its query: values stay out.
struct AccessRecord {
    request_id: HeaderValue,
    listener: Arc<str>,
    route: Arc<str>,
    identity: Option<Identity>,
    method: Method,
    uri: Uri,
    status: u16,
    auth: &'static str,
    reason: Option<String>,
    bytes_in: Option<u64>,
    started: Instant,
    incomplete: Family<RouteReason, Counter>,
}

impl AccessRecord {
    fn new(ctx: RequestCtx<'_>, route: Arc<str>, status: u16, incomplete: Family<RouteReason, Counter>) -> Self {
        Self {
            listener: ctx.listener.map_or_else(|| Arc::clone(&UNNAMED), |l| Arc::clone(&l.name)),
            route,
            identity: ctx.identity,
            method: ctx.method,
            uri: ctx.uri,
            status,
            auth: ctx.rejection.as_ref().map_or("ok", Rejection::code),
            reason: ctx.rejection.as_ref().map(Rejection::log_reason),
            bytes_in: ctx.bytes_in,
            started: ctx.started,
            request_id: ctx.request_id,
            incomplete,
        }
    }

    /// hyper sends no body with these, so an unsent one is no cut.
    fn bodiless(&self) -> bool {
        self.method == Method::HEAD || matches!(self.status, 100..=199 | 204 | 304)
    }
}

impl Ending for AccessRecord {
    fn ended(self: Box<Self>, end: End, sent: u64) {
        let end = if end == End::Aborted && self.bodiless() { End::Complete } else { end };
        if end != End::Complete {
            self.incomplete.get_or_create(&RouteReason { route: self.route.clone(), reason: end.code() }).inc();
        }
        let identity = self.identity.as_ref();
        // Whole microseconds, so the figure prints as written (0.064, not
        // 0.06403500000000001); exact as a float up to 285 years.
        let micros = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        tracing::info!(
            target: "hmac_gateway::access",
            request_id = self.request_id.to_str().unwrap_or_default(),
            listener = &*self.listener,
            route = &*self.route,
            consumer = text(identity.map(|i| &i.consumer)),
            keyid = text(identity.map(|i| &i.keyid)),
            method = self.method.as_str(),
            path = self.uri.path(),
            status = self.status,
            auth = self.auth,
            reason = self.reason.as_deref(),
            end = end.code(),
            bytes_in = self.bytes_in.unwrap_or(0),
            bytes_out = sent,
            duration_ms = micros as f64 / 1000.0,
            "access"
        );
    }
}
