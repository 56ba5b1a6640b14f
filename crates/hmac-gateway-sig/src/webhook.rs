//! Webhook signatures: GitHub, Stripe, Slack, Standard Webhooks, Shopify.
//! Each is an HMAC-SHA256 over the exact raw body, some with a timestamp
//! and a delivery id in front. The secrets belong to the endpoint (the
//! route), not to a caller, so there is no key id.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::Mac as _;
use http::HeaderMap;
use sha2::{Digest as _, Sha256};

use super::caps::{self, MAX_SIGNATURES};
use super::{AuthError, MessageView, ReplayId, Scheme, Secret, SignedPart, Window, keyed, macs_equal};

/// A webhook sender whose signature format is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `X-Hub-Signature-256: sha256=<hex>` over the body.
    Github,
    /// `Stripe-Signature: t=<ts>,v1=<hex>…` over `<ts>.<body>`.
    Stripe,
    /// `X-Slack-Signature: v0=<hex>` over `v0:<ts>:<body>`, with
    /// `X-Slack-Request-Timestamp`.
    Slack,
    /// `webhook-signature: v1,<base64> …` over `<id>.<ts>.<body>`.
    StandardWebhooks,
    /// `X-Shopify-Hmac-Sha256: <base64>` over the body.
    Shopify,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Self; 5] = [Self::Github, Self::Stripe, Self::Slack, Self::StandardWebhooks, Self::Shopify];

    /// The `scheme:` name in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Stripe => "stripe",
            Self::Slack => "slack",
            Self::StandardWebhooks => "standard-webhooks",
            Self::Shopify => "shopify",
        }
    }

    /// The provider whose [`Provider::name`] is `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether the provider signs a timestamp, so a window applies.
    pub fn has_timestamp(self) -> bool {
        matches!(self, Self::Stripe | Self::Slack | Self::StandardWebhooks)
    }

    /// The header that carries the signature, for error messages.
    fn signature_header(self) -> &'static str {
        match self {
            Self::Github => "X-Hub-Signature-256 header",
            Self::Stripe => "Stripe-Signature header",
            Self::Slack => "X-Slack-Signature header",
            Self::StandardWebhooks => "webhook-signature header",
            Self::Shopify => "X-Shopify-Hmac-Sha256 header",
        }
    }
}

/// A webhook route's verifier.
#[derive(Debug, Clone, Copy)]
pub struct Webhook {
    /// Whose signature format to verify.
    pub provider: Provider,
    /// How old, or how far ahead, the signed timestamp may be (Stripe,
    /// Slack, Standard Webhooks).
    pub window: Window,
    /// How long a delivery id is remembered when the provider signs no
    /// timestamp (GitHub, Shopify): their signatures never expire.
    pub replay_ttl: Duration,
}

/// What a delivery carries.
#[derive(Debug)]
pub struct Delivery {
    /// The timestamp exactly as sent (it is signed as text).
    timestamp: Option<String>,
    id: Option<String>,
    /// Candidate MACs; any one matching a secret verifies.
    signatures: Vec<Vec<u8>>,
    /// A hash of exactly what the MAC covers: the replay key where the
    /// provider signs no id. Header text is never the key, since a replay
    /// could re-spell it (hex case, an extra `v0=`, an unsigned id header).
    fingerprint: String,
    /// When it was checked, for how long its replay key is kept.
    now: i64,
}

impl Scheme for Webhook {
    type Credentials = Delivery;
    type Key = Secret;

    fn parse(
        &self,
        request: &MessageView<'_>,
        body: &[u8],
        now: i64,
        _rank: &dyn Fn(&str) -> Option<bool>,
    ) -> Result<Delivery, AuthError> {
        let h = request.headers;
        let missing = AuthError::MissingCredentials(self.provider.signature_header());
        let delivery = match self.provider {
            Provider::Github => {
                let sig = text(h, "x-hub-signature-256").ok_or(missing)?;
                // X-GitHub-Delivery is not signed: it cannot stand for the delivery.
                Delivery::new(None, None, vec![hex_after(sig, "sha256=")?])
            }
            Provider::Shopify => {
                let sig = text(h, "x-shopify-hmac-sha256").ok_or(missing)?;
                Delivery::new(None, None, vec![base64(sig)?])
            }
            Provider::Slack => {
                let sig = text(h, "x-slack-signature").ok_or(missing)?;
                let ts = text(h, "x-slack-request-timestamp")
                    .ok_or_else(|| AuthError::missing_or_invalid("X-Slack-Request-Timestamp"))?;
                Delivery::new(Some(ts), None, vec![hex_after(sig, "v0=")?])
            }
            Provider::Stripe => parse_stripe(text(h, "stripe-signature").ok_or(missing)?)?,
            Provider::StandardWebhooks => {
                let sig = text(h, "webhook-signature").ok_or(missing)?;
                let id = text(h, "webhook-id").ok_or_else(|| AuthError::missing_or_invalid("webhook-id"))?;
                let ts =
                    text(h, "webhook-timestamp").ok_or_else(|| AuthError::missing_or_invalid("webhook-timestamp"))?;
                Delivery::new(Some(ts), Some(id), parse_standard_signatures(sig)?)
            }
        };
        if let Some(ts) = &delivery.timestamp {
            let signed_at: i64 = ts.parse().map_err(|_| AuthError::missing_or_invalid("timestamp"))?;
            self.window.check("the signed timestamp", signed_at, now)?;
        }
        let fingerprint = content_fingerprint(self.provider, &delivery, body);
        Ok(Delivery { now, fingerprint, ..delivery })
    }

    fn keyid<'c>(&self, _: &'c Delivery) -> Option<&'c str> {
        None
    }

    fn verify(&self, _: &MessageView<'_>, body: &[u8], delivery: &Delivery, key: &Secret) -> bool {
        let secret = key.expose();
        let expected = mac(self.provider, secret, delivery.timestamp.as_deref(), delivery.id.as_deref(), body);
        let mut matched = false;
        for candidate in &delivery.signatures {
            matched |= macs_equal(candidate, &expected);
        }
        matched
    }

    fn unknown_key(&self) -> Secret {
        Secret::unknown()
    }

    fn replay_id(&self, delivery: &Delivery) -> Option<ReplayId> {
        let signed_at = delivery.timestamp.as_deref().and_then(|t| t.parse::<i64>().ok());
        let ttl = match signed_at {
            Some(at) => self.window.replay_ttl(at, delivery.now),
            None => self.replay_ttl.as_secs().max(1),
        };
        let id = delivery.id.as_ref().map_or_else(|| delivery.fingerprint.clone(), |id| format!("id:{id}"));
        Some(ReplayId { id: format!("{}:{id}", self.provider.name()), ttl_secs: ttl })
    }

    /// What comes before the raw body, and the body's SHA-256 (the body
    /// itself is the sender's own, and may be large).
    fn signed_text(&self, delivery: &Delivery, body: &[u8]) -> Vec<SignedPart> {
        let prefix = signed_prefix(self.provider, delivery.timestamp.as_deref(), delivery.id.as_deref());
        let body_hash = hex::encode(Sha256::digest(body));
        vec![SignedPart::new("signed_prefix", prefix), SignedPart::new("body_sha256", body_hash)]
    }
}

impl Delivery {
    fn new(timestamp: Option<&str>, id: Option<&str>, signatures: Vec<Vec<u8>>) -> Self {
        Self {
            timestamp: timestamp.map(str::to_owned),
            id: id.map(str::to_owned),
            signatures,
            fingerprint: String::new(),
            now: 0,
        }
    }
}

/// `t=<unix>,v1=<hex>[,v1=<hex>…]`, at most [`MAX_SIGNATURES`] `v1`; other
/// schemes (`v0`) are ignored.
fn parse_stripe(header: &str) -> Result<Delivery, AuthError> {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", _)) if signatures.len() == MAX_SIGNATURES => {
                return Err(caps::too_many("Stripe-Signature", MAX_SIGNATURES, "v1 signatures"));
            }
            Some(("v1", value)) => {
                signatures.push(hex::decode(value).map_err(|_| AuthError::missing_or_invalid("Stripe-Signature v1"))?)
            }
            _ => {}
        }
    }
    let t = t.ok_or_else(|| AuthError::missing_or_invalid("Stripe-Signature t="))?;
    if signatures.is_empty() {
        return Err(AuthError::Malformed("Stripe-Signature has no v1 signature".into()));
    }
    Ok(Delivery::new(Some(t), None, signatures))
}

/// `v1,<base64>` entries separated by spaces, at most [`MAX_SIGNATURES`];
/// other versions are ignored.
fn parse_standard_signatures(header: &str) -> Result<Vec<Vec<u8>>, AuthError> {
    let mut signatures = Vec::new();
    for entry in header.split(' ').filter_map(|s| s.strip_prefix("v1,")) {
        if signatures.len() == MAX_SIGNATURES {
            return Err(caps::too_many("webhook-signature", MAX_SIGNATURES, "v1 signatures"));
        }
        signatures.push(base64(entry)?);
    }
    if signatures.is_empty() {
        return Err(AuthError::Malformed("webhook-signature has no v1 signature".into()));
    }
    Ok(signatures)
}

/// What a provider signs before the body, exactly as it documents it.
fn signed_prefix(provider: Provider, timestamp: Option<&str>, id: Option<&str>) -> Vec<u8> {
    let (ts, id) = (timestamp.unwrap_or_default().as_bytes(), id.unwrap_or_default().as_bytes());
    match provider {
        Provider::Github | Provider::Shopify => Vec::new(),
        Provider::Stripe => [ts, b"."].concat(),
        Provider::Slack => [b"v0:", ts, b":"].concat(),
        Provider::StandardWebhooks => [id, b".", ts, b"."].concat(),
    }
}

/// The MAC a provider computes, over exactly the bytes it documents.
fn mac(provider: Provider, secret: &[u8], timestamp: Option<&str>, id: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut mac = keyed::hmac::<Sha256>(secret);
    mac.update(&signed_prefix(provider, timestamp, id));
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// `content:` + SHA-256 of what the MAC covers: equal for every copy of a
/// delivery however its headers are spelled, different for anything else.
fn content_fingerprint(provider: Provider, delivery: &Delivery, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(signed_prefix(provider, delivery.timestamp.as_deref(), delivery.id.as_deref()));
    hash.update(body);
    format!("content:{}", hex::encode(hash.finalize()))
}

/// The headers that sign `body` for `provider`: one signature per secret
/// where the format carries several (Stripe, Standard Webhooks: rotation
/// overlap), the first secret's otherwise. `id` is the Standard Webhooks
/// message id.
pub fn sign(provider: Provider, secrets: &[&[u8]], body: &[u8], now: i64, id: &str) -> Vec<(&'static str, String)> {
    let ts = now.to_string();
    let macs: Vec<Vec<u8>> = secrets.iter().map(|s| mac(provider, s, Some(&ts), Some(id), body)).collect();
    let first = macs.first().cloned().unwrap_or_default();
    match provider {
        Provider::Github => vec![("x-hub-signature-256", format!("sha256={}", hex::encode(first)))],
        Provider::Shopify => vec![("x-shopify-hmac-sha256", B64.encode(first))],
        Provider::Slack => {
            vec![("x-slack-request-timestamp", ts), ("x-slack-signature", format!("v0={}", hex::encode(first)))]
        }
        Provider::Stripe => {
            let v1: Vec<String> = macs.iter().map(|m| format!(",v1={}", hex::encode(m))).collect();
            vec![("stripe-signature", format!("t={ts}{}", v1.concat()))]
        }
        Provider::StandardWebhooks => {
            let v1: Vec<String> = macs.iter().map(|m| format!("v1,{}", B64.encode(m))).collect();
            vec![("webhook-id", id.to_owned()), ("webhook-timestamp", ts), ("webhook-signature", v1.join(" "))]
        }
    }
}

/// A Standard Webhooks secret (`whsec_` + base64) as key bytes.
pub fn standard_webhooks_key(secret: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(secret).ok()?;
    B64.decode(text.strip_prefix("whsec_").unwrap_or(text)).ok()
}

fn text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn hex_after(value: &str, prefix: &str) -> Result<Vec<u8>, AuthError> {
    let digits = value
        .strip_prefix(prefix)
        .ok_or_else(|| AuthError::missing_or_invalid(&format!("signature (expected `{prefix}<hex>`)")))?;
    hex::decode(digits).map_err(|_| AuthError::missing_or_invalid("signature hex"))
}

fn base64(value: &str) -> Result<Vec<u8>, AuthError> {
    B64.decode(value).map_err(|_| AuthError::missing_or_invalid("signature base64"))
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
