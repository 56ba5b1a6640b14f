//! The phase driver: [`Proxy::run`] calls the phases in order, top to
//! bottom, and each phase either hands the next one what it produced or
//! ends the request with a [`Rejection`]. The per-request [`RequestCtx`] is
//! owned by [`Proxy::handle`]; phases record in it what `respond` and `log`
//! need at the end (the route, the caller's identity).

use std::time::Instant;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response};
use hyper::body::Incoming;

use super::hygiene::{self, Authority};
use super::upstream_request::build_upstream_request;
use super::verify::{self, ReplayKey};
use super::{Conn, Identity, Proxy, ProxyBody, RequestIds, body, forward, headers, route};
use crate::config::{Action, Listener, ReplayRelease, Route};
use crate::error::Rejection;
use crate::generation::Generation;
use crate::replay::Claim;
use crate::upstream::ForwardError;

/// What one request carries from the first phase to the log.
pub(super) struct RequestCtx<'a> {
    /// The generation this request started on; it keeps it to the end.
    pub generation: &'a Generation,
    pub conn: &'a Conn,
    /// The connection's listener in this generation; `None` once a reload
    /// removed it (no route then matches).
    pub listener: Option<&'a Listener>,
    pub request_id: HeaderValue,
    pub started: Instant,
    /// For the log: the method, the path without its query, the declared length.
    pub method: Method,
    /// Kept whole: cloning shares the parsed bytes, copying the path would not.
    pub uri: http::Uri,
    pub bytes_in: Option<u64>,
    /// Set by `route` once the request's shape suits the route.
    pub route: Option<&'a Route>,
    /// Set by `authenticate` on verify routes; sent upstream and logged.
    pub identity: Option<Identity>,
    /// Set by `respond` when the request was refused.
    pub rejection: Option<Rejection>,
    /// Set by `authenticate` on a refused request of a route with
    /// `debug_signature_base`: the text the MAC had to cover, for the 401.
    pub debug_signed: Option<Vec<crate::scheme::SignedPart>>,
}

impl<'a> RequestCtx<'a> {
    pub fn new(generation: &'a Generation, conn: &'a Conn, request: &Request<Incoming>, ids: &RequestIds) -> Self {
        let request_id = match request.headers().get(headers::X_REQUEST_ID) {
            Some(id) if super::is_sane_request_id(id) => id.clone(),
            _ => ids.next(),
        };
        Self {
            generation,
            conn,
            listener: generation.listener(conn.listener).map(|(_, listener)| listener),
            request_id,
            started: Instant::now(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            bytes_in: body::declared_length(request.headers()),
            route: None,
            identity: None,
            rejection: None,
            debug_signed: None,
        }
    }
}

/// What `route` learnt: the route, and the facts later phases act on.
pub(super) struct Routed<'a> {
    pub route: &'a Route,
    /// Normalised once, in `admit`.
    pub authority: Authority,
    /// A websocket upgrade the route allows: tunnelled once the upstream agrees.
    pub websocket: bool,
}

/// What `authenticate` hands on: the body (read and checked) and what the
/// replay store must see only once.
pub(super) struct Accepted {
    pub body: Bytes,
    pub replay: Option<ReplayKey>,
}

impl Proxy {
    /// The phases, in order. A rejection anywhere ends the request; a claim
    /// taken is given back when forwarding fails before reaching the upstream.
    pub(super) async fn run(
        &self,
        ctx: &mut RequestCtx<'_>,
        request: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Rejection> {
        let (parts, body) = request.into_parts();
        let authority = admit(ctx, &parts)?;
        let routed = route(ctx, &parts, authority)?;
        let accepted = authenticate(ctx, &routed, &parts, body).await?;
        let claim = self.claim(&routed, accepted.replay).await?;
        let forwarded = match build_upstream_request(ctx, &routed, parts, accepted.body) {
            Ok(upstream) => forward::send(self, ctx.generation, routed.route, upstream).await,
            Err(rejection) => Err(ForwardError::unsent(rejection)),
        };
        if let (Err(failure), Some(key)) = (&forwarded, claim) {
            self.release(&routed, key, failure).await;
        }
        Ok(forwarded?)
    }

    /// Claims the replay key; a second use is a replay. The claim is held
    /// while the request is forwarded, so a copy arriving meanwhile is refused.
    async fn claim(&self, routed: &Routed<'_>, key: Option<ReplayKey>) -> Result<Option<ReplayKey>, Rejection> {
        let replay_on = matches!(&routed.route.action, Action::Verify(policy) if policy.replay);
        let Some(key) = key.filter(|_| replay_on) else { return Ok(None) };
        if self.shared.replay.claim(&key.keyid, &key.id, key.ttl).await? == Claim::Replayed {
            return Err(Rejection::Replayed);
        }
        Ok(Some(key))
    }

    /// A request that never reached the upstream was not acted on: its
    /// sender may present it again (webhook providers retry exactly this).
    /// A store that cannot be reached keeps the claim (until its TTL):
    /// refusing a legitimate retry is safer than letting a replay in.
    async fn release(&self, routed: &Routed<'_>, key: ReplayKey, failure: &ForwardError) {
        let any_failure =
            matches!(&routed.route.action, Action::Verify(p) if p.replay_release == ReplayRelease::AnyFailure);
        if failure.may_have_arrived && !any_failure {
            return;
        }
        if let Err(e) = self.shared.replay.release(&key.keyid, &key.id).await {
            tracing::warn!(error = %e, "could not release a replay claim after a failed forward");
        }
    }
}

/// Admit: sizes, framing and header hygiene, then the authority the client
/// addressed, parsed once for every later phase.
fn admit(ctx: &RequestCtx<'_>, parts: &Parts) -> Result<Authority, Rejection> {
    hygiene::check(parts, &ctx.generation.config.limits)?;
    hygiene::authority(parts, ctx.conn.https)
}

/// Route: the first route of this listener that matches, then the checks
/// that depend on it (path policy, upgrades, the declared body length).
fn route<'a>(ctx: &mut RequestCtx<'a>, parts: &Parts, authority: Authority) -> Result<Routed<'a>, Rejection> {
    // A listener the latest reload removed has no routes left.
    let routes = ctx.listener.map_or(&[][..], |l| &l.routes[..]);
    let route =
        route::find(routes, Some(authority.host()), &parts.method, parts.uri.path()).ok_or(Rejection::NoRoute)?;
    route::check_path_policy(route, parts.uri.path())?;
    let websocket = hygiene::check_upgrade(parts, route.websocket)?;
    // Refusals of a path or an upgrade have always been counted without a
    // route label; everything from here on carries it.
    ctx.route = Some(route);
    body::check_declared_length(route, &parts.headers)?;
    Ok(Routed { route, authority, websocket })
}

/// Authenticate: a verify route checks the request in its scheme and
/// records who sent it; a sign route only reads the body it will sign.
async fn authenticate(
    ctx: &mut RequestCtx<'_>,
    routed: &Routed<'_>,
    parts: &Parts,
    incoming: Incoming,
) -> Result<Accepted, Rejection> {
    match &routed.route.action {
        Action::Verify(policy) => {
            let verified = match verify::authenticate(ctx, routed, policy, parts, incoming).await {
                Ok(verified) => verified,
                Err(refused) => {
                    ctx.debug_signed = refused.signed;
                    return Err(refused.rejection);
                }
            };
            ctx.identity = Some(verified.identity);
            Ok(Accepted { body: verified.body, replay: verified.replay })
        }
        Action::Sign(_) => Ok(Accepted { body: body::read(routed.route, incoming).await?, replay: None }),
    }
}

/// Runs the phases with a panic confined to its own request: that request
/// is refused with 500 (and logged like any other); the connection and
/// every other request go on.
pub(super) async fn guarded(
    phases: impl Future<Output = Result<Response<ProxyBody>, Rejection>>,
) -> Result<Response<ProxyBody>, Rejection> {
    use futures_util::FutureExt as _;
    std::panic::AssertUnwindSafe(phases)
        .catch_unwind()
        .await
        .unwrap_or(Err(Rejection::Internal("the request handler panicked")))
}
