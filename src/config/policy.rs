//! What a route does with a request: verify it or sign it, in one scheme.

use http::HeaderValue;
use std::fmt;

use super::Secret;
use crate::scheme::Window;
use crate::scheme::compat::Compat;
use crate::scheme::rfc9421::{Component, HmacSha256};
use crate::scheme::sigv4::SigV4;
use crate::scheme::webhook::{Provider, Webhook};

#[derive(Debug)]
pub enum Action {
    Verify(VerifyPolicy),
    Sign(SignPolicy),
}

#[derive(Debug)]
pub struct VerifyPolicy {
    pub scheme: VerifyScheme,
    /// Indices into `Config::consumers` (schemes with key ids).
    pub consumers: Vec<usize>,
    pub replay: bool,
    /// When a replay claim is given back because forwarding failed.
    pub replay_release: ReplayRelease,
}

impl VerifyPolicy {
    /// What a 401 on this route advertises so a client can tell what to
    /// sign: RFC 9421 routes only (it is that RFC's header).
    pub fn accept_signature(&self) -> Option<&HeaderValue> {
        match &self.scheme {
            VerifyScheme::Rfc9421(rules) => Some(&rules.accept_signature),
            _ => None,
        }
    }
}

/// Which forwarding failures give a request's replay claim back, so that
/// the same signed request may be presented again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayRelease {
    /// Only when the request never left the gateway (connection refused,
    /// TLS handshake failed, connect timeout): the upstream cannot have
    /// acted on it.
    Unsent,
    /// Also after a reset or a response timeout, when the upstream may have
    /// acted on it: for upstreams that deduplicate by delivery id.
    AnyFailure,
}

/// The RFC 9421 rules of a verify route.
#[derive(Debug)]
pub struct Rfc9421Rules {
    /// How old `created` may be, and how far ahead.
    pub window: Window,
    /// Components every signature must cover.
    pub required: Vec<Component>,
    /// Built once from `required`; see [`VerifyPolicy::accept_signature`].
    pub accept_signature: HeaderValue,
}

#[derive(Debug)]
pub enum VerifyScheme {
    Rfc9421(Rfc9421Rules),
    AwsSigV4(SigV4),
    /// Kong or APISIX `hmac-auth`.
    Compat(Compat),
    Webhook(WebhookEndpoint),
}

impl VerifyScheme {
    /// The name used in the config.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Rfc9421(_) => "rfc9421",
            Self::AwsSigV4(_) => "aws-sigv4",
            Self::Compat(c) if c.dialect == crate::scheme::compat::Dialect::Kong => "kong",
            Self::Compat(_) => "apisix",
            Self::Webhook(w) => w.scheme.provider.name(),
        }
    }
}

/// A webhook route: the endpoint's secrets (several during a rotation) and
/// the identity sent upstream as `X-Consumer-ID`.
pub struct WebhookEndpoint {
    pub scheme: Webhook,
    pub secrets: Vec<Secret>,
    pub consumer_id: HeaderValue,
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("scheme", &self.scheme)
            .field("secrets", &self.secrets.len())
            .field("consumer_id", &self.consumer_id)
            .finish()
    }
}

#[derive(Debug)]
pub struct SignPolicy {
    /// RFC 9421 keyid, or the AWS access key id; empty for webhooks.
    pub keyid: String,
    pub scheme: SignScheme,
}

pub enum SignScheme {
    Rfc9421 {
        label: String,
        components: Vec<Component>,
        mac: HmacSha256,
    },
    AwsSigV4 {
        region: String,
        service: String,
        secret: Secret,
    },
    /// Every secret signs where the format carries several signatures.
    Webhook {
        provider: Provider,
        secrets: Vec<Secret>,
    },
}

impl SignScheme {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Rfc9421 { .. } => "rfc9421",
            Self::AwsSigV4 { .. } => "aws-sigv4",
            Self::Webhook { provider, .. } => provider.name(),
        }
    }
}

impl fmt::Debug for SignScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rfc9421 { label, components, .. } => f
                .debug_struct("Rfc9421")
                .field("label", label)
                .field("components", components)
                .field("mac", &"[redacted]")
                .finish(),
            Self::AwsSigV4 { region, service, secret } => f
                .debug_struct("AwsSigV4")
                .field("region", region)
                .field("service", service)
                .field("secret", secret)
                .finish(),
            Self::Webhook { provider, secrets } => {
                f.debug_struct("Webhook").field("provider", provider).field("secrets", &secrets.len()).finish()
            }
        }
    }
}
