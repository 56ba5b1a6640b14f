//! `verify:` and `sign:` as written. `scheme` comes first and decides which
//! struct the other keys are read into, so a key that does not belong to the
//! scheme cannot be parsed: it fails with its location, and no hand-kept
//! "field X applies to scheme Y" table exists. Spans are kept (the keys are
//! read straight from the YAML, not buffered).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::keys::read;
use serde_saphyr::Location;

use super::{DurationSpec, Spanned};
use crate::scheme::compat::Dialect;
use crate::scheme::webhook::Provider;

/// A scheme's name in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeName {
    /// `rfc9421`.
    Rfc9421,
    /// `aws-sigv4`.
    AwsSigV4,
    /// `kong` or `apisix`.
    Compat(Dialect),
    /// A webhook provider, by its name.
    Webhook(Provider),
}

impl SchemeName {
    /// Every scheme, in the order messages list them.
    pub const ALL: [Self; 9] = [
        Self::Rfc9421,
        Self::AwsSigV4,
        Self::Compat(Dialect::Kong),
        Self::Compat(Dialect::Apisix),
        Self::Webhook(Provider::Github),
        Self::Webhook(Provider::Stripe),
        Self::Webhook(Provider::Slack),
        Self::Webhook(Provider::StandardWebhooks),
        Self::Webhook(Provider::Shopify),
    ];

    /// The name written after `scheme:`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rfc9421 => "rfc9421",
            Self::AwsSigV4 => "aws-sigv4",
            Self::Compat(Dialect::Kong) => "kong",
            Self::Compat(Dialect::Apisix) => "apisix",
            Self::Webhook(p) => p.name(),
        }
    }

    /// The scheme called `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the gateway can sign in this scheme (Kong and APISIX only verify).
    pub fn signs(self) -> bool {
        !matches!(self, Self::Compat(_))
    }

    /// The names a list in a message shows.
    pub fn names(sign: bool) -> String {
        let names: Vec<&str> = Self::ALL.iter().filter(|s| !sign || s.signs()).map(|s| s.name()).collect();
        names.join(", ")
    }
}

/// Old key names, with what replaced them: reported as config errors.
const WINDOW_RENAMED: &str = "was renamed: use `max_age` (how old a signature may be) \
    and `max_ahead` (how far ahead of this clock its timestamp may be)";
const TIMED_RENAMES: &[(&str, &str)] = &[("clock_skew", WINDOW_RENAMED), ("tolerance", WINDOW_RENAMED)];
const UNTIMED_RENAMES: &[(&str, &str)] = &[(
    "max_age",
    "was renamed to `replay_ttl` here: this provider signs no timestamp, so it is how long a delivery id is remembered",
)];

/// An old key name met in the file.
#[derive(Debug, Clone)]
pub struct Renamed {
    pub at: Location,
    pub message: String,
}

/// `verify:`
#[derive(Debug)]
pub struct RawVerify {
    /// The `scheme:` value, kept for error locations.
    pub scheme: Spanned<String>,
    /// The keys after `scheme:`, read into that scheme's struct.
    pub fields: VerifyFields,
    /// Old key names met, reported as errors.
    pub renamed: Vec<Renamed>,
}

/// The keys a `verify:` section holds, by scheme.
#[derive(Debug)]
pub enum VerifyFields {
    /// `rfc9421`.
    Rfc9421(VerifyRfc9421),
    /// `aws-sigv4`.
    AwsSigV4(VerifySigV4),
    /// `kong` or `apisix`.
    Compat(Dialect, VerifyCompat),
    /// Stripe, Slack, Standard Webhooks: a signed timestamp.
    TimedWebhook(Provider, VerifyTimedWebhook),
    /// GitHub, Shopify: no timestamp.
    UntimedWebhook(Provider, VerifyUntimedWebhook),
    /// A scheme name nobody knows; reported at the name.
    Unknown,
}

/// Every verify route: replay protection and when a claim is given back.
pub trait ReplayFields {
    /// `replay:`: claim each signature once (default `true`).
    fn replay(&self) -> Option<bool>;
    /// `replay_release:`: `unsent` (default) or `any_failure`.
    fn replay_release(&self) -> Option<&Spanned<String>>;
    /// `debug_signature_base:`: a 401 carries the signed text (default `false`).
    fn debug_signature_base(&self) -> Option<bool>;
}

macro_rules! replay_fields {
    ($($t:ty),*) => {$(
        impl ReplayFields for $t {
            fn replay(&self) -> Option<bool> {
                self.replay
            }
            fn replay_release(&self) -> Option<&Spanned<String>> {
                self.replay_release.as_ref()
            }
            fn debug_signature_base(&self) -> Option<bool> {
                self.debug_signature_base
            }
        }
    )*};
}
replay_fields!(VerifyRfc9421, VerifySigV4, VerifyCompat, VerifyTimedWebhook, VerifyUntimedWebhook);

/// `verify:` with `scheme: rfc9421`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRfc9421 {
    /// Consumers allowed on the route (at least one).
    #[serde(default)]
    pub consumers: Vec<Spanned<String>>,
    /// Replay protection; also requires a `nonce` (default `true`).
    pub replay: Option<bool>,
    /// `unsent` (default) or `any_failure`.
    pub replay_release: Option<Spanned<String>>,
    /// Development only: a 401 carries the text the MAC had to cover.
    pub debug_signature_base: Option<bool>,
    /// Oldest `created` accepted (default 300 s).
    pub max_age: Option<Spanned<DurationSpec>>,
    /// How far ahead `created` may be (default 30 s).
    pub max_ahead: Option<Spanned<DurationSpec>>,
    /// Components to require, replacing the default four.
    pub components: Option<Vec<Spanned<String>>>,
}

/// `verify:` with `scheme: aws-sigv4`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySigV4 {
    /// Consumers allowed on the route (at least one).
    #[serde(default)]
    pub consumers: Vec<Spanned<String>>,
    /// Replay protection (default `true`).
    pub replay: Option<bool>,
    /// `unsent` (default) or `any_failure`.
    pub replay_release: Option<Spanned<String>>,
    /// Development only: a 401 carries the text the MAC had to cover.
    pub debug_signature_base: Option<bool>,
    /// Oldest `X-Amz-Date` accepted (default 900 s).
    pub max_age: Option<Spanned<DurationSpec>>,
    /// How far ahead `X-Amz-Date` may be (default 900 s).
    pub max_ahead: Option<Spanned<DurationSpec>>,
    /// Signing service, such as `s3` (required).
    pub service: Option<Spanned<String>>,
    /// Signing region, such as `us-east-1` (required).
    pub region: Option<Spanned<String>>,
    /// Accept `UNSIGNED-PAYLOAD` (default `false`).
    pub allow_unsigned_payload: Option<bool>,
    /// Presigned URLs may be used again until they expire.
    pub presigned_reuse: Option<bool>,
}

/// `verify:` with `scheme: kong` or `apisix`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyCompat {
    /// Consumers allowed on the route (at least one).
    #[serde(default)]
    pub consumers: Vec<Spanned<String>>,
    /// Replay protection (default `true`).
    pub replay: Option<bool>,
    /// `unsent` (default) or `any_failure`.
    pub replay_release: Option<Spanned<String>>,
    /// Development only: a 401 carries the text the MAC had to cover.
    pub debug_signature_base: Option<bool>,
    /// Oldest signed date accepted (default 300 s).
    pub max_age: Option<Spanned<DurationSpec>>,
    /// How far ahead the signed date may be (default 300 s).
    pub max_ahead: Option<Spanned<DurationSpec>>,
    /// Accepted algorithms (default: the dialect's, without `hmac-sha1`).
    pub algorithms: Option<Vec<Spanned<String>>>,
    /// Headers the signature must also cover.
    pub enforce_headers: Option<Vec<Spanned<String>>>,
}

/// `verify:` for Stripe, Slack or Standard Webhooks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyTimedWebhook {
    /// Names of the endpoint's secrets (at least one).
    #[serde(default)]
    pub secrets: Vec<Spanned<String>>,
    /// Sent upstream as `X-Consumer-ID` (default: the provider's name).
    pub consumer: Option<Spanned<String>>,
    /// Replay protection (default `true`).
    pub replay: Option<bool>,
    /// `unsent` (default) or `any_failure`.
    pub replay_release: Option<Spanned<String>>,
    /// Development only: a 401 carries the text the MAC had to cover.
    pub debug_signature_base: Option<bool>,
    /// Oldest signed timestamp accepted (default 300 s).
    pub max_age: Option<Spanned<DurationSpec>>,
    /// How far ahead the timestamp may be (default 300 s).
    pub max_ahead: Option<Spanned<DurationSpec>>,
}

/// `verify:` for GitHub or Shopify.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyUntimedWebhook {
    /// Names of the endpoint's secrets (at least one).
    #[serde(default)]
    pub secrets: Vec<Spanned<String>>,
    /// Sent upstream as `X-Consumer-ID` (default: the provider's name).
    pub consumer: Option<Spanned<String>>,
    /// Replay protection (default `true`).
    pub replay: Option<bool>,
    /// `unsent` (default) or `any_failure`.
    pub replay_release: Option<Spanned<String>>,
    /// Development only: a 401 carries the text the MAC had to cover.
    pub debug_signature_base: Option<bool>,
    /// How long a delivery is remembered (default 3600 s).
    pub replay_ttl: Option<Spanned<DurationSpec>>,
}

/// `sign:`
#[derive(Debug)]
pub struct RawSign {
    /// The `scheme:` value, kept for error locations.
    pub scheme: Spanned<String>,
    /// The keys after `scheme:`, read into that scheme's struct.
    pub fields: SignFields,
}

/// The keys a `sign:` section holds, by scheme.
#[derive(Debug)]
pub enum SignFields {
    /// `rfc9421`.
    Rfc9421(SignRfc9421),
    /// `aws-sigv4`.
    AwsSigV4(SignSigV4),
    /// A webhook provider.
    Webhook(Provider, SignWebhook),
    /// Unknown, or a scheme that only verifies; reported at the name.
    Unknown,
}

/// `sign:` with `scheme: rfc9421`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRfc9421 {
    /// Key id sent in `Signature-Input` (required).
    pub keyid: Option<Spanned<String>>,
    /// Name of the signing secret (required).
    pub secret: Option<Spanned<String>>,
    /// Signature label (default `sig1`).
    pub label: Option<Spanned<String>>,
    /// Extra header fields to cover beyond the fixed set.
    pub components: Option<Vec<Spanned<String>>>,
}

/// `sign:` with `scheme: aws-sigv4`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignSigV4 {
    /// The AWS access key id.
    pub keyid: Option<Spanned<String>>,
    /// Name of the secret access key (required).
    pub secret: Option<Spanned<String>>,
    /// Signing service, such as `s3` (required).
    pub service: Option<Spanned<String>>,
    /// Signing region (required).
    pub region: Option<Spanned<String>>,
}

/// `sign:` with a webhook provider.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignWebhook {
    /// Name of the signing secret.
    pub secret: Option<Spanned<String>>,
    /// Stripe and Standard Webhooks carry one signature per secret.
    pub secrets: Option<Vec<Spanned<String>>>,
}

impl<'de> Deserialize<'de> for RawVerify {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(AuthVisitor::<Self>(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for RawSign {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(AuthVisitor::<Self>(std::marker::PhantomData))
    }
}

/// `verify:` or `sign:`: built from the scheme and the keys after it.
trait SchemeSection: Sized {
    const KEY: &'static str;
    fn read_rest<'de, A: MapAccess<'de>>(map: &mut A, scheme: Spanned<String>) -> Result<Self, A::Error>;
}

impl SchemeSection for RawVerify {
    const KEY: &'static str = "verify";
    fn read_rest<'de, A: MapAccess<'de>>(map: &mut A, scheme: Spanned<String>) -> Result<Self, A::Error> {
        let mut renamed = Vec::new();
        let fields = verify_fields(map, SchemeName::parse(&scheme.value), &scheme.value, &mut renamed)?;
        Ok(Self { scheme, fields, renamed })
    }
}

impl SchemeSection for RawSign {
    const KEY: &'static str = "sign";
    fn read_rest<'de, A: MapAccess<'de>>(map: &mut A, scheme: Spanned<String>) -> Result<Self, A::Error> {
        let fields = sign_fields(map, SchemeName::parse(&scheme.value), &scheme.value)?;
        Ok(Self { scheme, fields })
    }
}

struct AuthVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: SchemeSection> Visitor<'de> for AuthVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping that starts with `scheme:`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let first: Option<String> = map.next_key()?;
        if first.as_deref() != Some("scheme") {
            return Err(de::Error::custom(format!(
                "`scheme` must be the first key of `{}:` (it decides which keys may follow)",
                T::KEY
            )));
        }
        let scheme: Spanned<String> = map.next_value()?;
        T::read_rest(&mut map, scheme)
    }
}

fn verify_fields<'de, A: MapAccess<'de>>(
    map: &mut A,
    name: Option<SchemeName>,
    scheme: &str,
    renamed: &mut Vec<Renamed>,
) -> Result<VerifyFields, A::Error> {
    let t = TIMED_RENAMES;
    Ok(match name {
        Some(SchemeName::Rfc9421) => VerifyFields::Rfc9421(read(map, scheme, t, renamed)?),
        Some(SchemeName::AwsSigV4) => VerifyFields::AwsSigV4(read(map, scheme, t, renamed)?),
        Some(SchemeName::Compat(d)) => VerifyFields::Compat(d, read(map, scheme, t, renamed)?),
        Some(SchemeName::Webhook(p)) if p.has_timestamp() => {
            VerifyFields::TimedWebhook(p, read(map, scheme, t, renamed)?)
        }
        Some(SchemeName::Webhook(p)) => VerifyFields::UntimedWebhook(p, read(map, scheme, UNTIMED_RENAMES, renamed)?),
        None => {
            skip_rest(map)?;
            VerifyFields::Unknown
        }
    })
}

fn sign_fields<'de, A: MapAccess<'de>>(
    map: &mut A,
    name: Option<SchemeName>,
    scheme: &str,
) -> Result<SignFields, A::Error> {
    let mut none = Vec::new();
    Ok(match name {
        Some(SchemeName::Rfc9421) => SignFields::Rfc9421(read(map, scheme, &[], &mut none)?),
        Some(SchemeName::AwsSigV4) => SignFields::AwsSigV4(read(map, scheme, &[], &mut none)?),
        Some(SchemeName::Webhook(p)) => SignFields::Webhook(p, read(map, scheme, &[], &mut none)?),
        Some(SchemeName::Compat(_)) | None => {
            skip_rest(map)?;
            SignFields::Unknown
        }
    })
}

fn skip_rest<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}
