//! The authenticate phase of a verify route (host role): one driver for
//! every scheme. The scheme parses and checks the credentials
//! (`crate::scheme::authenticate`), the caller is allowed or refused, the
//! body is read (before the MAC for schemes whose MAC covers it, after it for
//! RFC 9421) and bound, and the result is who sent the request and the
//! replay key to claim. The pipeline (`pipeline.rs`) claims it and forwards.

use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use http::request::Parts;
use hyper::body::Incoming;

use super::pipeline::{RequestCtx, Routed};
use super::{Identity, body, unix_now};
use crate::config::{ConsumerKey, KeyStore, Rfc9421Rules, VerifyPolicy, VerifyScheme, WebhookEndpoint};
use crate::error::Rejection;
use crate::scheme::rfc9421::Rules;
use crate::scheme::{self, Found, MessageView, Scheme, Secret, SignedPart};

/// Authenticates the request in the route's scheme.
pub(super) async fn authenticate(
    ctx: &RequestCtx<'_>,
    routed: &Routed<'_>,
    policy: &VerifyPolicy,
    parts: &Parts,
    incoming: Incoming,
) -> Result<Verified, Refused> {
    let request = Inbound { ctx, routed, parts, policy };
    let keys = &ctx.generation.config.keys;
    match &policy.scheme {
        VerifyScheme::Rfc9421(rfc) => {
            let rules = rfc9421_rules(rfc, policy, body::may_have_body(&incoming, &parts.headers));
            run(&request, &rules, incoming, |keyid| consumer_key(keys, policy, keyid, |k| &k.macs)).await
        }
        VerifyScheme::AwsSigV4(sigv4) => {
            run(&request, sigv4, incoming, |keyid| consumer_key(keys, policy, keyid, |k| &k.secrets)).await
        }
        VerifyScheme::Compat(compat) => {
            run(&request, compat, incoming, |keyid| consumer_key(keys, policy, keyid, |k| &k.secrets)).await
        }
        VerifyScheme::Webhook(endpoint) => run(&request, &endpoint.scheme, incoming, |_| webhook_keys(endpoint)).await,
    }
}

/// What an RFC 9421 route demands of one request: `content-digest` covered
/// when it `may_have_body`, a nonce when replay protection is on.
pub(super) fn rfc9421_rules<'a>(rfc: &'a Rfc9421Rules, policy: &VerifyPolicy, may_have_body: bool) -> Rules<'a> {
    Rules { required: &rfc.required, require_digest: may_have_body, require_nonce: policy.replay, window: rfc.window }
}

/// A webhook endpoint's keys: the route's own, always allowed.
pub(super) fn webhook_keys(endpoint: &WebhookEndpoint) -> Option<Found<'_, WebhookEndpoint, Secret>> {
    Some(Found { owner: endpoint, keys: &endpoint.secrets, allowed: true })
}

/// A refused request, with the text its MAC had to cover when the route
/// has `debug_signature_base` on and the credentials could be parsed.
pub(super) struct Refused {
    pub rejection: Rejection,
    pub signed: Option<Vec<SignedPart>>,
}

impl From<Rejection> for Refused {
    fn from(rejection: Rejection) -> Self {
        Self { rejection, signed: None }
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

/// Whoever the verified keys belong to: a consumer's key, or a webhook
/// endpoint (whose secrets are the route's).
pub(super) trait Caller {
    fn identity(&self) -> Identity;
    /// The replay store's namespace for this caller's ids.
    fn replay_namespace(&self) -> &str;
}

impl Caller for ConsumerKey {
    fn identity(&self) -> Identity {
        Identity { consumer: self.consumer_id.clone(), keyid: self.keyid.clone() }
    }

    fn replay_namespace(&self) -> &str {
        self.keyid.to_str().unwrap_or_default()
    }
}

impl Caller for WebhookEndpoint {
    fn identity(&self) -> Identity {
        Identity { consumer: self.consumer_id.clone(), keyid: HeaderValue::from_static(self.scheme.provider.name()) }
    }

    fn replay_namespace(&self) -> &str {
        self.scheme.provider.name()
    }
}

/// The consumer key `keyid` names, with the keys this scheme checks and
/// whether its consumer may use the route.
pub(super) fn consumer_key<'k, K>(
    keys: &'k KeyStore,
    policy: &VerifyPolicy,
    keyid: Option<&str>,
    of: impl Fn(&'k ConsumerKey) -> &'k [K],
) -> Option<Found<'k, ConsumerKey, K>> {
    let key = keys.get(keyid?)?;
    Some(Found { owner: key, keys: of(key), allowed: policy.consumers.contains(&key.consumer) })
}

/// The request being authenticated and where it arrived.
struct Inbound<'r, 'a> {
    ctx: &'r RequestCtx<'a>,
    routed: &'r Routed<'a>,
    parts: &'r Parts,
    /// Replay protection (only then is a replay id built) and the debug flag.
    policy: &'r VerifyPolicy,
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

    async fn read_body(&self, incoming: Incoming) -> Result<Bytes, Rejection> {
        body::read(self.routed.route, incoming).await
    }
}

/// The one driver: body first when the scheme's MAC covers it; then the
/// credentials and every key checked; a caller not allowed here refused
/// (403, only once the MAC verified); the body read (if not yet) and bound.
async fn run<'k, S: Scheme, O: Caller + 'k>(
    request: &Inbound<'_, '_>,
    scheme: &S,
    incoming: Incoming,
    lookup: impl Fn(Option<&str>) -> Option<Found<'k, O, S::Key>>,
) -> Result<Verified, Refused>
where
    S::Key: 'k,
{
    let view = request.view();
    let (first, later) = if scheme.reads_body_first() {
        (request.read_body(incoming).await?, None)
    } else {
        (Bytes::new(), Some(incoming))
    };
    let now = unix_now();
    let verified = match scheme::authenticate(scheme, &view, &first, now, &lookup) {
        Ok(verified) => verified,
        Err(e) => {
            // Debug routes only: parsing again costs nothing on the others.
            let signed = request.policy.debug_signature_base.then(|| {
                let rank = |keyid: &str| lookup(Some(keyid)).map(|found| found.allowed);
                scheme.parse(&view, &first, now, &rank).ok().map(|c| shown(&view, scheme.signed_text(&c, &first)))
            });
            return Err(Refused { rejection: e.into(), signed: signed.flatten() });
        }
    };
    if !verified.allowed {
        return Err(Rejection::ConsumerNotAllowed.into());
    }
    let body = match later {
        Some(incoming) => request.read_body(incoming).await?,
        None => first,
    };
    if let Err(e) = scheme.check_body(&view, &verified.credentials, &body) {
        let signed =
            request.policy.debug_signature_base.then(|| shown(&view, scheme.signed_text(&verified.credentials, &body)));
        return Err(Refused { rejection: e.into(), signed });
    }
    let caller = verified.owner;
    let replay = request.policy.replay.then(|| scheme.replay_id(&verified.credentials)).flatten().map(|r| ReplayKey {
        keyid: caller.replay_namespace().to_owned(),
        id: r.id,
        ttl: Duration::from_secs(r.ttl_secs),
    });
    Ok(Verified { body, identity: caller.identity(), replay })
}

/// The signed text as it may be shown to a person (a debug 401, `explain`):
/// any MAC the request itself carries, which a signature may cover, replaced.
pub(super) fn shown(view: &MessageView<'_>, mut signed: Vec<SignedPart>) -> Vec<SignedPart> {
    scheme::redact::redact_carried_macs(&mut signed, view);
    signed
}
