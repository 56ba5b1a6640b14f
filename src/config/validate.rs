//! Raw YAML structs → typed [`Config`], collecting every problem with its
//! file:line:column instead of stopping at the first.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde_saphyr::Location;

use super::inputs::Inputs;
use super::raw::{DurationSpec, RawConfig, RawListenerTls, RawTimeouts, Spanned};
use super::{
    Cidr, Config, ConfigError, Limits, Listener, ListenerTls, Loaded, Problem, SecretSummary, Startup, Timeouts,
};
use crate::tls::Pem;

mod replay;
mod routes;
mod schemes;
mod secrets;
mod shape;
mod sign;
mod upstreams;

use secrets::{Secrets, build_consumers, build_secrets, lookup_secret, prepared_mac};

use super::defaults;

/// Collects problems while the conversion goes on.
pub(super) struct Ctx<'a> {
    source: &'a str,
    /// What the config's files and variables held: validation reads
    /// nothing else.
    inputs: &'a Inputs,
    problems: Vec<Problem>,
    warnings: Vec<String>,
    /// Files read so far, for the reload watcher.
    files: Vec<std::path::PathBuf>,
}

impl Ctx<'_> {
    fn at(&mut self, loc: Location, message: impl Into<String>) {
        self.problems.push(Problem {
            source: self.source.to_owned(),
            line: loc.line().max(1),
            column: loc.column().max(1),
            message: message.into(),
        });
    }

    fn on<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>) {
        self.at(spanned.referenced, message);
    }

    /// Something that works but deserves attention; `check` and start-up print it.
    fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// Notes that the config depends on `relative` (resolved against the
    /// config's directory) and returns the full path.
    fn depend_on(&mut self, relative: &str) -> std::path::PathBuf {
        let full = self.inputs.path(relative);
        if !self.files.contains(&full) {
            self.files.push(full.clone());
        }
        full
    }
}

/// `known: a, b` for messages about dangling names.
fn known<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = names.collect();
    if list.is_empty() { "none are defined".into() } else { format!("known: {}", list.join(", ")) }
}

pub(super) fn from_yaml(text: &str, source: &str, base_dir: &Path) -> Result<Loaded, ConfigError> {
    let read = |text: &str| super::raw::with_schemes(text, || serde_saphyr::from_str::<RawConfig>(text));
    let raw = read(text)
        .map_err(|first| ConfigError::Invalid(shape::problems(text, source, &first, |again| read(again).err())))?;
    let inputs = Inputs::read(&raw, base_dir);
    validate(raw, &inputs, source)
}

/// The raw config and what it names outside itself → a typed config, or
/// every problem found. Pure: no file or variable is read here.
fn validate(raw: RawConfig, inputs: &Inputs, source: &str) -> Result<Loaded, ConfigError> {
    let mut ctx = Ctx { source, inputs, problems: Vec::new(), warnings: Vec::new(), files: Vec::new() };
    let secrets = build_secrets(&mut ctx, &raw);
    let startup = build_startup(&mut ctx, &raw, &secrets);
    let config = build(&mut ctx, raw, &secrets);
    if ctx.problems.is_empty() {
        let mut config = config;
        config.warnings = ctx.warnings;
        config.files = ctx.files;
        Ok(Loaded { startup, config })
    } else {
        Err(ConfigError::Invalid(ctx.problems))
    }
}

fn build(ctx: &mut Ctx<'_>, raw: RawConfig, secrets: &Secrets) -> Config {
    let mut listeners = build_listeners(ctx, &raw);
    let (consumers, keys) = build_consumers(ctx, &raw.consumers, secrets);
    let mut upstreams = upstreams::build(ctx, &raw.upstreams);
    let limits = build_limits(ctx, &raw);
    let timeouts = build_timeouts(ctx, raw.timeouts.as_ref());
    let declared_listeners: Vec<&str> = raw.listeners.iter().map(|l| l.name.value.as_str()).collect();
    let env = routes::Env { declared_listeners: &declared_listeners, consumers: &consumers, secrets, limits, timeouts };
    let built = routes::build(ctx, &env, &mut upstreams, &raw.routes);
    for route in built {
        if let Some(listener) = listeners.iter_mut().find(|l| *l.name == *route.listener) {
            listener.routes.push(Arc::new(route));
        }
    }
    Config {
        listeners,
        consumers,
        keys,
        secrets: secrets
            .iter()
            .map(|(name, (src, s))| SecretSummary { name: name.clone(), source: src.clone(), len: s.expose().len() })
            .collect(),
        upstreams: upstreams.into_iter().map(|(_, u)| u).collect(),
        limits,
        timeouts,
        trusted_proxies: raw
            .trusted_proxies
            .iter()
            .filter_map(|c| Cidr::parse(&c.value).map_err(|why| ctx.on(c, why)).ok())
            .collect(),
        warnings: Vec::new(),
        files: Vec::new(),
    }
}

/// The settings only a restart changes.
fn build_startup(ctx: &mut Ctx<'_>, raw: &RawConfig, secrets: &Secrets) -> Startup {
    Startup {
        workers: build_workers(ctx, raw),
        admin: raw.admin.as_ref().and_then(|a| {
            let parsed = a.bind.value.parse::<SocketAddr>();
            if parsed.is_err() {
                ctx.on(&a.bind, format!("admin bind `{}` is not an IP:port address", a.bind.value));
            }
            parsed.ok()
        }),
        replay: replay::build(ctx, raw, secrets),
        max_connections: build_max_connections(ctx, raw),
    }
}

fn build_listeners(ctx: &mut Ctx<'_>, raw: &RawConfig) -> Vec<Listener> {
    if raw.listeners.is_empty() {
        ctx.at(Location::UNKNOWN, "at least one listener is required under `listeners:`");
    }
    let mut out: Vec<Listener> = Vec::new();
    for l in &raw.listeners {
        if out.iter().any(|o| *o.name == *l.name.value) {
            ctx.on(&l.name, format!("duplicate listener name `{}`", l.name.value));
            continue;
        }
        let tls = l.tls.as_ref().and_then(|t| build_listener_tls(ctx, t));
        match l.bind.value.parse::<SocketAddr>() {
            Ok(bind) => out.push(Listener { name: l.name.value.as_str().into(), bind, tls, routes: Vec::new() }),
            Err(_) => {
                ctx.on(&l.bind, format!("bind `{}` is not an IP:port address (e.g. 127.0.0.1:8080)", l.bind.value))
            }
        }
    }
    out
}

fn build_listener_tls(ctx: &mut Ctx<'_>, raw: &RawListenerTls) -> Option<ListenerTls> {
    let (cert, key) = (ctx.depend_on(&raw.cert.value), ctx.depend_on(&raw.key.value));
    let client_ca = raw.client_ca.as_ref().map(|ca| (ctx.depend_on(&ca.value), &ca.value));
    let inputs = ctx.inputs;
    let pem = |path: &'_ Spanned<String>| inputs.file(&path.value).map_err(|why| (path.clone(), why));
    let read = (pem(&raw.cert), pem(&raw.key), raw.client_ca.as_ref().map(pem).transpose());
    let (cert_pem, key_pem, ca_pem) = match read {
        (Ok(c), Ok(k), Ok(ca)) => (c, k, ca),
        (Err((at, why)), ..) | (_, Err((at, why)), _) | (.., Err((at, why))) => {
            ctx.on(&at, format!("listener TLS: cannot read {}: {why}", inputs.path(&at.value).display()));
            return None;
        }
    };
    let ca = client_ca.as_ref().zip(ca_pem).map(|((path, _), bytes)| Pem { path, bytes });
    let built = crate::tls::server_config(Pem { path: &cert, bytes: cert_pem }, Pem { path: &key, bytes: key_pem }, ca);
    match built {
        Ok(config) => Some(ListenerTls { cert_path: cert, mutual: client_ca.is_some(), config: Arc::new(config) }),
        Err(e) => {
            ctx.on(&raw.cert, format!("listener TLS: {e}"));
            None
        }
    }
}

fn build_workers(ctx: &mut Ctx<'_>, raw: &RawConfig) -> usize {
    let default = defaults::workers();
    match &raw.workers {
        None => default,
        Some(n) => match usize::try_from(n.value) {
            Ok(v) if (1..=1024).contains(&v) => v,
            _ => {
                ctx.on(n, "workers must be between 1 and 1024");
                default
            }
        },
    }
}

fn build_limits(ctx: &mut Ctx<'_>, raw: &RawConfig) -> Limits {
    let mut limits = defaults::LIMITS;
    let Some(raw) = &raw.limits else { return limits };
    if let Some(n) = raw.max_body_bytes {
        limits.max_body_bytes = n;
    }
    let sizes = [
        (&raw.max_header_bytes, &mut limits.max_header_bytes, 1024, 1024 * 1024),
        (&raw.max_headers, &mut limits.max_headers, 1, 1000),
        (&raw.max_uri_bytes, &mut limits.max_uri_bytes, 256, 64 * 1024),
    ];
    for (value, slot, min, max) in sizes {
        if let Some(v) = value {
            match usize::try_from(v.value) {
                Ok(n) if (min..=max).contains(&n) => *slot = n,
                _ => ctx.on(v, format!("must be between {min} and {max}")),
            }
        }
    }
    limits
}

fn build_timeouts(ctx: &mut Ctx<'_>, raw: Option<&RawTimeouts>) -> Timeouts {
    let mut t = defaults::TIMEOUTS;
    let Some(raw) = raw else { return t };
    let fields = [
        (&raw.header_read, &mut t.header_read),
        (&raw.body_read, &mut t.body_read),
        (&raw.body_idle, &mut t.body_idle),
        (&raw.tls_handshake, &mut t.tls_handshake),
        (&raw.upstream_connect, &mut t.upstream_connect),
        (&raw.upstream_response, &mut t.upstream_response),
        (&raw.shutdown_grace, &mut t.shutdown_grace),
        (&raw.h2_idle, &mut t.h2_idle),
        (&raw.h2_keepalive_interval, &mut t.h2_keepalive_interval),
        (&raw.h2_keepalive_timeout, &mut t.h2_keepalive_timeout),
        (&raw.send_idle, &mut t.send_idle),
        (&raw.upstream_body_idle, &mut t.upstream_body_idle),
        (&raw.tunnel_idle, &mut t.tunnel_idle),
    ];
    for (value, slot) in fields {
        set_timeout(ctx, value.as_ref(), slot);
    }
    t
}

/// A configured timeout into `slot`. Zero is refused: it would fail all that it bounds.
fn set_timeout(ctx: &mut Ctx<'_>, value: Option<&Spanned<DurationSpec>>, slot: &mut std::time::Duration) {
    if let Some(v) = value {
        if v.value.0.is_zero() {
            ctx.on(v, "a timeout must be greater than zero");
        } else {
            *slot = v.value.0;
        }
    }
}

fn build_max_connections(ctx: &mut Ctx<'_>, raw: &RawConfig) -> usize {
    let Some(n) = raw.limits.as_ref().and_then(|l| l.max_connections.as_ref()) else {
        return defaults::MAX_CONNECTIONS;
    };
    match usize::try_from(n.value) {
        Ok(v) if v > 0 => v,
        _ => {
            ctx.on(n, "max_connections must be a positive number");
            defaults::MAX_CONNECTIONS
        }
    }
}
