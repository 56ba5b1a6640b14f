//! Secrets and consumers: reading each secret once, the length rule for
//! keys, and the consumer keys prepared for verification.

use std::collections::{HashMap, HashSet};

use super::{Ctx, known};
use crate::config::raw::{RawConfig, RawConsumer, RawKey, RawSecret, SignFields, Spanned, VerifyFields};
use crate::config::secret::{self, Encoding, Secret, SecretSource};
use crate::config::{Consumer, ConsumerKey, KeyStore};
use crate::scheme::rfc9421::HmacSha256;

pub(super) type Secrets = Vec<(String, (SecretSource, Secret))>;

pub(super) fn build_secrets(ctx: &mut Ctx<'_>, raw: &RawConfig) -> Secrets {
    let provider_only = provider_only_secrets(raw);
    let mut out: Secrets = Vec::new();
    for (name, s) in &raw.secrets.0 {
        if out.iter().any(|(n, _)| *n == name.value) {
            ctx.on(name, format!("duplicate secret name `{}`", name.value));
            continue;
        }
        // A Redis URL or password kept as a secret is not an HMAC key, and a provider's
        // webhook secret has the provider's format (its length is warned
        // about once decoded): no minimum for those.
        let not_a_key = raw.replay.as_ref().is_some_and(|r| {
            [&r.url_secret, &r.nodes_secret, &r.password_secret].into_iter().flatten().any(|u| u.value == name.value)
        });
        let min_bytes =
            if not_a_key || provider_only.contains(name.value.as_str()) { 1 } else { secret::MIN_KEY_BYTES };
        if let Some(resolved) = build_secret(ctx, name, s, min_bytes) {
            if s.encoding.is_none() && min_bytes == secret::MIN_KEY_BYTES {
                warn_if_base64_as_text(ctx, &name.value, &resolved.1);
            }
            out.push((name.value.clone(), resolved));
        }
    }
    out
}

/// A key left as text (no `encoding:`) that is all base64 is most likely
/// meant as base64 (`keygen` prints base64): as text, every client that
/// decodes it signs with another key, and every request fails with
/// `invalid_signature`. Loud, not refused: a text key may look like base64.
fn warn_if_base64_as_text(ctx: &mut Ctx<'_>, name: &str, key: &Secret) {
    if let Some(decoded) = secret::looks_like_base64(key.expose()).filter(|n| *n >= secret::MIN_KEY_BYTES) {
        ctx.warn(format!(
            "secret `{name}` is used as {} bytes of text, but it is base64 of a {decoded}-byte key: add \
             `encoding: base64` if it is (as `hmac-gateway keygen` prints keys), or `encoding: utf8` to keep \
             it as text and silence this warning",
            key.expose().len()
        ));
    }
}

/// Secrets used only by webhook providers' schemes, never as a consumer key
/// or an RFC 9421 / SigV4 signing key.
fn provider_only_secrets(raw: &RawConfig) -> HashSet<&str> {
    let mut provider = HashSet::new();
    let mut keyed: HashSet<&str> = raw
        .consumers
        .iter()
        .flat_map(|c| &c.keys)
        .flat_map(|k| k.secret.iter().chain(k.secrets.iter().flatten()))
        .map(|s| s.value.as_str())
        .collect();
    for route in &raw.routes {
        match route.verify.as_ref().map(|v| &v.fields) {
            Some(VerifyFields::TimedWebhook(_, f)) => provider.extend(f.secrets.iter().map(|s| s.value.as_str())),
            Some(VerifyFields::UntimedWebhook(_, f)) => provider.extend(f.secrets.iter().map(|s| s.value.as_str())),
            _ => {}
        }
        match route.sign.as_ref().map(|s| &s.fields) {
            Some(SignFields::Webhook(_, f)) => {
                provider.extend(f.secret.iter().chain(f.secrets.iter().flatten()).map(|s| s.value.as_str()));
            }
            Some(SignFields::Rfc9421(f)) => keyed.extend(f.secret.iter().map(|s| s.value.as_str())),
            Some(SignFields::AwsSigV4(f)) => keyed.extend(f.secret.iter().map(|s| s.value.as_str())),
            _ => {}
        }
    }
    provider.retain(|name| !keyed.contains(name));
    provider
}

fn build_secret(
    ctx: &mut Ctx<'_>,
    name: &Spanned<String>,
    s: &RawSecret,
    min_bytes: usize,
) -> Option<(SecretSource, Secret)> {
    let sources = [s.value.is_some(), s.env.is_some(), s.file.is_some()];
    if sources.iter().filter(|x| **x).count() != 1 {
        ctx.on(name, format!("secret `{}` needs exactly one of `value`, `env` or `file`", name.value));
        return None;
    }
    let source = match (&s.env, &s.file) {
        (Some(var), _) => SecretSource::Env(var.value.clone()),
        (_, Some(path)) => SecretSource::File(path.value.clone()),
        _ => SecretSource::Inline,
    };
    let encoding = match &s.encoding {
        None => Encoding::Utf8,
        Some(e) => match Encoding::parse(&e.value) {
            Ok(enc) => enc,
            Err(why) => {
                ctx.on(e, why);
                return None;
            }
        },
    };
    if let SecretSource::File(path) = &source {
        ctx.depend_on(path);
    }
    let inline = s.value.as_ref().map(|v| v.value.as_str());
    match secret::resolve(&source, inline, encoding, ctx.inputs, min_bytes) {
        Ok(secret) => {
            if source == SecretSource::Inline {
                ctx.warnings.push(format!(
                    "secret `{}` is written inline in the config: fine for a demo, use `env:` or `file:` in production",
                    name.value
                ));
            }
            Some((source, secret))
        }
        Err(why) => {
            ctx.on(name, format!("secret `{}`: {why}", name.value));
            None
        }
    }
}

pub(super) fn lookup_secret<'s>(ctx: &mut Ctx<'_>, secrets: &'s Secrets, name: &Spanned<String>) -> Option<&'s Secret> {
    let found = secrets.iter().find(|(n, _)| *n == name.value).map(|(_, (_, s))| s);
    if found.is_none() {
        let names = known(secrets.iter().map(|(n, _)| n.as_str()));
        ctx.on(
            name,
            format!("unknown secret `{}` ({names}; a secret that failed to load is reported above)", name.value),
        );
    }
    found
}

pub(super) fn prepared_mac(secret: &Secret) -> HmacSha256 {
    // The minimum key length is enforced when secrets load.
    crate::scheme::keyed::hmac(secret.expose())
}

fn header_value(ctx: &mut Ctx<'_>, s: &Spanned<String>, what: &str) -> Option<http::HeaderValue> {
    let value = http::HeaderValue::from_str(&s.value).ok();
    if value.is_none() {
        ctx.on(s, format!("{what} `{}` must be visible ASCII (it is sent in a header)", s.value));
    }
    value
}

pub(super) fn build_consumers(ctx: &mut Ctx<'_>, raw: &[RawConsumer], secrets: &Secrets) -> (Vec<Consumer>, KeyStore) {
    let mut consumers: Vec<Consumer> = Vec::new();
    let mut keys = HashMap::new();
    for c in raw {
        if consumers.iter().any(|o| o.id == c.id.value) {
            ctx.on(&c.id, format!("duplicate consumer id `{}`", c.id.value));
            continue;
        }
        if c.keys.is_empty() {
            ctx.on(&c.id, format!("consumer `{}` has no keys", c.id.value));
        }
        let index = consumers.len();
        let consumer_id = header_value(ctx, &c.id, "consumer id");
        let mut keyids = Vec::new();
        for k in &c.keys {
            if keys.contains_key(&k.keyid.value) {
                ctx.on(
                    &k.keyid,
                    format!("keyid `{}` is used twice; keyids must be unique across consumers", k.keyid.value),
                );
                continue;
            }
            let key_secrets = key_secrets(ctx, secrets, k);
            let keyid = header_value(ctx, &k.keyid, "keyid");
            if let (Some(key_secrets), Some(keyid), Some(consumer_id)) = (key_secrets, keyid, consumer_id.clone()) {
                let macs = key_secrets.iter().map(prepared_mac).collect();
                let key = ConsumerKey { consumer: index, consumer_id, keyid, secrets: key_secrets, macs };
                keys.insert(k.keyid.value.clone(), key);
                keyids.push(k.keyid.value.clone());
            }
        }
        consumers.push(Consumer { id: c.id.value.clone(), keyids });
    }
    (consumers, KeyStore(keys))
}

/// A key's `secret:` or `secrets:` (exactly one of them).
fn key_secrets(ctx: &mut Ctx<'_>, secrets: &Secrets, key: &RawKey) -> Option<Vec<Secret>> {
    let names: Vec<&Spanned<String>> = match (&key.secret, &key.secrets) {
        (Some(one), None) => vec![one],
        (None, Some(many)) if !many.is_empty() => many.iter().collect(),
        _ => {
            ctx.on(&key.keyid, format!("key `{}` needs exactly one of `secret` or `secrets`", key.keyid.value));
            return None;
        }
    };
    let found: Vec<Option<Secret>> = names.into_iter().map(|n| lookup_secret(ctx, secrets, n).cloned()).collect();
    found.into_iter().collect()
}
