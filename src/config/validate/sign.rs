//! The sign part of a route: each scheme's own raw struct → the typed
//! [`SignPolicy`].

use super::schemes::{check_component_count, default_components, parse_components, required_text, webhook_secrets};
use super::{Ctx, Secrets, lookup_secret, prepared_mac};
use crate::config::raw::{RawSign, SchemeName, SignFields, SignRfc9421, SignSigV4, SignWebhook, Spanned};
use crate::config::{Secret, SignPolicy, SignScheme};
use crate::scheme::webhook::Provider;

pub(super) fn sign_policy(ctx: &mut Ctx<'_>, secrets: &Secrets, s: &RawSign) -> Option<SignPolicy> {
    match &s.fields {
        SignFields::Rfc9421(f) => rfc9421(ctx, secrets, s, f),
        SignFields::AwsSigV4(f) => sigv4(ctx, secrets, s, f),
        SignFields::Webhook(provider, f) => webhook(ctx, secrets, s, *provider, f),
        SignFields::Unknown => {
            let known = SchemeName::names(true);
            let why = match SchemeName::parse(&s.scheme.value) {
                Some(_) => format!("scheme `{}` only verifies (sign schemes: {known})", s.scheme.value),
                None => format!("unknown scheme `{}` (sign schemes: {known})", s.scheme.value),
            };
            ctx.on(&s.scheme, why);
            None
        }
    }
}

/// The non-empty key id an RFC 9421 or SigV4 sign route sends.
fn keyid(ctx: &mut Ctx<'_>, raw: Option<&Spanned<String>>, scheme: &Spanned<String>) -> Option<String> {
    match raw {
        Some(k) if !k.value.is_empty() => Some(k.value.clone()),
        _ => {
            ctx.on(raw.unwrap_or(scheme), format!("scheme `{}` needs a non-empty `keyid`", scheme.value));
            None
        }
    }
}

/// The one `secret:` an RFC 9421 or SigV4 sign route uses.
fn single_secret<'s>(
    ctx: &mut Ctx<'_>,
    secrets: &'s Secrets,
    raw: Option<&Spanned<String>>,
    scheme: &Spanned<String>,
) -> Option<&'s Secret> {
    match raw {
        Some(name) => lookup_secret(ctx, secrets, name),
        None => {
            ctx.on(scheme, format!("scheme `{}` needs `secret:`", scheme.value));
            None
        }
    }
}

fn rfc9421(ctx: &mut Ctx<'_>, secrets: &Secrets, s: &RawSign, f: &SignRfc9421) -> Option<SignPolicy> {
    let secret = single_secret(ctx, secrets, f.secret.as_ref(), &s.scheme);
    let keyid = keyid(ctx, f.keyid.as_ref(), &s.scheme);
    let mut components = default_components();
    for extra in f.components.as_ref().map(|c| parse_components(ctx, c)).unwrap_or_default() {
        if !components.contains(&extra) {
            components.push(extra);
        }
    }
    check_component_count(ctx, f.components.as_ref(), &components);
    let label = f.label.as_ref().map_or("sig1".to_owned(), |l| l.value.clone());
    if sfv::KeyRef::from_str(&label).is_err() {
        let at = f.label.as_ref().map_or(s.scheme.referenced, |l| l.referenced);
        ctx.at(at, format!("label `{label}` must be a lowercase structured-field key (e.g. sig1)"));
    }
    let scheme = SignScheme::Rfc9421 { label, components, mac: prepared_mac(secret?) };
    Some(SignPolicy { keyid: keyid?, scheme })
}

fn sigv4(ctx: &mut Ctx<'_>, secrets: &Secrets, s: &RawSign, f: &SignSigV4) -> Option<SignPolicy> {
    let keyid = keyid(ctx, f.keyid.as_ref(), &s.scheme);
    let service = required_text(ctx, f.service.as_ref(), &s.scheme, "service");
    let region = required_text(ctx, f.region.as_ref(), &s.scheme, "region");
    let secret = single_secret(ctx, secrets, f.secret.as_ref(), &s.scheme)?.clone();
    let scheme = SignScheme::AwsSigV4 { region: region?, service: service?, secret };
    Some(SignPolicy { keyid: keyid?, scheme })
}

fn webhook(
    ctx: &mut Ctx<'_>,
    secrets: &Secrets,
    s: &RawSign,
    provider: Provider,
    f: &SignWebhook,
) -> Option<SignPolicy> {
    let names: Vec<Spanned<String>> = f.secret.iter().chain(f.secrets.iter().flatten()).cloned().collect();
    if names.is_empty() {
        ctx.on(&s.scheme, format!("scheme `{}` needs `secret:` or `secrets:`", provider.name()));
    }
    let keys = webhook_secrets(ctx, secrets, &names, provider)?;
    Some(SignPolicy { keyid: String::new(), scheme: SignScheme::Webhook { provider, secrets: keys } })
}
