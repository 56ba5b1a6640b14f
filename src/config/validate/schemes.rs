//! The scheme part of a verify or sign policy: which fields each scheme
//! takes, their defaults, and the secrets they use.

use http::HeaderValue;
use serde_saphyr::Location;

use super::{Ctx, Secrets, lookup_secret};
use crate::config::raw::{DurationSpec, RawSign, RawVerify, Spanned};
use crate::config::{Secret, SignScheme, VerifyScheme, WebhookEndpoint};
use crate::scheme::compat::{Algorithm, Compat, Dialect};
use crate::scheme::sigv4::{PathRules, SigV4};
use crate::scheme::webhook::{self, Provider, Webhook};

pub const VERIFY_SCHEMES: &str = "rfc9421, aws-sigv4, kong, apisix, github, stripe, slack, standard-webhooks, shopify";
pub const SIGN_SCHEMES: &str = "rfc9421, aws-sigv4, github, stripe, slack, standard-webhooks, shopify";

const SIGV4_WINDOW_SECS: u64 = 900;
const COMPAT_SKEW_SECS: u64 = 300;
const WEBHOOK_TOLERANCE_SECS: u64 = 300;
const WEBHOOK_REPLAY_TTL_SECS: u64 = 3600;

/// Whether `scheme` looks keys up by key id among `consumers:`.
pub fn is_keyed(scheme: &str) -> bool {
    Provider::parse(scheme).is_none()
}

pub(super) fn verify_scheme(ctx: &mut Ctx<'_>, secrets: &Secrets, v: &RawVerify) -> Option<VerifyScheme> {
    let name = v.scheme.value.as_str();
    let webhook = Provider::parse(name);
    let only = |ok: bool, at: Option<Location>, field: &str, schemes: &str, ctx: &mut Ctx<'_>| {
        if let (false, Some(at)) = (ok, at) {
            ctx.at(at, format!("`{field}` does not apply to scheme `{name}` (only to {schemes})"));
        }
    };
    let loc = |s: &Option<Spanned<String>>| s.as_ref().map(|s| s.referenced);
    let list_loc = |s: &Option<Vec<Spanned<String>>>| s.as_ref().and_then(|l| l.first()).map(|s| s.referenced);
    let sigv4 = name == "aws-sigv4";
    let compat = matches!(name, "kong" | "apisix");
    only(sigv4, loc(&v.service), "service", "aws-sigv4", ctx);
    only(sigv4, loc(&v.region), "region", "aws-sigv4", ctx);
    only(sigv4, v.allow_unsigned_payload.as_ref().map(|a| a.referenced), "allow_unsigned_payload", "aws-sigv4", ctx);
    only(compat, list_loc(&v.algorithms), "algorithms", "kong, apisix", ctx);
    only(compat, list_loc(&v.enforce_headers), "enforce_headers", "kong, apisix", ctx);
    only(name == "rfc9421", list_loc(&v.components), "components", "rfc9421", ctx);
    let timestamped = webhook.is_some_and(Provider::has_timestamp);
    only(timestamped, v.tolerance.as_ref().map(|t| t.referenced), "tolerance", "stripe, slack, standard-webhooks", ctx);
    only(webhook.is_some(), list_loc(&v.secrets), "secrets", "webhook schemes", ctx);
    only(webhook.is_some(), loc(&v.consumer), "consumer", "webhook schemes (keyed schemes use `consumers`)", ctx);
    match name {
        "rfc9421" => Some(VerifyScheme::Rfc9421),
        "aws-sigv4" => build_sigv4(ctx, v).map(VerifyScheme::AwsSigV4),
        "kong" => build_compat(ctx, v, Dialect::Kong).map(VerifyScheme::Compat),
        "apisix" => build_compat(ctx, v, Dialect::Apisix).map(VerifyScheme::Compat),
        _ => match webhook {
            Some(provider) => build_webhook(ctx, secrets, v, provider).map(VerifyScheme::Webhook),
            None => {
                ctx.on(&v.scheme, format!("unknown scheme `{name}` (known: {VERIFY_SCHEMES})"));
                None
            }
        },
    }
}

fn seconds(d: Option<&Spanned<DurationSpec>>, default: u64) -> u64 {
    d.map_or(default, |d| d.value.0.as_secs())
}

/// A required text field of scheme `scheme`; reported at the scheme when
/// missing or empty.
fn required_text(
    ctx: &mut Ctx<'_>,
    field: Option<&Spanned<String>>,
    scheme: &Spanned<String>,
    what: &str,
) -> Option<String> {
    match field {
        Some(f) if !f.value.is_empty() => Some(f.value.clone()),
        _ => {
            ctx.on(scheme, format!("scheme `{}` needs `{what}`", scheme.value));
            None
        }
    }
}

/// The one `secret:` a sign route of an RFC 9421 or SigV4 scheme uses.
pub(super) fn single_secret<'s>(ctx: &mut Ctx<'_>, secrets: &'s Secrets, s: &RawSign) -> Option<&'s Secret> {
    match (&s.secret, &s.secrets) {
        (Some(one), None) => lookup_secret(ctx, secrets, one),
        _ => {
            ctx.on(&s.scheme, format!("scheme `{}` signs with one `secret:`", s.scheme.value));
            None
        }
    }
}

fn build_sigv4(ctx: &mut Ctx<'_>, v: &RawVerify) -> Option<SigV4> {
    let service = required_text(ctx, v.service.as_ref(), &v.scheme, "service").unwrap_or_default();
    let region = required_text(ctx, v.region.as_ref(), &v.scheme, "region").unwrap_or_default();
    Some(SigV4 {
        path: PathRules::for_service(&service),
        service,
        region,
        window: seconds(v.clock_skew.as_ref(), SIGV4_WINDOW_SECS),
        allow_unsigned_payload: v.allow_unsigned_payload.as_ref().is_some_and(|a| a.value),
    })
}

fn build_compat(ctx: &mut Ctx<'_>, v: &RawVerify, dialect: Dialect) -> Option<Compat> {
    let supported: &[&str] = match dialect {
        Dialect::Kong => &["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"],
        Dialect::Apisix => &["hmac-sha1", "hmac-sha256", "hmac-sha512"],
    };
    let algorithms = match &v.algorithms {
        // SHA-1 only when a route lists it.
        None => supported.iter().filter(|a| **a != "hmac-sha1").filter_map(|a| Algorithm::parse(a)).collect(),
        Some(list) => list
            .iter()
            .filter_map(|a| {
                let parsed = supported.contains(&a.value.as_str()).then(|| Algorithm::parse(&a.value)).flatten();
                if parsed.is_none() {
                    ctx.on(a, format!("unknown algorithm `{}` (known: {})", a.value, supported.join(", ")));
                }
                parsed
            })
            .collect(),
    };
    let enforce_headers =
        v.enforce_headers.iter().flatten().map(|h| h.value.to_ascii_lowercase()).collect::<Vec<String>>();
    Some(Compat { dialect, clock_skew: seconds(v.clock_skew.as_ref(), COMPAT_SKEW_SECS), algorithms, enforce_headers })
}

fn build_webhook(ctx: &mut Ctx<'_>, secrets: &Secrets, v: &RawVerify, provider: Provider) -> Option<WebhookEndpoint> {
    if !v.consumers.is_empty() {
        ctx.on(&v.consumers[0], format!("scheme `{}` takes `secrets:`, not `consumers:`", provider.name()));
    }
    let names = v.secrets.as_deref().unwrap_or_default();
    if names.is_empty() {
        ctx.on(&v.scheme, format!("scheme `{}` needs `secrets:` (one or more secret names)", provider.name()));
    }
    let keys = webhook_secrets(ctx, secrets, names, provider)?;
    let consumer = v.consumer.as_ref().map_or(provider.name(), |c| c.value.as_str());
    let Ok(consumer_id) = HeaderValue::from_str(consumer) else {
        ctx.on(v.consumer.as_ref()?, "consumer must be visible ASCII (it is sent in a header)");
        return None;
    };
    let scheme = Webhook {
        provider,
        tolerance: seconds(v.tolerance.as_ref(), WEBHOOK_TOLERANCE_SECS),
        replay_ttl: seconds(v.max_age.as_ref(), WEBHOOK_REPLAY_TTL_SECS),
    };
    Some(WebhookEndpoint { scheme, secrets: keys, consumer_id })
}

/// The named secrets as key bytes: Standard Webhooks secrets are
/// `whsec_` + base64 and are decoded; every other provider uses them as is.
fn webhook_secrets(
    ctx: &mut Ctx<'_>,
    secrets: &Secrets,
    names: &[Spanned<String>],
    provider: Provider,
) -> Option<Vec<Secret>> {
    let mut out = Vec::new();
    for name in names {
        let secret = lookup_secret(ctx, secrets, name)?;
        if provider != Provider::StandardWebhooks {
            out.push(secret.clone());
            continue;
        }
        match webhook::standard_webhooks_key(secret.expose()) {
            Some(key) => out.push(Secret::new(key)),
            None => {
                ctx.on(name, format!("secret `{}` is not a Standard Webhooks secret (whsec_ + base64)", name.value));
                return None;
            }
        }
    }
    Some(out)
}

/// The key id and scheme of a sign route.
pub(super) fn sign_scheme(ctx: &mut Ctx<'_>, secrets: &Secrets, s: &RawSign) -> Option<(String, SignScheme)> {
    let name = s.scheme.value.as_str();
    let keyid = s.keyid.as_ref().map(|k| k.value.clone()).unwrap_or_default();
    if let Some(provider) = Provider::parse(name) {
        if let Some(k) = &s.keyid {
            ctx.on(k, format!("scheme `{name}` has no keyid"));
        }
        let names: Vec<Spanned<String>> = s.secret.iter().chain(s.secrets.iter().flatten()).cloned().collect();
        if names.is_empty() {
            ctx.on(&s.scheme, format!("scheme `{name}` needs `secret:` or `secrets:`"));
        }
        let keys = webhook_secrets(ctx, secrets, &names, provider)?;
        return Some((keyid, SignScheme::Webhook { provider, secrets: keys }));
    }
    if keyid.is_empty() {
        ctx.on(s.keyid.as_ref().unwrap_or(&s.scheme), format!("scheme `{name}` needs a non-empty `keyid`"));
    }
    match name {
        "rfc9421" => None, // built by the caller, which owns labels and components
        "aws-sigv4" => {
            let service = required_text(ctx, s.service.as_ref(), &s.scheme, "service");
            let region = required_text(ctx, s.region.as_ref(), &s.scheme, "region");
            let secret = single_secret(ctx, secrets, s)?.clone();
            Some((keyid, SignScheme::AwsSigV4 { region: region?, service: service?, secret }))
        }
        other => {
            ctx.on(&s.scheme, format!("unknown scheme `{other}` (sign schemes: {SIGN_SCHEMES})"));
            None
        }
    }
}
