//! Consumer role: sign the upstream request in the route's scheme (RFC 9421
//! with Content-Digest, AWS SigV4, or a webhook provider's). The build phase
//! (`upstream_request.rs`) calls [`sign_upstream`] after every rewrite, with
//! the target it sends; `hmac-gateway sign` calls [`sign_request`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, Method, header};

use super::{headers, route};
use crate::config::{Route, Secret, SignPolicy, SignScheme, Upstream};
use crate::error::Rejection;
use crate::scheme::rfc9421;
use crate::scheme::{sigv4, webhook};

/// A request as the application sent it to the egress listener.
#[derive(Debug, Clone, Copy)]
pub struct Outbound<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// Where the signed request goes (for `hmac-gateway sign`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTarget {
    /// Path sent upstream (after `strip_prefix` and the upstream's base path).
    pub path: String,
    /// `scheme://authority/path?query`, for display.
    pub url: String,
}

/// Rewrites `headers` for the route's upstream and signs in the route's
/// scheme, as [`sign_upstream`] does, for a request as the application sent
/// it. Used by `hmac-gateway sign`; the proxy computes the target once
/// itself and calls [`sign_upstream`].
pub fn sign_request(
    route: &Route,
    policy: &SignPolicy,
    inbound_authority: &str,
    request: &Outbound<'_>,
    headers: &mut HeaderMap,
    now: i64,
    nonce: &str,
) -> Result<SignedTarget, Rejection> {
    let target = route::target_for(route, request.path, request.query)?;
    let upstream = Outbound { path: target.path(), query: target.query(), ..*request };
    sign_upstream(route, policy, inbound_authority, &upstream, headers, now, nonce)?;
    let (scheme, destination) = endpoint(route, inbound_authority);
    Ok(SignedTarget { url: format!("{scheme}://{destination}{target}"), path: target.path().to_owned() })
}

/// The scheme and authority a route's requests are sent to.
fn endpoint<'a>(route: &'a Route, inbound_authority: &'a str) -> (&'static str, &'a str) {
    match &route.upstream {
        Upstream::Http(up) => (if up.https { "https" } else { "http" }, up.authority.as_str()),
        Upstream::Echo => ("http", inbound_authority),
    }
}

/// Signs `request`, whose path and query are already the upstream's, in the
/// route's scheme: strips hop-by-hop fields, sets `Host`, replaces any
/// credentials of that scheme the application sent, and signs last, after
/// every rewrite.
pub(super) fn sign_upstream(
    route: &Route,
    policy: &SignPolicy,
    inbound_authority: &str,
    request: &Outbound<'_>,
    headers: &mut HeaderMap,
    now: i64,
    nonce: &str,
) -> Result<(), Rejection> {
    // `authority` is the Host sent and signed: the client's with
    // `preserve_host`, so the signature covers exactly what the upstream
    // receives.
    let (scheme, destination) = endpoint(route, inbound_authority);
    let authority = if route.preserve_host { inbound_authority } else { destination };
    headers::strip_hop_by_hop(headers);
    let host =
        HeaderValue::from_str(authority).map_err(|_| Rejection::Internal("the Host to sign is not a header value"))?;
    headers.insert(header::HOST, host);
    let path = request.path;
    let target = rfc9421::Target { method: request.method.as_str(), scheme, authority, path, query: request.query };
    let added = match &policy.scheme {
        SignScheme::Rfc9421 { label, components, mac } => {
            let signer = rfc9421::Signer { keyid: &policy.keyid, key: mac, label, components };
            rfc9421::sign_request(&signer, &target, headers, request.body, now, nonce)
                .map_err(|e| Rejection::BadRequest(format!("cannot sign this request: {e}").into()))?;
            Vec::new()
        }
        SignScheme::AwsSigV4 { region, service, secret } => {
            for stale in ["authorization", "x-amz-date", "x-amz-content-sha256"] {
                headers.remove(stale);
            }
            let signer = sigv4::Signer { access_key: &policy.keyid, secret: secret.expose(), region, service };
            sigv4::sign(&signer, &target.view(headers), request.body, now)
        }
        SignScheme::Webhook { provider, secrets } => {
            // GitHub's legacy SHA-1 header would no longer match the body we sign.
            headers.remove("x-hub-signature");
            let id = headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .map_or_else(|| format!("msg_{nonce}"), str::to_owned);
            let keys: Vec<&[u8]> = secrets.iter().map(Secret::expose).collect();
            webhook::sign(*provider, &keys, request.body, now, &id)
        }
    };
    for (name, value) in added {
        let value =
            HeaderValue::from_str(&value).map_err(|_| Rejection::Internal("a signature is not a header value"))?;
        headers.insert(name, value);
    }
    Ok(())
}

/// 128 random bits, base64url: unique per request across replicas.
pub fn fresh_nonce() -> Result<String, Rejection> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| Rejection::Internal("the system random source failed"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
