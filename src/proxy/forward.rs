//! The forward phase: the built request goes to its upstream (or the echo
//! upstream); a websocket upgrade the upstream accepts becomes a tunnel.
//! The answer goes back in this gateway's HTTP version, whatever the
//! upstream spoke (RFC 9110 section 2.5).

use bytes::Bytes;
use http::{Response, StatusCode, Version};
use http_body_util::Full;

use super::upstream_request::UpstreamRequest;
use super::{Proxy, ProxyBody, body, echo, headers, tunnel};
use crate::config::{HttpUpstream, Route, Upstream};
use crate::error::Rejection;
use crate::generation::Generation;
use crate::metrics::{RouteLabel, UpstreamKind};
use crate::upstream::ForwardError;

/// Sends `upstream` and returns the upstream's response head with its body
/// streaming; the failure says whether the upstream may have seen it.
pub(super) async fn send(
    proxy: &Proxy,
    generation: &Generation,
    route: &Route,
    upstream: UpstreamRequest,
) -> Result<Response<ProxyBody>, ForwardError> {
    let UpstreamRequest { request, client_upgrade } = upstream;
    let up = match &route.upstream {
        Upstream::Echo => {
            let uri = request.uri();
            return Ok(echo::respond(request.method(), uri.path(), uri.query(), request.headers(), request.body()));
        }
        Upstream::Http(up) => up,
    };
    let clients = generation
        .upstreams(proxy.worker)
        .ok_or(ForwardError::unsent(Rejection::Internal("no upstream clients for this worker")))?;
    let started = std::time::Instant::now();
    let sent = clients.send(up, request.map(Full::new), route.timeouts.upstream_response).await;
    let metrics = proxy.shared.metrics();
    let label = RouteLabel { route: route.name.clone() };
    metrics.upstream_seconds.get_or_create(&label).observe(started.elapsed().as_secs_f64());
    let mut response = sent.inspect_err(|e| count_error(proxy, up, e))?;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let client =
            client_upgrade.ok_or(ForwardError { rejection: Rejection::UpstreamUnavailable, may_have_arrived: true })?;
        tokio::spawn(tunnel::tunnel(client, hyper::upgrade::on(&mut response), route.timeouts.tunnel_idle));
        let (mut head, _) = response.into_parts();
        head.version = Version::HTTP_11;
        return Ok(Response::from_parts(head, body::full(Bytes::new())));
    }
    let (mut head, incoming) = response.into_parts();
    // An HTTP/1.0 upstream's version must not reach the client: hyper would
    // answer an HTTP/1.1 client in HTTP/1.0 and close its connection after
    // each response. HTTP/1.1 lets hyper re-frame a body the upstream
    // delimited by closing (chunked), and keep the client's connection; an
    // HTTP/1.0 client still gets HTTP/1.0 from hyper, an HTTP/2 one frames.
    head.version = Version::HTTP_11;
    // Before hop-by-hop stripping removes the Transfer-Encoding it keys on.
    headers::drop_length_beside_transfer_encoding(&mut head.headers);
    headers::strip_hop_by_hop(&mut head.headers);
    Ok(Response::from_parts(head, body::upstream(incoming)))
}

fn count_error(proxy: &Proxy, up: &HttpUpstream, e: &ForwardError) {
    let labels = UpstreamKind { upstream: up.name.clone(), kind: e.rejection.code() };
    proxy.shared.metrics().upstream_errors.get_or_create(&labels).inc();
}
