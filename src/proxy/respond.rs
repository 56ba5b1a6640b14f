//! The last two phases: `respond` turns the outcome into the client's answer
//! and `log` records the request once (metrics and one access-log event).

use std::sync::{Arc, LazyLock};

use http::{HeaderValue, Response};

use super::ProxyBody;
use super::pipeline::RequestCtx;
use crate::config::Action;
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

/// The route label of a request no route took.
static NO_ROUTE: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));

fn text(value: Option<&HeaderValue>) -> &str {
    value.and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// One access-log event per request, target `hmac_gateway::access` (filter
/// it with RUST_LOG), carrying a rejection's code and reason; and the
/// request's metrics. The path is logged without its query: values stay out.
pub(super) fn log(metrics: &Metrics, ctx: &RequestCtx<'_>, response: &Response<ProxyBody>) {
    let label: Arc<str> = ctx.route.map_or_else(|| Arc::clone(&NO_ROUTE), |r| Arc::clone(&r.name));
    let route = &*label;
    let status = response.status().as_u16();
    let elapsed = ctx.started.elapsed();
    metrics.requests.get_or_create(&RouteStatus { route: label.clone(), status }).inc();
    metrics.request_seconds.get_or_create(&RouteLabel { route: label.clone() }).observe(elapsed.as_secs_f64());
    if let Some(rejection @ (Rejection::Auth(_) | Rejection::ConsumerNotAllowed)) = &ctx.rejection {
        let labels = RouteReason { route: label.clone(), reason: rejection.code() };
        metrics.auth_failures.get_or_create(&labels).inc();
    }
    let identity = ctx.identity.as_ref();
    tracing::info!(
        target: "hmac_gateway::access",
        request_id = ctx.request_id.to_str().unwrap_or_default(),
        listener = &*ctx.conn.listener,
        route,
        consumer = text(identity.map(|i| &i.consumer)),
        keyid = text(identity.map(|i| &i.keyid)),
        method = ctx.method.as_str(),
        path = ctx.uri.path(),
        status,
        auth = ctx.rejection.as_ref().map_or("ok", Rejection::code),
        reason = ctx.rejection.as_ref().map(Rejection::log_reason).as_deref(),
        bytes_in = ctx.bytes_in.unwrap_or(0),
        bytes_out = http_body::Body::size_hint(response.body()).exact().unwrap_or(0),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "access"
    );
}
