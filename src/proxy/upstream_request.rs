//! The build phase: the upstream request, made once. Its target (path
//! rewritten, query kept) is computed here and nowhere else, so the value a
//! sign route signs is the value on the wire.

use bytes::Bytes;
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Request, Uri, header};

use super::pipeline::{RequestCtx, Routed};
use super::sign::{Outbound, fresh_nonce, sign_upstream};
use super::tunnel::ClientUpgrade;
use super::{Identity, headers, route, unix_now};
use crate::config::{Action, Upstream};
use crate::error::Rejection;

/// A request ready for the forward phase.
pub(super) struct UpstreamRequest {
    /// Absolute URI for an HTTP upstream; origin-form for the echo upstream.
    pub request: Request<Bytes>,
    /// The client's side of a websocket upgrade the route allows.
    pub client_upgrade: Option<ClientUpgrade>,
}

/// Rewrites the target, cleans the headers, adds the caller's identity (verify
/// routes) or the signature (sign routes), then this hop's own fields.
pub(super) fn build_upstream_request(
    ctx: &RequestCtx<'_>,
    routed: &Routed<'_>,
    mut parts: Parts,
    body: Bytes,
) -> Result<UpstreamRequest, Rejection> {
    let route = routed.route;
    let target = route::target_of(route, &parts.uri)?;
    match &route.action {
        Action::Verify(_) => verified_headers(ctx, routed, &mut parts.headers),
        Action::Sign(policy) => {
            let request = Outbound { method: &parts.method, path: target.path(), query: target.query(), body: &body };
            let authority = routed.authority.as_str();
            let nonce = fresh_nonce()?;
            sign_upstream(route, policy, authority, &request, &mut parts.headers, unix_now(), &nonce)?;
        }
    }
    let (uri, client_upgrade) = this_hop(ctx, routed, &mut parts, target)?;
    let mut request = Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = parts.headers;
    Ok(UpstreamRequest { request, client_upgrade })
}

/// This hop's own fields, set after signing (they are not what was signed),
/// and the URI the request goes to.
fn this_hop(
    ctx: &RequestCtx<'_>,
    routed: &Routed<'_>,
    parts: &mut Parts,
    target: PathAndQuery,
) -> Result<(Uri, Option<ClientUpgrade>), Rejection> {
    parts.headers.insert(headers::X_REQUEST_ID, ctx.request_id.clone());
    // The body is sent whole, so hyper writes the exact Content-Length.
    parts.headers.remove(header::CONTENT_LENGTH);
    let route = routed.route;
    let Upstream::Http(up) = &route.upstream else { return Ok((Uri::from(target), None)) };
    if !route.preserve_host {
        parts.headers.insert(header::HOST, up.host_header.clone());
    } else if !parts.headers.contains_key(header::HOST) {
        // An HTTP/2 client names its authority in the URI; HTTP/1.1 needs Host.
        let host = HeaderValue::from_str(routed.authority.as_str())
            .map_err(|_| Rejection::Internal("the client's authority is not a header value"))?;
        parts.headers.insert(header::HOST, host);
    }
    let client_upgrade = routed.websocket.then(|| parts.extensions.remove::<ClientUpgrade>()).flatten();
    if client_upgrade.is_some() {
        // Hop-by-hop, so stripped earlier; this hop asks for it again.
        parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    if !up.https {
        // The worker's HTTP/1.1 pool sends the origin form as it is.
        return Ok((Uri::from(target), client_upgrade));
    }
    let uri = Uri::builder()
        .scheme("https")
        .authority(up.authority.clone())
        .path_and_query(target)
        .build()
        .map_err(|_| Rejection::Internal("the upstream URI could not be built"))?;
    Ok((uri, client_upgrade))
}

/// A verify route's headers: hop-by-hop fields and identity spoofs go, the
/// verified identity and this hop's forwarding headers come in.
fn verified_headers(ctx: &RequestCtx<'_>, routed: &Routed<'_>, h: &mut HeaderMap) {
    headers::strip_hop_by_hop(h);
    headers::strip_identity_spoofs(h);
    if let Some(Identity { consumer, keyid }) = &ctx.identity {
        h.insert(headers::X_CONSUMER_ID, consumer.clone());
        h.insert(headers::X_CREDENTIAL_IDENTIFIER, keyid.clone());
    }
    let proto = if ctx.conn.https { "https" } else { "http" };
    let peer = ctx.conn.peer.ip();
    let trusted = ctx.generation.config.trusted_proxies.iter().any(|net| net.contains(peer));
    headers::set_forwarded(h, peer, trusted, proto, routed.authority.as_str());
}
