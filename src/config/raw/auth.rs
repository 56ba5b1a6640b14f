//! `verify:` and `sign:` as written. The scheme decides which struct the
//! other keys are read into, so a key that does not belong to the scheme
//! cannot be parsed: it fails with its location, and no hand-kept "field X
//! applies to scheme Y" table exists. Spans are kept (the keys are read
//! straight from the YAML, not buffered).
//!
//! `scheme` may stand anywhere in its section: tools that write YAML (Helm's
//! `toYaml`, PyYAML's `safe_dump`, `yq -S`) sort keys. So a first pass over
//! the text (`first_pass.rs`, run by [`with_schemes`]) learns every section's
//! scheme, in route order, and the main pass takes each section's from there
//! before reading its keys.

use std::cell::RefCell;
use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::first_pass::{SchemeSeen, Schemes};
use super::keys::{Keys, read};
use serde_saphyr::Location;

use super::{DurationSpec, SchemeName, Spanned};
use crate::scheme::compat::Dialect;
use crate::scheme::webhook::Provider;

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

/// RFC 9421 HTTP Message Signatures (`hmac-sha256`) with an RFC 9530 `Content-Digest`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRfc9421 {
    /// Ids of the consumers allowed on this route (at least one).
    #[serde(default)]
    #[schemars(required, length(min = 1))]
    pub consumers: Vec<Spanned<String>>,
    /// Accept each signature only once; signatures must then carry a `nonce` (default `true`).
    pub replay: Option<bool>,
    /// When a claimed replay key is given back because forwarding failed: `unsent` (default: the request
    /// never left the gateway) or `any_failure` (also after a reset or a response timeout).
    #[schemars(extend("enum" = ["unsent", "any_failure"]))]
    pub replay_release: Option<Spanned<String>>,
    /// Development only: a 401 from this route carries the text the MAC had to cover (the signature base,
    /// canonical request or signed payload; never a MAC or a secret). Default `false`; `check` warns when on.
    pub debug_signature_base: Option<bool>,
    /// How old the signature's `created` may be, in seconds (default `300`).
    pub max_age: Option<Spanned<DurationSpec>>,
    /// How far ahead of this clock `created` may be, in seconds (default `30`).
    pub max_ahead: Option<Spanned<DurationSpec>>,
    /// Components the signature must cover (default `["@method", "@authority", "@path", "@query"]`);
    /// `content-digest` is added whenever there is a body.
    pub components: Option<Vec<Spanned<String>>>,
}

/// AWS Signature Version 4, in headers or a presigned URL.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifySigV4 {
    /// Ids of the consumers allowed on this route (at least one).
    #[serde(default)]
    #[schemars(required, length(min = 1))]
    pub consumers: Vec<Spanned<String>>,
    /// Accept each signature only once (default `true`).
    pub replay: Option<bool>,
    /// When a claimed replay key is given back because forwarding failed: `unsent` (default: the request
    /// never left the gateway) or `any_failure` (also after a reset or a response timeout).
    #[schemars(extend("enum" = ["unsent", "any_failure"]))]
    pub replay_release: Option<Spanned<String>>,
    /// Development only: a 401 from this route carries the text the MAC had to cover (the signature base,
    /// canonical request or signed payload; never a MAC or a secret). Default `false`; `check` warns when on.
    pub debug_signature_base: Option<bool>,
    /// How old `X-Amz-Date` may be, in seconds (default `900`).
    pub max_age: Option<Spanned<DurationSpec>>,
    /// How far ahead of this clock `X-Amz-Date` may be, in seconds (default `900`).
    pub max_ahead: Option<Spanned<DurationSpec>>,
    /// The service the credential scope must name, such as `execute-api` (`s3` selects S3's path rules). Required.
    #[schemars(required)]
    pub service: Option<Spanned<String>>,
    /// The region the credential scope must name, such as `eu-west-1`. Required.
    #[schemars(required)]
    pub region: Option<Spanned<String>>,
    /// Accept `x-amz-content-sha256: UNSIGNED-PAYLOAD`, leaving the body unsigned (default `false`).
    pub allow_unsigned_payload: Option<bool>,
    /// A presigned URL may be used again until `X-Amz-Expires`; header-signed requests stay single-use
    /// (default `false`).
    pub presigned_reuse: Option<bool>,
}

/// Kong's or APISIX's HMAC auth plugin signatures.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyCompat {
    /// Ids of the consumers allowed on this route (at least one).
    #[serde(default)]
    #[schemars(required, length(min = 1))]
    pub consumers: Vec<Spanned<String>>,
    /// Accept each signature only once (default `true`).
    pub replay: Option<bool>,
    /// When a claimed replay key is given back because forwarding failed: `unsent` (default: the request
    /// never left the gateway) or `any_failure` (also after a reset or a response timeout).
    #[schemars(extend("enum" = ["unsent", "any_failure"]))]
    pub replay_release: Option<Spanned<String>>,
    /// Development only: a 401 from this route carries the text the MAC had to cover (the signature base,
    /// canonical request or signed payload; never a MAC or a secret). Default `false`; `check` warns when on.
    pub debug_signature_base: Option<bool>,
    /// How old the signed `Date`/`X-Date` may be, in seconds (default `300`).
    pub max_age: Option<Spanned<DurationSpec>>,
    /// How far ahead of this clock the signed date may be, in seconds (default `300`).
    pub max_ahead: Option<Spanned<DurationSpec>>,
    /// Accepted algorithms: `hmac-sha256`, `hmac-sha384` (Kong), `hmac-sha512`, and `hmac-sha1` only when
    /// listed (default: all but `hmac-sha1`).
    pub algorithms: Option<Vec<Spanned<String>>>,
    /// Headers the signature must cover beyond the target and the date.
    pub enforce_headers: Option<Vec<Spanned<String>>>,
}

/// Webhooks of providers that sign a timestamp: Stripe, Slack, Standard Webhooks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyTimedWebhook {
    /// Names of the endpoint's secrets (at least one).
    #[serde(default)]
    #[schemars(required, length(min = 1))]
    pub secrets: Vec<Spanned<String>>,
    /// Sent upstream as `X-Consumer-ID` (default: the provider's name).
    pub consumer: Option<Spanned<String>>,
    /// Accept each signature only once (default `true`).
    pub replay: Option<bool>,
    /// When a claimed replay key is given back because forwarding failed: `unsent` (default: the request
    /// never left the gateway) or `any_failure` (also after a reset or a response timeout).
    #[schemars(extend("enum" = ["unsent", "any_failure"]))]
    pub replay_release: Option<Spanned<String>>,
    /// Development only: a 401 from this route carries the text the MAC had to cover (the signature base,
    /// canonical request or signed payload; never a MAC or a secret). Default `false`; `check` warns when on.
    pub debug_signature_base: Option<bool>,
    /// How old the signed timestamp may be, in seconds (default `300`).
    pub max_age: Option<Spanned<DurationSpec>>,
    /// How far ahead of this clock the signed timestamp may be, in seconds (default `300`).
    pub max_ahead: Option<Spanned<DurationSpec>>,
}

/// Webhooks of providers that sign no timestamp: GitHub, Shopify.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyUntimedWebhook {
    /// Names of the endpoint's secrets (at least one).
    #[serde(default)]
    #[schemars(required, length(min = 1))]
    pub secrets: Vec<Spanned<String>>,
    /// Sent upstream as `X-Consumer-ID` (default: the provider's name).
    pub consumer: Option<Spanned<String>>,
    /// Accept each signature only once (default `true`).
    pub replay: Option<bool>,
    /// When a claimed replay key is given back because forwarding failed: `unsent` (default: the request
    /// never left the gateway) or `any_failure` (also after a reset or a response timeout).
    #[schemars(extend("enum" = ["unsent", "any_failure"]))]
    pub replay_release: Option<Spanned<String>>,
    /// Development only: a 401 from this route carries the text the MAC had to cover (the signature base,
    /// canonical request or signed payload; never a MAC or a secret). Default `false`; `check` warns when on.
    pub debug_signature_base: Option<bool>,
    /// How long a delivery id is remembered against replays (default `3600`).
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

/// Sign with RFC 9421 HTTP Message Signatures (`hmac-sha256`) and a `Content-Digest`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRfc9421 {
    /// The keyid the host knows this key by, sent in `Signature-Input`. Required.
    #[schemars(required)]
    pub keyid: Option<Spanned<String>>,
    /// Name of the signing secret (under `secrets:`). Required.
    #[schemars(required)]
    pub secret: Option<Spanned<String>>,
    /// The signature's label (default `sig1`).
    pub label: Option<Spanned<String>>,
    /// Extra header fields to cover, beyond `@method @authority @path @query` (and `content-digest` with a body).
    pub components: Option<Vec<Spanned<String>>>,
}

/// Sign with AWS Signature Version 4.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignSigV4 {
    /// The AWS access key id. Required.
    #[schemars(required)]
    pub keyid: Option<Spanned<String>>,
    /// Name of the secret holding the secret access key (under `secrets:`). Required.
    #[schemars(required)]
    pub secret: Option<Spanned<String>>,
    /// The service to sign for, such as `execute-api` or `s3`. Required.
    #[schemars(required)]
    pub service: Option<Spanned<String>>,
    /// The credential scope's region, such as `eu-west-1`. Required.
    #[schemars(required)]
    pub region: Option<Spanned<String>>,
}

/// Sign as a webhook provider would.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignWebhook {
    /// Name of the signing secret (under `secrets:`); or `secrets`.
    pub secret: Option<Spanned<String>>,
    /// Several secret names: Stripe and Standard Webhooks carry one signature per secret (rotation);
    /// the others sign with the first.
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

thread_local! {
    static SCHEMES: RefCell<Option<Schemes>> = const { RefCell::new(None) };
}

/// Runs `parse` (the main pass over `text`) with every section's scheme
/// known first (`first_pass`). When the text is not YAML at all (the main
/// pass will say why), sections fall back to needing `scheme` first.
pub fn with_schemes<T>(text: &str, parse: impl FnOnce() -> T) -> T {
    SCHEMES.with(|slot| *slot.borrow_mut() = super::first_pass::schemes(text));
    let parsed = parse();
    SCHEMES.with(|slot| slot.borrow_mut().take());
    parsed
}

/// The next section's scheme from the first pass; `None` without a first pass.
fn next_scheme(key: &str) -> Option<SchemeSeen> {
    SCHEMES.with(|slot| {
        let mut slot = slot.borrow_mut();
        let schemes = slot.as_mut()?;
        if key == RawVerify::KEY { schemes.verify.pop_front() } else { schemes.sign.pop_front() }
    })
}

/// `verify:` or `sign:`: built from the scheme and the other keys.
trait SchemeSection: Sized {
    const KEY: &'static str;
    /// Reads the keys other than `scheme` (met anywhere: it goes to `scheme`).
    fn read_keys<'de, A: MapAccess<'de>>(
        map: &mut A,
        name: &str,
        scheme: &mut Option<Spanned<String>>,
    ) -> Result<Self, A::Error>;
}

impl SchemeSection for RawVerify {
    const KEY: &'static str = "verify";
    fn read_keys<'de, A: MapAccess<'de>>(
        map: &mut A,
        name: &str,
        scheme: &mut Option<Spanned<String>>,
    ) -> Result<Self, A::Error> {
        let mut renamed = Vec::new();
        let fields = verify_fields(map, SchemeName::parse(name), name, &mut renamed, scheme)?;
        Ok(Self { scheme: scheme.take().ok_or_else(|| missing_scheme::<A, Self>())?, fields, renamed })
    }
}

impl SchemeSection for RawSign {
    const KEY: &'static str = "sign";
    fn read_keys<'de, A: MapAccess<'de>>(
        map: &mut A,
        name: &str,
        scheme: &mut Option<Spanned<String>>,
    ) -> Result<Self, A::Error> {
        let fields = sign_fields(map, SchemeName::parse(name), name, scheme)?;
        Ok(Self { scheme: scheme.take().ok_or_else(|| missing_scheme::<A, Self>())?, fields })
    }
}

/// Reads the value of `scheme:` (met by the caller) into `slot`: its name.
fn read_scheme<'de, A: MapAccess<'de>>(map: &mut A, slot: &mut Option<Spanned<String>>) -> Result<String, A::Error> {
    let value: Spanned<String> = map.next_value()?;
    let name = value.value.clone();
    *slot = Some(value);
    Ok(name)
}

fn missing_scheme<'de, A: MapAccess<'de>, T: SchemeSection>() -> A::Error {
    de::Error::custom(format!("`{}:` needs a `scheme:` (it decides which keys the section takes)", T::KEY))
}

struct AuthVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: SchemeSection> Visitor<'de> for AuthVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping with a `scheme:`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut scheme = None;
        let name = match next_scheme(T::KEY) {
            Some(SchemeSeen::Text(name)) => name,
            Some(SchemeSeen::Missing) => return Err(missing_scheme::<A, T>()),
            // Not text: reading it as text reports what is wrong, where.
            Some(SchemeSeen::NotText) => loop {
                match map.next_key::<String>()? {
                    Some(key) if key == "scheme" => break read_scheme(&mut map, &mut scheme)?,
                    Some(_) => map.next_value::<IgnoredAny>().map(drop)?,
                    None => return Err(missing_scheme::<A, T>()),
                }
            },
            // No first pass: `scheme` must come first.
            None => match map.next_key::<String>()? {
                Some(key) if key == "scheme" => read_scheme(&mut map, &mut scheme)?,
                _ => return Err(missing_scheme::<A, T>()),
            },
        };
        T::read_keys(&mut map, &name, &mut scheme)
    }
}

fn verify_fields<'de, A: MapAccess<'de>>(
    map: &mut A,
    name: Option<SchemeName>,
    scheme: &str,
    renamed: &mut Vec<Renamed>,
    slot: &mut Option<Spanned<String>>,
) -> Result<VerifyFields, A::Error> {
    let renames = match name {
        Some(SchemeName::Webhook(p)) if !p.has_timestamp() => UNTIMED_RENAMES,
        _ => TIMED_RENAMES,
    };
    let keys = Keys { scheme, renames, slot: &mut *slot };
    Ok(match name {
        Some(SchemeName::Rfc9421) => VerifyFields::Rfc9421(read(map, keys, renamed)?),
        Some(SchemeName::AwsSigV4) => VerifyFields::AwsSigV4(read(map, keys, renamed)?),
        Some(SchemeName::Compat(d)) => VerifyFields::Compat(d, read(map, keys, renamed)?),
        Some(SchemeName::Webhook(p)) if p.has_timestamp() => VerifyFields::TimedWebhook(p, read(map, keys, renamed)?),
        Some(SchemeName::Webhook(p)) => VerifyFields::UntimedWebhook(p, read(map, keys, renamed)?),
        None => {
            skip_rest(map, slot)?;
            VerifyFields::Unknown
        }
    })
}

fn sign_fields<'de, A: MapAccess<'de>>(
    map: &mut A,
    name: Option<SchemeName>,
    scheme: &str,
    slot: &mut Option<Spanned<String>>,
) -> Result<SignFields, A::Error> {
    let mut none = Vec::new();
    let keys = Keys { scheme, renames: &[], slot: &mut *slot };
    Ok(match name {
        Some(SchemeName::Rfc9421) => SignFields::Rfc9421(read(map, keys, &mut none)?),
        Some(SchemeName::AwsSigV4) => SignFields::AwsSigV4(read(map, keys, &mut none)?),
        Some(SchemeName::Webhook(p)) => SignFields::Webhook(p, read(map, keys, &mut none)?),
        Some(SchemeName::Compat(_)) | None => {
            skip_rest(map, slot)?;
            SignFields::Unknown
        }
    })
}

/// Skips a section whose scheme nobody knows, keeping its `scheme:` value
/// (where the error is reported).
fn skip_rest<'de, A: MapAccess<'de>>(map: &mut A, slot: &mut Option<Spanned<String>>) -> Result<(), A::Error> {
    while let Some(key) = map.next_key::<String>()? {
        if key == "scheme" && slot.is_none() {
            *slot = Some(map.next_value()?);
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(())
}
