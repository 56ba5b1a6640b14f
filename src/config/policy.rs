//! What a route does with a request: verify it or sign it, in one scheme.

use http::HeaderValue;
use std::fmt;

use super::Secret;
use crate::scheme::Window;
use crate::scheme::compat::Compat;
use crate::scheme::rfc9421::{Component, HmacSha256};
use crate::scheme::sigv4::SigV4;
use crate::scheme::webhook::{Provider, Webhook};

/// What a route does with a request before forwarding it.
#[derive(Debug)]
pub enum Action {
    /// Verify the request's signature, then forward it with the caller's identity.
    Verify(VerifyPolicy),
    /// Sign the request as it will be sent upstream.
    Sign(SignPolicy),
}

/// How a verify route checks requests.
#[derive(Debug)]
pub struct VerifyPolicy {
    /// The scheme, with its rules.
    pub scheme: VerifyScheme,
    /// Indices into `Config::consumers` (schemes with key ids).
    pub consumers: Vec<usize>,
    /// Whether each signature may be used once (default `true`).
    pub replay: bool,
    /// When a replay claim is given back because forwarding failed.
    pub replay_release: ReplayRelease,
    /// Development only: a 401 from this route carries the text the MAC had
    /// to cover (never a MAC or a secret), so a sender can compare it.
    pub debug_signature_base: bool,
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

/// The signature scheme a verify route accepts, with its rules.
#[derive(Debug)]
pub enum VerifyScheme {
    /// RFC 9421 HTTP Message Signatures.
    Rfc9421(Rfc9421Rules),
    /// AWS Signature Version 4.
    AwsSigV4(SigV4),
    /// Kong or APISIX `hmac-auth`.
    Compat(Compat),
    /// A webhook provider's signature.
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
    /// The provider, its window and replay TTL.
    pub scheme: Webhook,
    /// Key bytes (Standard Webhooks secrets decoded); any of them verifies.
    pub secrets: Vec<Secret>,
    /// The route's `consumer:`, or the provider's name.
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

/// How a sign route signs requests.
#[derive(Debug)]
pub struct SignPolicy {
    /// RFC 9421 keyid, or the AWS access key id; empty for webhooks.
    pub keyid: String,
    /// The scheme, with its key material.
    pub scheme: SignScheme,
}

/// The scheme a sign route signs in, with its key material.
pub enum SignScheme {
    /// RFC 9421, `hmac-sha256`.
    Rfc9421 {
        /// Dictionary key in both headers (default `sig1`).
        label: String,
        /// The default four, then the route's extra ones.
        components: Vec<Component>,
        /// HMAC state prepared from the secret.
        mac: HmacSha256,
    },
    /// AWS Signature Version 4, `Authorization` header form.
    AwsSigV4 {
        /// Such as `us-east-1`.
        region: String,
        /// Such as `s3`.
        service: String,
        /// The secret access key.
        secret: Secret,
    },
    /// Every secret signs where the format carries several signatures.
    Webhook {
        /// Whose format to sign in.
        provider: Provider,
        /// One or more; the first signs where the format carries one signature.
        secrets: Vec<Secret>,
    },
}

impl SignScheme {
    /// The name used in the config.
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
