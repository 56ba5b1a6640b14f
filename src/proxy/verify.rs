//! Host role: verify the request in the route's scheme, then forward it with
//! the caller's identity.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response};
use hyper::body::Incoming;

use super::forward::Ctx;
use super::{Identity, ProxyBody, body, headers, unix_now};
use crate::config::{ReplayRelease, Rfc9421Rules, VerifyPolicy, VerifyScheme, WebhookEndpoint};
use crate::error::Rejection;
use crate::replay::Claim;
use crate::scheme::rfc9421::{self, MessageView, Rules};
use crate::scheme::{AuthError, Scheme, authenticate, digest};
use crate::upstream::ForwardError;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    policy: &VerifyPolicy,
    parts: Parts,
    incoming: Incoming,
) -> Result<Response<ProxyBody>, Rejection> {
    ctx.check_declared_length(&parts.headers)?;
    let accepted = match &policy.scheme {
        VerifyScheme::Rfc9421(rules) => run_rfc9421(ctx, policy, rules, &parts, incoming).await?,
        VerifyScheme::AwsSigV4(scheme) => run_keyed(ctx, policy, scheme, &parts, incoming).await?,
        VerifyScheme::Compat(scheme) => run_keyed(ctx, policy, scheme, &parts, incoming).await?,
        VerifyScheme::Webhook(endpoint) => run_webhook(ctx, endpoint, &parts, incoming).await?,
    };
    let claimed = match accepted.replay {
        Some(key) if policy.replay => Some(claim(ctx, key).await?),
        _ => None,
    };
    let forwarded = forward_verified(ctx, parts, accepted.body, accepted.identity).await;
    if let (Err(failure), Some(key)) = (&forwarded, claimed) {
        // A request that never reached the upstream was not acted on: its
        // sender may present it again (webhook providers retry exactly this).
        if !failure.may_have_arrived || policy.replay_release == ReplayRelease::AnyFailure {
            release(ctx, &key).await;
        }
    }
    Ok(forwarded?)
}

/// What authentication hands on: the body (read and checked), who sent it,
/// and what the replay store must see only once.
struct Accepted {
    body: Bytes,
    identity: Identity,
    replay: Option<ReplayKey>,
}

/// A replay claim: `id` under `keyid`, remembered for `ttl`.
struct ReplayKey {
    keyid: String,
    id: String,
    ttl: Duration,
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
    rfc: &Rfc9421Rules,
    parts: &Parts,
    incoming: Incoming,
) -> Result<Accepted, Rejection> {
    let input = joined(&parts.headers, &headers::SIGNATURE_INPUT);
    let signature = joined(&parts.headers, &headers::SIGNATURE);
    if input.is_empty() && signature.is_empty() {
        return Err(AuthError::MissingSignature.into());
    }
    let candidates = rfc9421::parse_candidates(&input, &signature)?;
    let keys = &ctx.generation.config.keys;
    let rules = Rules {
        required: &rfc.required,
        require_digest: body::may_have_body(&incoming, &parts.headers),
        require_nonce: policy.replay,
        window: rfc.window,
        now: unix_now(),
    };
    let accepted = rfc9421::verify(&view(ctx, parts), &candidates, &rules, |keyid| {
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
    // The nonce is remembered for as long as `created` stays inside the window.
    let replay = ReplayKey {
        keyid: accepted.keyid.clone().into_owned(),
        id: accepted.nonce.as_deref().unwrap_or_default().to_owned(),
        ttl: Duration::from_secs(rfc.window.replay_ttl(accepted.created, rules.now)),
    };
    let identity = Identity { consumer: accepted.key.consumer_id.clone(), keyid: accepted.key.keyid.clone() };
    Ok(Accepted { body, identity, replay: Some(replay) })
}

/// Schemes whose key ids name consumer keys (AWS SigV4, Kong, APISIX): the
/// MAC covers the body (or its hash), so the body is read first.
async fn run_keyed<S: Scheme>(
    ctx: &Ctx<'_>,
    policy: &VerifyPolicy,
    scheme: &S,
    parts: &Parts,
    incoming: Incoming,
) -> Result<Accepted, Rejection> {
    let body = ctx.read_body(incoming).await?;
    let keys = &ctx.generation.config.keys;
    let verified = authenticate(scheme, &view(ctx, parts), &body, unix_now(), |keyid| {
        keyid.and_then(|k| keys.get(k)).map(|k| (k, &k.secrets[..]))
    })?;
    if !policy.consumers.contains(&verified.key.consumer) {
        return Err(Rejection::ConsumerNotAllowed);
    }
    let keyid = verified.key.keyid.to_str().unwrap_or_default();
    let replay =
        verified.replay.map(|(id, ttl)| ReplayKey { keyid: keyid.to_owned(), id, ttl: Duration::from_secs(ttl) });
    let identity = Identity { consumer: verified.key.consumer_id.clone(), keyid: verified.key.keyid.clone() };
    Ok(Accepted { body, identity, replay })
}

/// Webhook schemes: the route's own secrets; the identity is the endpoint's.
async fn run_webhook(
    ctx: &Ctx<'_>,
    endpoint: &WebhookEndpoint,
    parts: &Parts,
    incoming: Incoming,
) -> Result<Accepted, Rejection> {
    let body = ctx.read_body(incoming).await?;
    let verified =
        authenticate(&endpoint.scheme, &view(ctx, parts), &body, unix_now(), |_| Some((&(), &endpoint.secrets[..])))?;
    let provider = endpoint.scheme.provider.name();
    let replay =
        verified.replay.map(|(id, ttl)| ReplayKey { keyid: provider.to_owned(), id, ttl: Duration::from_secs(ttl) });
    let identity = Identity { consumer: endpoint.consumer_id.clone(), keyid: HeaderValue::from_static(provider) };
    Ok(Accepted { body, identity, replay })
}

/// Claims `key` in the replay store; a second use is a replay. The claim is
/// held while the request is forwarded, so a copy arriving meanwhile is refused.
async fn claim(ctx: &Ctx<'_>, key: ReplayKey) -> Result<ReplayKey, Rejection> {
    if ctx.proxy.shared.replay.claim(&key.keyid, &key.id, key.ttl).await? == Claim::Replayed {
        return Err(AuthError::Replayed.into());
    }
    Ok(key)
}

/// Gives a claim back. A store that cannot be reached keeps it (until its
/// TTL): refusing a legitimate retry is safer than letting a replay in.
async fn release(ctx: &Ctx<'_>, key: &ReplayKey) {
    if let Err(e) = ctx.proxy.shared.replay.release(&key.keyid, &key.id).await {
        tracing::warn!(error = %e, "could not release a replay claim after a failed forward");
    }
}

/// Rewrites the path, replaces identity and forwarding headers, forwards.
async fn forward_verified(
    ctx: &Ctx<'_>,
    mut parts: Parts,
    body: Bytes,
    identity: Identity,
) -> Result<Response<ProxyBody>, ForwardError> {
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
