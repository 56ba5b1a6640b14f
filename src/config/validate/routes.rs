//! Routes: match rules, the verify or sign policy, and the upstream.

use http::{HeaderValue, Method};

use super::schemes;
use super::upstreams::{self, Upstreams};
use super::{Ctx, Secrets, known, prepared_mac};
use crate::config::raw::RawRouteTimeouts;
use crate::config::raw::{RawRoute, RawSign, RawVerify, Spanned};
use crate::config::{
    Action, Consumer, Limits, Listener, PathPolicy, Route, RouteTimeouts, SignPolicy, SignScheme, Timeouts, Upstream,
    VerifyPolicy,
};
use crate::scheme::caps;
use crate::scheme::rfc9421::Component;

/// Components every verify route requires unless it lists its own.
pub const DEFAULT_COMPONENTS: [&str; 4] = ["@method", "@authority", "@path", "@query"];
const DEFAULT_MAX_AGE_SECS: u64 = 300;
const DEFAULT_CLOCK_SKEW_SECS: u64 = 30;

pub(super) struct Env<'a> {
    pub listeners: &'a [Listener],
    pub consumers: &'a [Consumer],
    pub secrets: &'a Secrets,
    pub limits: Limits,
    pub timeouts: Timeouts,
}

pub(super) fn build(ctx: &mut Ctx<'_>, env: &Env<'_>, upstreams: &mut Upstreams, raw: &[RawRoute]) -> Vec<Route> {
    let mut out: Vec<Route> = Vec::new();
    for r in raw {
        if out.iter().any(|o| o.name == r.name.value) {
            ctx.on(&r.name, format!("duplicate route name `{}`", r.name.value));
            continue;
        }
        if let Some(route) = build_route(ctx, env, upstreams, r) {
            out.push(route);
        }
    }
    out
}

fn build_route(ctx: &mut Ctx<'_>, env: &Env<'_>, upstreams: &mut Upstreams, r: &RawRoute) -> Option<Route> {
    let problems_before = ctx.problems.len();
    if !env.listeners.iter().any(|l| l.name == r.listener.value) {
        let names = known(env.listeners.iter().map(|l| l.name.as_str()));
        ctx.on(
            &r.listener,
            format!("route `{}` names unknown listener `{}` ({names})", r.name.value, r.listener.value),
        );
    }
    let action = match (&r.verify, &r.sign) {
        (Some(v), None) => build_verify(ctx, env, v).map(Action::Verify),
        (None, Some(s)) => build_sign(ctx, env, s).map(Action::Sign),
        _ => {
            ctx.on(&r.name, format!("route `{}` needs exactly one of `verify:` or `sign:`", r.name.value));
            None
        }
    };
    let path_prefix = r.matcher.path_prefix.as_ref().map_or("/".to_owned(), |p| p.value.clone());
    if !path_prefix.starts_with('/') {
        let at = r.matcher.path_prefix.as_ref().map_or(r.name.referenced, |p| p.referenced);
        ctx.at(at, "path_prefix must start with `/`");
    }
    if let Some(strip) = &r.strip_prefix
        && !(strip.value.starts_with('/') && path_prefix.starts_with(&strip.value))
    {
        ctx.on(strip, "strip_prefix must start with `/` and be a prefix of the route's path_prefix");
    }
    let methods = r.matcher.methods.as_ref().map(|m| parse_methods(ctx, m));
    let path_policy = match r.path_policy.as_ref().map(|p| (p, p.value.as_str())) {
        None | Some((_, "strict")) => PathPolicy::Strict,
        Some((_, "raw")) => PathPolicy::Raw,
        Some((p, other)) => {
            ctx.on(p, format!("unknown path_policy `{other}` (known: strict, raw)"));
            PathPolicy::Strict
        }
    };
    let upstream = resolve_upstream(ctx, upstreams, &r.upstream)?;
    if ctx.problems.len() != problems_before {
        return None;
    }
    Some(Route {
        name: r.name.value.clone(),
        listener: r.listener.value.clone(),
        host: r.matcher.host.as_ref().map(|h| h.value.to_ascii_lowercase()),
        path_prefix,
        methods,
        strip_prefix: r.strip_prefix.as_ref().map(|s| s.value.clone()),
        preserve_host: r.preserve_host.unwrap_or(false),
        path_policy,
        timeouts: route_timeouts(ctx, &env.timeouts, r.timeouts.as_ref()),
        websocket: r.websocket.unwrap_or(false),
        max_body_bytes: r.max_body_bytes.unwrap_or(env.limits.max_body_bytes),
        upstream,
        action: action?,
    })
}

fn route_timeouts(ctx: &mut Ctx<'_>, global: &Timeouts, raw: Option<&RawRouteTimeouts>) -> RouteTimeouts {
    let mut t = RouteTimeouts {
        body_read: global.body_read,
        body_idle: global.body_idle,
        upstream_response: global.upstream_response,
    };
    let Some(raw) = raw else { return t };
    for (value, slot) in [
        (&raw.body_read, &mut t.body_read),
        (&raw.body_idle, &mut t.body_idle),
        (&raw.upstream_response, &mut t.upstream_response),
    ] {
        if let Some(v) = value {
            if v.value.0.is_zero() {
                ctx.on(v, "a timeout must be greater than zero");
            } else {
                *slot = v.value.0;
            }
        }
    }
    t
}

fn parse_methods(ctx: &mut Ctx<'_>, raw: &[Spanned<String>]) -> Vec<Method> {
    raw.iter()
        .filter_map(|m| {
            let upper = m.value.to_ascii_uppercase();
            let parsed = Method::from_bytes(upper.as_bytes()).ok();
            if parsed.is_none() {
                ctx.on(m, format!("`{}` is not an HTTP method", m.value));
            }
            parsed
        })
        .collect()
}

fn resolve_upstream(ctx: &mut Ctx<'_>, upstreams: &mut Upstreams, name: &Spanned<String>) -> Option<Upstream> {
    if name.value == "echo" {
        return Some(Upstream::Echo);
    }
    if let Some((_, up)) = upstreams.iter().find(|(n, _)| *n == name.value) {
        return Some(Upstream::Http(up.clone()));
    }
    if !name.value.contains("://") {
        let names = known(upstreams.iter().map(|(n, _)| n.as_str()));
        ctx.on(name, format!("unknown upstream `{}` (`echo`, a URL, or one of `upstreams:`; {names})", name.value));
        return None;
    }
    let up = upstreams::parse_url(ctx, name, upstreams.len(), &name.value, None)?;
    let up = std::sync::Arc::new(up);
    upstreams.push((name.value.clone(), up.clone()));
    Some(Upstream::Http(up))
}

fn parse_components(ctx: &mut Ctx<'_>, raw: &[Spanned<String>]) -> Vec<Component> {
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
fn check_component_count(ctx: &mut Ctx<'_>, raw: Option<&Vec<Spanned<String>>>, components: &[Component]) {
    let max = caps::MAX_COMPONENTS - 1;
    let digest = Component::content_digest();
    let count = components.iter().filter(|c| **c != digest).count();
    if let Some(first) = raw.and_then(|r| r.first())
        && count > max
    {
        ctx.on(first, format!("{count} components: a signature covers at most {max} besides content-digest"));
    }
}

fn defaults() -> Vec<Component> {
    DEFAULT_COMPONENTS.iter().filter_map(|c| Component::parse(c).ok()).collect()
}

fn build_verify(ctx: &mut Ctx<'_>, env: &Env<'_>, v: &RawVerify) -> Option<VerifyPolicy> {
    let scheme = schemes::verify_scheme(ctx, env.secrets, v);
    let mut consumers = Vec::new();
    for c in &v.consumers {
        match env.consumers.iter().position(|k| k.id == c.value) {
            Some(i) => consumers.push(i),
            None => {
                let names = known(env.consumers.iter().map(|k| k.id.as_str()));
                ctx.on(c, format!("unknown consumer `{}` ({names})", c.value));
            }
        }
    }
    if v.consumers.is_empty() && schemes::is_keyed(&v.scheme.value) {
        ctx.on(&v.scheme, "verify.consumers must name at least one consumer");
    }
    let required = v.components.as_ref().map_or_else(defaults, |c| parse_components(ctx, c));
    check_component_count(ctx, v.components.as_ref(), &required);
    let secs = |d: &Option<Spanned<crate::config::raw::DurationSpec>>, default| {
        d.as_ref().map_or(std::time::Duration::from_secs(default), |d| d.value.0)
    };
    let max_age = secs(&v.max_age, DEFAULT_MAX_AGE_SECS);
    if max_age.as_secs() == 0 {
        ctx.at(v.max_age.as_ref().map_or(v.scheme.referenced, |m| m.referenced), "max_age must be at least 1s");
    }
    let replay = v.replay.unwrap_or(true);
    let accept_signature = accept_signature(&required, replay);
    Some(VerifyPolicy {
        scheme: scheme?,
        consumers,
        max_age,
        clock_skew: secs(&v.clock_skew, DEFAULT_CLOCK_SKEW_SECS),
        replay,
        required,
        accept_signature,
    })
}

/// `sig1=("@method" ...);created;nonce;alg="hmac-sha256"` (RFC 9421 section 5.1).
fn accept_signature(required: &[Component], replay: bool) -> HeaderValue {
    let ids: Vec<String> = required.iter().map(|c| format!("\"{}\"", c.name())).collect();
    let nonce = if replay { ";nonce" } else { "" };
    let text = format!("sig1=({});created{nonce};alg=\"hmac-sha256\"", ids.join(" "));
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("sig1=();created"))
}

fn build_sign(ctx: &mut Ctx<'_>, env: &Env<'_>, s: &RawSign) -> Option<SignPolicy> {
    if s.scheme.value != "rfc9421" {
        for (field, at) in [("label", s.label.as_ref().map(|l| l.referenced)), ("components", components_at(s))] {
            if let Some(at) = at {
                ctx.at(at, format!("`{field}` applies only to scheme rfc9421"));
            }
        }
        let (keyid, scheme) = schemes::sign_scheme(ctx, env.secrets, s)?;
        return Some(SignPolicy { keyid, scheme });
    }
    let secret = schemes::single_secret(ctx, env.secrets, s);
    let keyid = s.keyid.as_ref().map(|k| k.value.clone()).unwrap_or_default();
    if keyid.is_empty() {
        ctx.on(s.keyid.as_ref().unwrap_or(&s.scheme), "keyid must not be empty");
    }
    let mut components = defaults();
    for extra in s.components.as_ref().map(|c| parse_components(ctx, c)).unwrap_or_default() {
        if !components.contains(&extra) {
            components.push(extra);
        }
    }
    check_component_count(ctx, s.components.as_ref(), &components);
    let label = s.label.as_ref().map_or("sig1".to_owned(), |l| l.value.clone());
    if sfv::KeyRef::from_str(&label).is_err() {
        let at = s.label.as_ref().map_or(s.scheme.referenced, |l| l.referenced);
        ctx.at(at, format!("label `{label}` must be a lowercase structured-field key (e.g. sig1)"));
    }
    let scheme = SignScheme::Rfc9421 { label, components, mac: prepared_mac(secret?) };
    Some(SignPolicy { keyid, scheme })
}

fn components_at(s: &RawSign) -> Option<serde_saphyr::Location> {
    s.components.as_ref().and_then(|c| c.first()).map(|c| c.referenced)
}
