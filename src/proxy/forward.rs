//! Sending an accepted request on to its upstream (or the echo upstream).

use bytes::Bytes;
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, header};
use http_body_util::Full;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::{Conn, Proxy, ProxyBody, echo, headers, route};
use crate::config::{HttpUpstream, Route, Upstream};
use crate::error::Rejection;
use crate::generation::Generation;
use crate::metrics::{RouteLabel, UpstreamKind};
use crate::upstream::ForwardError;

/// Per-request context shared by the verify and sign flows.
pub(super) struct Ctx<'a> {
    pub proxy: &'a Proxy,
    /// The generation this request started on; it keeps it to the end.
    pub generation: &'a Generation,
    pub conn: &'a Conn,
    pub route: &'a Route,
    pub request_id: &'a HeaderValue,
    /// Normalised authority the client addressed.
    pub authority: &'a str,
    /// A websocket upgrade the route allows: tunnel it once the upstream agrees.
    pub websocket: bool,
}

impl Ctx<'_> {
    /// 413 before reading when Content-Length already says too much.
    pub fn check_declared_length(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        match super::body::declared_length(headers) {
            Some(len) if len > self.route.max_body_bytes => Err(Rejection::BodyTooLarge(self.route.max_body_bytes)),
            _ => Ok(()),
        }
    }

    pub async fn read_body(&self, body: hyper::body::Incoming) -> Result<Bytes, Rejection> {
        let t = &self.route.timeouts;
        super::body::read_limited(body, self.route.max_body_bytes, t.body_read, t.body_idle).await
    }

    /// The path sent upstream for `path`.
    pub fn upstream_path(&self, path: &str) -> String {
        route::path_for(self.route, path)
    }

    /// Forwards with `path` (already rewritten) and `parts.headers` (already
    /// cleaned and completed by the caller).
    pub async fn forward(
        &self,
        mut parts: Parts,
        path: &str,
        body: Bytes,
    ) -> Result<Response<ProxyBody>, ForwardError> {
        parts.headers.insert(headers::X_REQUEST_ID, self.request_id.clone());
        // The body is sent whole, so hyper writes the exact Content-Length.
        parts.headers.remove(header::CONTENT_LENGTH);
        let query = parts.uri.query();
        match &self.route.upstream {
            Upstream::Echo => Ok(echo::respond(&parts.method, path, query, &parts.headers, &body)),
            Upstream::Http(up) => {
                let uri = upstream_uri(up, path, query).map_err(ForwardError::unsent)?;
                if !self.route.preserve_host {
                    parts.headers.insert(header::HOST, up.host_header.clone());
                }
                let client_upgrade = self.websocket.then(|| parts.extensions.remove::<OnUpgrade>()).flatten();
                if client_upgrade.is_some() {
                    // Hop-by-hop, so stripped earlier; this hop asks for it again.
                    parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
                    parts.headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                }
                let mut request = Request::new(Full::new(body));
                *request.method_mut() = parts.method;
                *request.uri_mut() = uri;
                *request.headers_mut() = parts.headers;
                let timeout = self.route.timeouts.upstream_response;
                let started = std::time::Instant::now();
                let clients =
                    self.generation.upstreams(self.proxy.worker).ok_or(ForwardError::unsent(Rejection::Internal))?;
                let sent = clients.send(up, request, timeout).await;
                let metrics = self.proxy.shared.metrics();
                let route = RouteLabel { route: self.route.name.clone() };
                metrics.upstream_seconds.get_or_create(&route).observe(started.elapsed().as_secs_f64());
                let mut response = sent.inspect_err(|e| {
                    let labels = UpstreamKind { upstream: up.name.clone(), kind: e.rejection.code() };
                    metrics.upstream_errors.get_or_create(&labels).inc();
                })?;
                if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                    let client = client_upgrade
                        .ok_or(ForwardError { rejection: Rejection::UpstreamUnavailable, may_have_arrived: true })?;
                    tokio::spawn(tunnel(client, hyper::upgrade::on(&mut response)));
                    let (head, _) = response.into_parts();
                    return Ok(Response::from_parts(head, ProxyBody::full(Bytes::new())));
                }
                let (mut head, incoming) = response.into_parts();
                // Before hop-by-hop stripping removes the Transfer-Encoding it keys on.
                headers::drop_length_beside_transfer_encoding(&mut head.headers);
                headers::strip_hop_by_hop(&mut head.headers);
                Ok(Response::from_parts(head, ProxyBody::Upstream(incoming)))
            }
        }
    }
}

/// Copies bytes both ways between the client and the upstream once both
/// sides have switched protocols.
async fn tunnel(client: OnUpgrade, upstream: OnUpgrade) {
    let (Ok(client), Ok(upstream)) = tokio::join!(client, upstream) else { return };
    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %e, "websocket tunnel ended with an error");
    }
}

fn upstream_uri(up: &HttpUpstream, path: &str, query: Option<&str>) -> Result<Uri, Rejection> {
    let mut target = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
    target.push_str(path);
    if let Some(q) = query {
        target.push('?');
        target.push_str(q);
    }
    let path_and_query = PathAndQuery::from_maybe_shared(target)
        .map_err(|_| Rejection::BadRequest("the request target cannot be forwarded".into()))?;
    Uri::builder()
        .scheme(if up.https { "https" } else { "http" })
        .authority(up.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| Rejection::Internal)
}
