//! Host role: verify the signature, then forward with the caller's identity.

use http::request::Parts;
use http::{HeaderMap, HeaderName, Response};
use hyper::body::Incoming;

use super::forward::Ctx;
use super::{Identity, ProxyBody, body, headers, unix_now};
use crate::config::VerifyPolicy;
use crate::error::Rejection;
use crate::replay::Claim;
use crate::scheme::rfc9421::{self, MessageView, Rules};
use crate::scheme::{AuthError, digest};

pub(super) async fn run(
    ctx: &Ctx<'_>,
    policy: &VerifyPolicy,
    mut parts: Parts,
    incoming: Incoming,
) -> Result<Response<ProxyBody>, Rejection> {
    ctx.check_declared_length(&parts.headers)?;
    let input = joined(&parts.headers, &headers::SIGNATURE_INPUT);
    let signature = joined(&parts.headers, &headers::SIGNATURE);
    if input.is_empty() && signature.is_empty() {
        return Err(AuthError::MissingSignature.into());
    }
    let candidates = rfc9421::parse_candidates(&input, &signature)?;
    let keys = &ctx.generation.config.keys;
    let view = MessageView {
        method: parts.method.as_str(),
        scheme: if ctx.conn.https { "https" } else { "http" },
        authority: ctx.authority,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
    };
    let rules = Rules {
        required: &policy.required,
        require_digest: body::may_have_body(&incoming, &parts.headers),
        require_nonce: policy.replay,
        max_age: policy.max_age.as_secs(),
        clock_skew: policy.clock_skew.as_secs(),
        now: unix_now(),
    };
    let accepted = rfc9421::verify(&view, &candidates, &rules, |keyid| {
        keys.get(keyid).map(|k| (k, &k.mac, policy.consumers.contains(&k.consumer)))
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
        let ttl = std::time::Duration::from_secs(u64::try_from(remaining).unwrap_or(0) + 1);
        if ctx.proxy.shared.replay.claim(&accepted.keyid, nonce, ttl).await? == Claim::Replayed {
            return Err(AuthError::Replayed.into());
        }
    }
    let path = ctx.upstream_path(parts.uri.path());
    let h = &mut parts.headers;
    headers::strip_hop_by_hop(h);
    headers::strip_identity_spoofs(h);
    h.insert(headers::X_CONSUMER_ID, accepted.key.consumer_id.clone());
    h.insert(headers::X_CREDENTIAL_IDENTIFIER, accepted.key.keyid.clone());
    let proto = if ctx.conn.https { "https" } else { "http" };
    let peer = ctx.conn.peer.ip();
    let trusted = ctx.generation.config.trusted_proxies.iter().any(|net| net.contains(peer));
    headers::set_forwarded(h, peer, trusted, proto, ctx.authority);
    let identity = Identity { consumer: accepted.key.consumer_id.clone(), keyid: accepted.key.keyid.clone() };
    let mut response = ctx.forward(parts, &path, body).await?;
    response.extensions_mut().insert(identity);
    Ok(response)
}

/// All field lines of `name`, joined with `, ` (RFC 9110 section 5.3).
fn joined(headers: &HeaderMap, name: &HeaderName) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, value) in headers.get_all(name).iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(value.as_bytes());
    }
    out
}
