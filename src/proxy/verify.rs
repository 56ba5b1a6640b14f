//! Host role: verify the request in the route's scheme, then forward it with
//! the caller's identity.

use std::borrow::Cow;

use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response};
use hyper::body::Incoming;

use super::forward::Ctx;
use super::{Identity, ProxyBody, body, headers, unix_now};
use crate::config::{VerifyPolicy, VerifyScheme, WebhookEndpoint};
use crate::error::Rejection;
use crate::replay::Claim;
use crate::scheme::rfc9421::{self, MessageView, Rules};
use crate::scheme::{AuthError, Scheme, authenticate, digest};

pub(super) async fn run(
    ctx: &Ctx<'_>,
    policy: &VerifyPolicy,
    parts: Parts,
    incoming: Incoming,
) -> Result<Response<ProxyBody>, Rejection> {
    ctx.check_declared_length(&parts.headers)?;
    match &policy.scheme {
        VerifyScheme::Rfc9421 => run_rfc9421(ctx, policy, parts, incoming).await,
        VerifyScheme::AwsSigV4(scheme) => run_keyed(ctx, policy, scheme, parts, incoming).await,
        VerifyScheme::Compat(scheme) => run_keyed(ctx, policy, scheme, parts, incoming).await,
        VerifyScheme::Webhook(endpoint) => run_webhook(ctx, policy, endpoint, parts, incoming).await,
    }
}

fn view<'a>(ctx: &Ctx<'a>, parts: &'a Parts) -> MessageView<'a> {
    MessageView {
        method: parts.method.as_str(),
        scheme: if ctx.conn.https { "https" } else { "http" },
        authority: ctx.authority,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
    }
}

/// The native scheme: the MAC is checked before the body is read; the body
/// is then bound to the signature through Content-Digest.
async fn run_rfc9421(
    ctx: &Ctx<'_>,
    policy: &VerifyPolicy,
    parts: Parts,
    incoming: Incoming,
) -> Result<Response<ProxyBody>, Rejection> {
    let input = joined(&parts.headers, &headers::SIGNATURE_INPUT);
    let signature = joined(&parts.headers, &headers::SIGNATURE);
    if input.is_empty() && signature.is_empty() {
        return Err(AuthError::MissingSignature.into());
    }
    let candidates = rfc9421::parse_candidates(&input, &signature)?;
    let keys = &ctx.generation.config.keys;
    let rules = Rules {
        required: &policy.required,
        require_digest: body::may_have_body(&incoming, &parts.headers),
        require_nonce: policy.replay,
        max_age: policy.max_age.as_secs(),
        clock_skew: policy.clock_skew.as_secs(),
        now: unix_now(),
    };
    let accepted = rfc9421::verify(&view(ctx, &parts), &candidates, &rules, |keyid| {
        keys.get(keyid).map(|k| (k, &k.macs[..], policy.consumers.contains(&k.consumer)))
    })?;
    if !policy.consumers.contains(&accepted.key.consumer) {
        return Err(Rejection::ConsumerNotAllowed);
    }
    let body = ctx.read_body(incoming).await?;
    if accepted.covers_digest {
        let lines = parts.headers.get_all(&headers::CONTENT_DIGEST);
        digest::verify_content_digest(lines.iter().map(|v| v.as_bytes()), &body)?;
    } else if !body.is_empty() {
        return Err(AuthError::MissingComponent(vec!["content-digest".into()]).into());
    }
    if policy.replay {
        let nonce = accepted.nonce.as_deref().unwrap_or_default();
        // Remember the nonce for as long as `created` stays inside max_age.
        let remaining = accepted.created.saturating_add(rules.max_age as i64).saturating_sub(rules.now);
        let ttl = u64::try_from(remaining).unwrap_or(0) + 1;
        claim(ctx, &accepted.keyid, nonce, ttl).await?;
    }
    let identity = Identity { consumer: accepted.key.consumer_id.clone(), keyid: accepted.key.keyid.clone() };
    forward_verified(ctx, parts, body, identity).await
}

/// Schemes whose key ids name consumer keys (AWS SigV4, Kong, APISIX): the
/// MAC covers the body (or its hash), so the body is read first.
async fn run_keyed<S: Scheme>(
    ctx: &Ctx<'_>,
    policy: &VerifyPolicy,
    scheme: &S,
    parts: Parts,
    incoming: Incoming,
) -> Result<Response<ProxyBody>, Rejection> {
    let body = ctx.read_body(incoming).await?;
    let keys = &ctx.generation.config.keys;
    let verified = authenticate(scheme, &view(ctx, &parts), &body, unix_now(), |keyid| {
        keyid.and_then(|k| keys.get(k)).map(|k| (k, &k.secrets[..]))
    })?;
    if !policy.consumers.contains(&verified.key.consumer) {
        return Err(Rejection::ConsumerNotAllowed);
    }
    if let (true, Some((id, ttl))) = (policy.replay, &verified.replay) {
        claim(ctx, verified.key.keyid.to_str().unwrap_or_default(), id, *ttl).await?;
    }
    let identity = Identity { consumer: verified.key.consumer_id.clone(), keyid: verified.key.keyid.clone() };
    forward_verified(ctx, parts, body, identity).await
}

/// Webhook schemes: the route's own secrets; the identity is the endpoint's.
async fn run_webhook(
    ctx: &Ctx<'_>,
    policy: &VerifyPolicy,
    endpoint: &WebhookEndpoint,
    parts: Parts,
    incoming: Incoming,
) -> Result<Response<ProxyBody>, Rejection> {
    let body = ctx.read_body(incoming).await?;
    let verified =
        authenticate(&endpoint.scheme, &view(ctx, &parts), &body, unix_now(), |_| Some((&(), &endpoint.secrets[..])))?;
    let provider = endpoint.scheme.provider.name();
    if let (true, Some((id, ttl))) = (policy.replay, &verified.replay) {
        claim(ctx, provider, id, *ttl).await?;
    }
    let identity = Identity { consumer: endpoint.consumer_id.clone(), keyid: HeaderValue::from_static(provider) };
    forward_verified(ctx, parts, body, identity).await
}

/// Remembers `id` under `keyid` for `ttl_secs`; a second use is a replay.
async fn claim(ctx: &Ctx<'_>, keyid: &str, id: &str, ttl_secs: u64) -> Result<(), Rejection> {
    let ttl = std::time::Duration::from_secs(ttl_secs);
    if ctx.proxy.shared.replay.claim(keyid, id, ttl).await? == Claim::Replayed {
        return Err(AuthError::Replayed.into());
    }
    Ok(())
}

/// Rewrites the path, replaces identity and forwarding headers, forwards.
async fn forward_verified(
    ctx: &Ctx<'_>,
    mut parts: Parts,
    body: bytes::Bytes,
    identity: Identity,
) -> Result<Response<ProxyBody>, Rejection> {
    let path = ctx.upstream_path(parts.uri.path());
    let h = &mut parts.headers;
    headers::strip_hop_by_hop(h);
    headers::strip_identity_spoofs(h);
    h.insert(headers::X_CONSUMER_ID, identity.consumer.clone());
    h.insert(headers::X_CREDENTIAL_IDENTIFIER, identity.keyid.clone());
    let proto = if ctx.conn.https { "https" } else { "http" };
    let peer = ctx.conn.peer.ip();
    let trusted = ctx.generation.config.trusted_proxies.iter().any(|net| net.contains(peer));
    headers::set_forwarded(h, peer, trusted, proto, ctx.authority);
    let mut response = ctx.forward(parts, &path, body).await?;
    response.extensions_mut().insert(identity);
    Ok(response)
}

/// All field lines of `name`, joined with `, ` (RFC 9110 section 5.3); a
/// single line is borrowed, not copied.
fn joined<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Cow<'h, [u8]> {
    let mut lines = headers.get_all(name).iter();
    let first = lines.next().map_or(&[][..], HeaderValue::as_bytes);
    let mut rest = lines.peekable();
    if rest.peek().is_none() {
        return Cow::Borrowed(first);
    }
    let mut out = first.to_vec();
    for value in rest {
        out.extend_from_slice(b", ");
        out.extend_from_slice(value.as_bytes());
    }
    Cow::Owned(out)
}
