//! The authenticate phase of a verify route (host role): the request is
//! checked in the route's scheme, giving who sent it and the replay key to
//! claim. The pipeline (`pipeline.rs`) claims it and forwards.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue};
use hyper::body::Incoming;

use super::pipeline::{RequestCtx, Routed};
use super::{Identity, body, headers, unix_now};
use crate::config::{KeyStore, Rfc9421Rules, VerifyPolicy, VerifyScheme, WebhookEndpoint};
use crate::error::Rejection;
use crate::scheme::rfc9421::{self, MessageView, Rules};
use crate::scheme::{self, AuthError, Scheme, digest};

/// Authenticates the request in the route's scheme. Only the native scheme
/// checks its MAC before reading the body; the others need the body first.
pub(super) async fn authenticate(
    ctx: &RequestCtx<'_>,
    routed: &Routed<'_>,
    policy: &VerifyPolicy,
    parts: &Parts,
    incoming: Incoming,
) -> Result<Verified, Rejection> {
    let request = Inbound { ctx, routed, parts };
    match &policy.scheme {
        VerifyScheme::Rfc9421(rules) => run_rfc9421(&request, policy, rules, incoming).await,
        VerifyScheme::AwsSigV4(scheme) => run_keyed(&request, policy, scheme, incoming).await,
        VerifyScheme::Compat(scheme) => run_keyed(&request, policy, scheme, incoming).await,
        VerifyScheme::Webhook(endpoint) => run_webhook(&request, endpoint, incoming).await,
    }
}

/// The request being authenticated and where it arrived.
struct Inbound<'r, 'a> {
    ctx: &'r RequestCtx<'a>,
    routed: &'r Routed<'a>,
    parts: &'r Parts,
}

impl<'r> Inbound<'r, '_> {
    fn view(&self) -> MessageView<'r> {
        MessageView {
            method: self.parts.method.as_str(),
            scheme: if self.ctx.conn.https { "https" } else { "http" },
            authority: self.routed.authority.as_str(),
            path: self.parts.uri.path(),
            query: self.parts.uri.query(),
            headers: &self.parts.headers,
        }
    }

    fn keys(&self) -> &'r KeyStore {
        &self.ctx.generation.config.keys
    }

    async fn read_body(&self, incoming: Incoming) -> Result<Bytes, Rejection> {
        body::read(self.routed.route, incoming).await
    }
}

/// What verification hands on: the body (read and checked), who sent it,
/// and what the replay store must see only once.
pub(super) struct Verified {
    pub body: Bytes,
    pub identity: Identity,
    pub replay: Option<ReplayKey>,
}

/// A replay claim: `id` under `keyid`, remembered for `ttl`.
pub(super) struct ReplayKey {
    pub keyid: String,
    pub id: String,
    pub ttl: Duration,
}

/// The native scheme: the MAC is checked before the body is read; the body
/// is then bound to the signature through Content-Digest.
async fn run_rfc9421(
    request: &Inbound<'_, '_>,
    policy: &VerifyPolicy,
    rfc: &Rfc9421Rules,
    incoming: Incoming,
) -> Result<Verified, Rejection> {
    let parts = request.parts;
    let input = joined(&parts.headers, &headers::SIGNATURE_INPUT);
    let signature = joined(&parts.headers, &headers::SIGNATURE);
    if input.is_empty() && signature.is_empty() {
        return Err(AuthError::MissingSignature.into());
    }
    let candidates = rfc9421::parse_candidates(&input, &signature)?;
    let keys = request.keys();
    let rules = Rules {
        required: &rfc.required,
        require_digest: body::may_have_body(&incoming, &parts.headers),
        require_nonce: policy.replay,
        window: rfc.window,
        now: unix_now(),
    };
    let accepted = rfc9421::verify(&request.view(), &candidates, &rules, |keyid| {
        keys.get(keyid).map(|k| (k, &k.macs[..], policy.consumers.contains(&k.consumer)))
    })?;
    if !policy.consumers.contains(&accepted.key.consumer) {
        return Err(Rejection::ConsumerNotAllowed);
    }
    let body = request.read_body(incoming).await?;
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
    Ok(Verified { body, identity, replay: Some(replay) })
}

/// Schemes whose key ids name consumer keys (AWS SigV4, Kong, APISIX): the
/// MAC covers the body (or its hash), so the body is read first.
async fn run_keyed<S: Scheme>(
    request: &Inbound<'_, '_>,
    policy: &VerifyPolicy,
    scheme: &S,
    incoming: Incoming,
) -> Result<Verified, Rejection> {
    let body = request.read_body(incoming).await?;
    let keys = request.keys();
    let verified = scheme::authenticate(scheme, &request.view(), &body, unix_now(), |keyid| {
        keyid.and_then(|k| keys.get(k)).map(|k| (k, &k.secrets[..]))
    })?;
    if !policy.consumers.contains(&verified.key.consumer) {
        return Err(Rejection::ConsumerNotAllowed);
    }
    let keyid = verified.key.keyid.to_str().unwrap_or_default();
    let replay =
        verified.replay.map(|(id, ttl)| ReplayKey { keyid: keyid.to_owned(), id, ttl: Duration::from_secs(ttl) });
    let identity = Identity { consumer: verified.key.consumer_id.clone(), keyid: verified.key.keyid.clone() };
    Ok(Verified { body, identity, replay })
}

/// Webhook schemes: the route's own secrets; the identity is the endpoint's.
async fn run_webhook(
    request: &Inbound<'_, '_>,
    endpoint: &WebhookEndpoint,
    incoming: Incoming,
) -> Result<Verified, Rejection> {
    let body = request.read_body(incoming).await?;
    let verified = scheme::authenticate(&endpoint.scheme, &request.view(), &body, unix_now(), |_| {
        Some((&(), &endpoint.secrets[..]))
    })?;
    let provider = endpoint.scheme.provider.name();
    let replay =
        verified.replay.map(|(id, ttl)| ReplayKey { keyid: provider.to_owned(), id, ttl: Duration::from_secs(ttl) });
    let identity = Identity { consumer: endpoint.consumer_id.clone(), keyid: HeaderValue::from_static(provider) };
    Ok(Verified { body, identity, replay })
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
