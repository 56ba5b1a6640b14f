//! `replay:` → [`ReplaySettings`]: the memory store, or Redis (one server
//! or a cluster) with its credentials and TLS. Messages never quote a URL
//! or a password: either may come from a secret.

use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo as _};
use serde_saphyr::Location;
use zeroize::Zeroizing;

use super::secrets::{Secrets, lookup_secret};
use super::{Ctx, upstreams};
use crate::config::raw::{RawConfig, RawReplay, Spanned};
use crate::config::{
    ClientIdentity, OnError, RedactedString, RedisSettings, RedisTls, RedisTopology, ReplaySettings, ReplayStoreKind,
    defaults,
};
use crate::tls::Pem;

pub(super) fn build(ctx: &mut Ctx<'_>, raw: &RawConfig, secrets: &Secrets) -> ReplaySettings {
    let mut settings = ReplaySettings { store: ReplayStoreKind::Memory, capacity: defaults::REPLAY_CAPACITY };
    let Some(replay) = &raw.replay else { return settings };
    if let Some(cap) = &replay.capacity {
        match usize::try_from(cap.value) {
            Ok(n) if n > 0 => settings.capacity = n,
            _ => ctx.on(cap, "replay capacity must be a positive number of entries"),
        }
    }
    let store = replay.store.as_ref().map_or("memory", |s| s.value.as_str());
    match store {
        "memory" => memory_only(ctx, replay),
        "redis" | "redis-cluster" => {
            let cluster = store == "redis-cluster";
            if let Some(redis) = redis(ctx, replay, secrets, cluster) {
                settings.store = ReplayStoreKind::Redis(Box::new(redis));
            }
        }
        other => {
            ctx.at(store_at(replay), format!("unknown replay store `{other}` (known: memory, redis, redis-cluster)"));
        }
    }
    settings
}

/// Where `store:` is written (a Redis store always has one).
fn store_at(replay: &RawReplay) -> Location {
    replay.store.as_ref().map_or(Location::UNKNOWN, |s| s.referenced)
}

/// Redis keys under `store: memory` are a mistake worth naming.
fn memory_only(ctx: &mut Ctx<'_>, replay: &RawReplay) {
    if let Some((key, at)) = redis_keys(replay).into_iter().next() {
        let message = match replay.store {
            Some(_) => format!("`{key}` applies to a redis store; this one is `store: memory`"),
            None => format!("`{key}` applies to a redis store: add `store: redis` (without `store:` it is `memory`)"),
        };
        ctx.at(at, message);
    }
}

fn redis_keys(replay: &RawReplay) -> Vec<(&'static str, Location)> {
    let strings = [
        ("url", &replay.url),
        ("url_secret", &replay.url_secret),
        ("nodes_secret", &replay.nodes_secret),
        ("username", &replay.username),
        ("password_secret", &replay.password_secret),
        ("ca", &replay.ca),
        ("client_cert", &replay.client_cert),
        ("client_key", &replay.client_key),
        ("on_error", &replay.on_error),
    ];
    let mut keys: Vec<_> = strings.into_iter().filter_map(|(k, v)| v.as_ref().map(|v| (k, v.referenced))).collect();
    keys.extend(replay.nodes.as_ref().map(|n| ("nodes", n.referenced)));
    keys
}

/// The URLs as configured, and where to point at them in messages.
struct Addresses {
    urls: Vec<String>,
    at: Location,
}

fn redis(ctx: &mut Ctx<'_>, replay: &RawReplay, secrets: &Secrets, cluster: bool) -> Option<RedisSettings> {
    let addresses = if cluster { cluster_nodes(ctx, replay, secrets) } else { single_url(ctx, replay, secrets) }?;
    let parsed = parse_urls(ctx, &addresses, cluster)?;
    let tls = parsed.iter().all(|info| matches!(info.addr(), ConnectionAddr::TcpTls { .. }));
    let (username, password) = credentials(ctx, replay, secrets, &parsed)?;
    let tls = if tls { Some(tls_settings(ctx, replay)?) } else { plain_without_tls_keys(ctx, replay)? };
    let urls = addresses.urls.into_iter().map(RedactedString::new);
    let topology =
        if cluster { RedisTopology::Cluster(urls.collect()) } else { RedisTopology::Single(urls.into_iter().next()?) };
    Some(RedisSettings {
        topology,
        username,
        password,
        tls,
        key_prefix: replay.key_prefix.clone().unwrap_or_else(|| defaults::REDIS_KEY_PREFIX.into()),
        on_error: on_error(ctx, replay),
        timeout: redis_timeout(ctx, replay),
    })
}

fn redis_timeout(ctx: &mut Ctx<'_>, replay: &RawReplay) -> Duration {
    let mut timeout = defaults::REDIS_TIMEOUT;
    super::set_timeout(ctx, replay.timeout.as_ref(), &mut timeout);
    timeout
}

fn single_url(ctx: &mut Ctx<'_>, replay: &RawReplay, secrets: &Secrets) -> Option<Addresses> {
    if let Some(n) = &replay.nodes_secret {
        ctx.on(n, "`nodes_secret` is for `store: redis-cluster`; one server takes `url` or `url_secret`");
    }
    if let Some(n) = &replay.nodes {
        ctx.on(n, "`nodes` is for `store: redis-cluster`; one server takes `url` or `url_secret`");
    }
    match (&replay.url, &replay.url_secret) {
        (Some(url), None) => Some(Addresses { urls: vec![url.value.clone()], at: url.referenced }),
        (None, Some(name)) => {
            let text = secret_text(ctx, secrets, name, "a redis URL")?;
            Some(Addresses { urls: vec![text.trim().to_owned()], at: name.referenced })
        }
        _ => {
            ctx.at(store_at(replay), "a redis replay store needs exactly one of `url` or `url_secret`");
            None
        }
    }
}

fn cluster_nodes(ctx: &mut Ctx<'_>, replay: &RawReplay, secrets: &Secrets) -> Option<Addresses> {
    for (key, value) in [("url", &replay.url), ("url_secret", &replay.url_secret)] {
        if let Some(v) = value {
            ctx.on(v, format!("`{key}` is for `store: redis`; a cluster takes `nodes` or `nodes_secret`"));
        }
    }
    let addresses = match (&replay.nodes, &replay.nodes_secret) {
        (Some(nodes), None) => Addresses { urls: nodes.value.clone(), at: nodes.referenced },
        (None, Some(name)) => {
            let text = secret_text(ctx, secrets, name, "a list of redis URLs")?;
            let urls = text.split(|c: char| c.is_whitespace() || c == ',').filter(|u| !u.is_empty());
            Addresses { urls: urls.map(str::to_owned).collect(), at: name.referenced }
        }
        _ => {
            ctx.at(store_at(replay), "a redis-cluster replay store needs exactly one of `nodes` or `nodes_secret`");
            return None;
        }
    };
    if addresses.urls.is_empty() {
        ctx.at(addresses.at, "a redis cluster needs at least one node URL");
        return None;
    }
    Some(addresses)
}

/// A secret's value as text. Never falls back to the memory store
/// silently: a secret that is not text is an error.
fn secret_text(ctx: &mut Ctx<'_>, secrets: &Secrets, name: &Spanned<String>, what: &str) -> Option<Zeroizing<String>> {
    let secret = lookup_secret(ctx, secrets, name)?;
    match std::str::from_utf8(secret.expose()) {
        Ok(text) => Some(Zeroizing::new(text.to_owned())),
        Err(_) => {
            ctx.on(name, format!("secret `{}` is not UTF-8 text, so not {what}", name.value));
            None
        }
    }
}

fn parse_urls(ctx: &mut Ctx<'_>, addresses: &Addresses, cluster: bool) -> Option<Vec<ConnectionInfo>> {
    let schemes = if cluster { "redis:// or rediss://" } else { "redis://, rediss:// or redis+unix://" };
    let mut parsed = Vec::with_capacity(addresses.urls.len());
    for url in &addresses.urls {
        let scheme_ok = url.starts_with("redis://")
            || url.starts_with("rediss://")
            || (!cluster && url.starts_with("redis+unix://"));
        if !scheme_ok {
            ctx.at(addresses.at, format!("a redis URL must start with {schemes}"));
            return None;
        }
        // The parser's messages never quote the URL; ours do not either.
        let info = match url.as_str().into_connection_info() {
            Ok(info) => info,
            Err(e) => {
                ctx.at(addresses.at, format!("not a valid redis URL: {e}"));
                return None;
            }
        };
        if matches!(info.addr(), ConnectionAddr::TcpTls { insecure: true, .. }) {
            let why = "`#insecure` would turn off certificate checks; name the server's CA with `ca` instead";
            ctx.at(addresses.at, why);
            return None;
        }
        parsed.push(info);
    }
    let tls = |info: &ConnectionInfo| matches!(info.addr(), ConnectionAddr::TcpTls { .. });
    if parsed.iter().any(tls) && !parsed.iter().all(tls) {
        ctx.at(addresses.at, "the cluster's node URLs mix redis:// and rediss://: use one for all");
        return None;
    }
    Some(parsed)
}

type Credentials = (Option<String>, Option<RedactedString>);

fn credentials(
    ctx: &mut Ctx<'_>,
    replay: &RawReplay,
    secrets: &Secrets,
    parsed: &[ConnectionInfo],
) -> Option<Credentials> {
    let in_url = |f: fn(&ConnectionInfo) -> bool| parsed.iter().any(f);
    let url_user = in_url(|i| i.redis_settings().username().is_some());
    let url_password = in_url(|i| i.redis_settings().password().is_some());
    if let Some(user) = &replay.username {
        if url_user {
            ctx.on(user, "the redis URL names a user too: give the user in one place");
            return None;
        }
        if user.value.is_empty() || user.value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            ctx.on(user, "a redis user name must be non-empty, without spaces or control characters");
            return None;
        }
        if replay.password_secret.is_none() && !url_password {
            ctx.on(user, "an ACL `username` needs its password: add `password_secret`");
            return None;
        }
    }
    let password = match &replay.password_secret {
        None => None,
        Some(name) if url_password => {
            ctx.on(name, "the redis URL holds a password too: give the password in one place");
            return None;
        }
        Some(name) => {
            let text = secret_text(ctx, secrets, name, "a redis password")?;
            Some(RedactedString::new(text.trim_end_matches(['\r', '\n']).to_owned()))
        }
    };
    Some((replay.username.as_ref().map(|u| u.value.clone()), password))
}

/// `ca`, `client_cert` and `client_key` need TLS: with plain `redis://`
/// they would be ignored, so they are refused.
fn plain_without_tls_keys(ctx: &mut Ctx<'_>, replay: &RawReplay) -> Option<Option<RedisTls>> {
    let keys = [("ca", &replay.ca), ("client_cert", &replay.client_cert), ("client_key", &replay.client_key)];
    let mut ok = true;
    for (key, value) in keys {
        if let Some(v) = value {
            ctx.on(v, format!("`{key}` applies to TLS, and the redis URL is not rediss://"));
            ok = false;
        }
    }
    ok.then_some(None)
}

fn tls_settings(ctx: &mut Ctx<'_>, replay: &RawReplay) -> Option<RedisTls> {
    let ca = match &replay.ca {
        Some(path) => Some(upstreams::load_ca(ctx, path)?),
        None => None,
    };
    let client = match (&replay.client_cert, &replay.client_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(client_identity(ctx, cert, key)?),
        (Some(cert), None) => {
            ctx.on(cert, "`client_cert` needs `client_key` (the certificate's private key)");
            return None;
        }
        (None, Some(key)) => {
            ctx.on(key, "`client_key` needs `client_cert` (the certificate it belongs to)");
            return None;
        }
    };
    Some(RedisTls { ca, client })
}

fn client_identity(ctx: &mut Ctx<'_>, cert: &Spanned<String>, key: &Spanned<String>) -> Option<ClientIdentity> {
    let (cert_path, key_path) = (ctx.depend_on(&cert.value), ctx.depend_on(&key.value));
    let read = |ctx: &mut Ctx<'_>, at: &Spanned<String>, path: &std::path::Path| match ctx.inputs.file(&at.value) {
        Ok(bytes) => Some(bytes.to_vec()),
        Err(why) => {
            ctx.on(at, format!("cannot read {}: {why}", path.display()));
            None
        }
    };
    let cert_pem = read(ctx, cert, &cert_path)?;
    let key_pem = Zeroizing::new(read(ctx, key, &key_path)?);
    let checked = crate::tls::check_client_identity(
        Pem { path: &cert_path, bytes: &cert_pem },
        Pem { path: &key_path, bytes: &key_pem },
    );
    if let Err(e) = checked {
        ctx.on(cert, format!("redis client certificate: {e}"));
        return None;
    }
    Some(ClientIdentity { cert_path, cert_pem, key_pem })
}

fn on_error(ctx: &mut Ctx<'_>, replay: &RawReplay) -> OnError {
    match replay.on_error.as_ref().map(|o| (o, o.value.as_str())) {
        None | Some((_, "reject")) => OnError::Reject,
        Some((_, "allow")) => OnError::Allow,
        Some((o, other)) => {
            ctx.on(o, format!("unknown on_error `{other}` (known: reject, allow)"));
            OnError::Reject
        }
    }
}
