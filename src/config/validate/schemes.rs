//! The verify part of a route: each scheme's own raw struct → the typed
//! [`VerifyPolicy`]. Defaults for every scheme are in [`defaults`].

use std::time::Duration;

use http::HeaderValue;

use super::routes::Env;
use super::{Ctx, Secrets, known, lookup_secret};
use crate::config::raw::{
    DurationSpec, RawVerify, ReplayFields, Spanned, VerifyCompat, VerifyFields, VerifyRfc9421, VerifySigV4,
    VerifyUntimedWebhook,
};
use crate::config::{ReplayRelease, Rfc9421Rules, Secret, VerifyPolicy, VerifyScheme, WebhookEndpoint, defaults};
use crate::scheme::compat::{Algorithm, Compat, Dialect};
use crate::scheme::rfc9421::Component;
use crate::scheme::sigv4::{PathRules, SigV4};
use crate::scheme::webhook::{self, Provider, Webhook};
use crate::scheme::{Window, caps};

/// Every scheme's defaults, in one place.
pub(super) fn verify_policy(ctx: &mut Ctx<'_>, env: &Env<'_>, v: &RawVerify) -> Option<VerifyPolicy> {
    for renamed in &v.renamed {
        ctx.at(renamed.at, renamed.message.clone());
    }
    let (scheme, consumers) = match &v.fields {
        VerifyFields::Rfc9421(f) => (rfc9421(ctx, f).map(VerifyScheme::Rfc9421), Some(&f.consumers)),
        VerifyFields::AwsSigV4(f) => (sigv4(ctx, v, f).map(VerifyScheme::AwsSigV4), Some(&f.consumers)),
        VerifyFields::Compat(d, f) => (Some(VerifyScheme::Compat(compat(ctx, f, *d))), Some(&f.consumers)),
        VerifyFields::TimedWebhook(p, f) => {
            let window = window(ctx, &f.max_age, &f.max_ahead, defaults::WEBHOOK);
            let hook = Webhook { provider: *p, window, replay_ttl: Duration::ZERO };
            (endpoint(ctx, env.secrets, hook, &f.secrets, f.consumer.as_ref(), &v.scheme), None)
        }
        VerifyFields::UntimedWebhook(p, f) => {
            let replay_ttl = replay_ttl(ctx, f);
            let hook = Webhook { provider: *p, window: defaults::WEBHOOK, replay_ttl };
            (endpoint(ctx, env.secrets, hook, &f.secrets, f.consumer.as_ref(), &v.scheme), None)
        }
        VerifyFields::Unknown => {
            let known = crate::config::raw::SchemeName::names(false);
            ctx.on(&v.scheme, format!("unknown scheme `{}` (known: {known})", v.scheme.value));
            return None;
        }
    };
    let consumers = consumers.map(|list| consumer_indices(ctx, env, list, &v.scheme)).unwrap_or_default();
    let replay = replay_fields(&v.fields)?;
    Some(VerifyPolicy {
        scheme: scheme?,
        consumers,
        replay: replay.replay().unwrap_or(true),
        replay_release: replay_release(ctx, replay.replay_release()),
        debug_signature_base: replay.debug_signature_base().unwrap_or(false),
    })
}

fn replay_fields(fields: &VerifyFields) -> Option<&dyn ReplayFields> {
    Some(match fields {
        VerifyFields::Rfc9421(f) => f,
        VerifyFields::AwsSigV4(f) => f,
        VerifyFields::Compat(_, f) => f,
        VerifyFields::TimedWebhook(_, f) => f,
        VerifyFields::UntimedWebhook(_, f) => f,
        VerifyFields::Unknown => return None,
    })
}

fn replay_release(ctx: &mut Ctx<'_>, raw: Option<&Spanned<String>>) -> ReplayRelease {
    match raw.map(|r| (r, r.value.as_str())) {
        None | Some((_, "unsent")) => ReplayRelease::Unsent,
        Some((_, "any_failure")) => ReplayRelease::AnyFailure,
        Some((r, other)) => {
            ctx.on(r, format!("unknown replay_release `{other}` (known: unsent, any_failure)"));
            ReplayRelease::Unsent
        }
    }
}

/// Keyed schemes name the consumers allowed on the route.
fn consumer_indices(ctx: &mut Ctx<'_>, env: &Env<'_>, raw: &[Spanned<String>], scheme: &Spanned<String>) -> Vec<usize> {
    if raw.is_empty() {
        ctx.on(scheme, "verify.consumers must name at least one consumer");
    }
    let mut out = Vec::new();
    for c in raw {
        match env.consumers.iter().position(|k| k.id == c.value) {
            Some(i) => out.push(i),
            None => {
                let names = known(env.consumers.iter().map(|k| k.id.as_str()));
                ctx.on(c, format!("unknown consumer `{}` ({names})", c.value));
            }
        }
    }
    out
}

/// A time bound: whole seconds, at least one (every scheme signs
/// timestamps in seconds, so a fraction could not be honoured).
pub(super) fn seconds(ctx: &mut Ctx<'_>, raw: Option<&Spanned<DurationSpec>>, default: Duration) -> Duration {
    let Some(raw) = raw else { return default };
    let d = raw.value.0;
    if d.subsec_nanos() != 0 || d.is_zero() {
        ctx.on(raw, format!("{d:?} cannot be honoured: use whole seconds, at least 1s (timestamps are in seconds)"));
        return default;
    }
    d
}

fn window(
    ctx: &mut Ctx<'_>,
    max_age: &Option<Spanned<DurationSpec>>,
    max_ahead: &Option<Spanned<DurationSpec>>,
    default: Window,
) -> Window {
    Window {
        max_age: seconds(ctx, max_age.as_ref(), default.max_age),
        max_ahead: seconds(ctx, max_ahead.as_ref(), default.max_ahead),
    }
}

fn replay_ttl(ctx: &mut Ctx<'_>, f: &VerifyUntimedWebhook) -> Duration {
    seconds(ctx, f.replay_ttl.as_ref(), defaults::WEBHOOK_REPLAY_TTL)
}

fn rfc9421(ctx: &mut Ctx<'_>, f: &VerifyRfc9421) -> Option<Rfc9421Rules> {
    let window = window(ctx, &f.max_age, &f.max_ahead, defaults::RFC9421);
    let required = f.components.as_ref().map_or_else(default_components, |c| parse_components(ctx, c));
    check_component_count(ctx, f.components.as_ref(), &required);
    let accept_signature = accept_signature(&required, f.replay.unwrap_or(true));
    Some(Rfc9421Rules { window, required, accept_signature })
}

pub(super) fn parse_components(ctx: &mut Ctx<'_>, raw: &[Spanned<String>]) -> Vec<Component> {
    let mut out: Vec<Component> = Vec::new();
    for c in raw {
        match Component::parse(&c.value) {
            Ok(comp) if !out.contains(&comp) => out.push(comp),
            Ok(_) => ctx.on(c, format!("component `{}` is listed twice", c.value)),
            Err(why) => ctx.on(c, why),
        }
    }
    out
}

/// A signature covers at most [`caps::MAX_COMPONENTS`] components, one
/// place kept for `content-digest`: a route needing more could never verify.
pub(super) fn check_component_count(ctx: &mut Ctx<'_>, raw: Option<&Vec<Spanned<String>>>, components: &[Component]) {
    let max = caps::MAX_COMPONENTS - 1;
    let digest = Component::content_digest();
    let count = components.iter().filter(|c| **c != digest).count();
    if let Some(first) = raw.and_then(|r| r.first())
        && count > max
    {
        ctx.on(first, format!("{count} components: a signature covers at most {max} besides content-digest"));
    }
}

pub(super) fn default_components() -> Vec<Component> {
    defaults::COMPONENTS.to_vec()
}

/// `sig1=("@method" ...);created;nonce;alg="hmac-sha256"` (RFC 9421 section 5.1).
fn accept_signature(required: &[Component], replay: bool) -> HeaderValue {
    let ids: Vec<String> = required.iter().map(|c| format!("\"{}\"", c.name())).collect();
    let nonce = if replay { ";nonce" } else { "" };
    let text = format!("sig1=({});created{nonce};alg=\"hmac-sha256\"", ids.join(" "));
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("sig1=();created"))
}

/// A required text field of scheme `scheme`; reported at the scheme when
/// missing or empty.
pub(super) fn required_text(
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

fn sigv4(ctx: &mut Ctx<'_>, v: &RawVerify, f: &VerifySigV4) -> Option<SigV4> {
    let service = required_text(ctx, f.service.as_ref(), &v.scheme, "service");
    let region = required_text(ctx, f.region.as_ref(), &v.scheme, "region");
    let window = window(ctx, &f.max_age, &f.max_ahead, defaults::SIGV4);
    let service = service?;
    Some(SigV4 {
        path: PathRules::for_service(&service),
        service,
        region: region?,
        window,
        allow_unsigned_payload: f.allow_unsigned_payload.unwrap_or(false),
        presigned_reuse: f.presigned_reuse.unwrap_or(false),
    })
}

fn compat(ctx: &mut Ctx<'_>, f: &VerifyCompat, dialect: Dialect) -> Compat {
    let supported: &[&str] = match dialect {
        Dialect::Kong => &["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"],
        Dialect::Apisix => &["hmac-sha1", "hmac-sha256", "hmac-sha512"],
    };
    let algorithms = match &f.algorithms {
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
    let enforce_headers = f.enforce_headers.iter().flatten().map(|h| h.value.to_ascii_lowercase()).collect();
    let window = window(ctx, &f.max_age, &f.max_ahead, defaults::COMPAT);
    Compat { dialect, window, algorithms, enforce_headers }
}

fn endpoint(
    ctx: &mut Ctx<'_>,
    secrets: &Secrets,
    scheme: Webhook,
    names: &[Spanned<String>],
    consumer: Option<&Spanned<String>>,
    at: &Spanned<String>,
) -> Option<VerifyScheme> {
    let provider = scheme.provider;
    if names.is_empty() {
        ctx.on(at, format!("scheme `{}` needs `secrets:` (one or more secret names)", provider.name()));
    }
    let keys = webhook_secrets(ctx, secrets, names, provider)?;
    let consumer_id = match consumer {
        None => HeaderValue::from_static(provider.name()),
        Some(c) => match HeaderValue::from_str(&c.value) {
            Ok(v) => v,
            Err(_) => {
                ctx.on(c, "consumer must be visible ASCII (it is sent in a header)");
                return None;
            }
        },
    };
    Some(VerifyScheme::Webhook(WebhookEndpoint { scheme, secrets: keys, consumer_id }))
}

/// The named secrets as key bytes: Standard Webhooks secrets are
/// `whsec_` + base64 and are decoded; every other provider uses them as is.
/// The provider chose the format, so a short key is a warning, not an error.
pub(super) fn webhook_secrets(
    ctx: &mut Ctx<'_>,
    secrets: &Secrets,
    names: &[Spanned<String>],
    provider: Provider,
) -> Option<Vec<Secret>> {
    let mut out = Vec::new();
    for name in names {
        let secret = lookup_secret(ctx, secrets, name)?;
        let key = if provider == Provider::StandardWebhooks {
            let Some(key) = webhook::standard_webhooks_key(secret.expose()) else {
                ctx.on(name, format!("secret `{}` is not a Standard Webhooks secret (whsec_ + base64)", name.value));
                return None;
            };
            Secret::new(key)
        } else {
            secret.clone()
        };
        // An empty key would let anyone sign; Standard Webhooks' own spec
        // asks for 24 to 64 bytes. Past that, the provider's format rules.
        let len = key.expose().len();
        let too_short = if provider == Provider::StandardWebhooks { len < 24 } else { len == 0 };
        if too_short {
            ctx.on(
                name,
                format!("secret `{}` gives a {len}-byte {} key, too short to sign with", name.value, provider.name()),
            );
            return None;
        }
        if key.expose().len() < crate::config::secret::MIN_KEY_BYTES {
            ctx.warn(format!(
                "secret `{}` gives a {}-byte {} key; {} or more is recommended (the provider sets the format, so it is accepted)",
                name.value,
                key.expose().len(),
                provider.name(),
                crate::config::secret::MIN_KEY_BYTES
            ));
        }
        out.push(key);
    }
    Some(out)
}
