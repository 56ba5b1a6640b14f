//! Routes: match rules, the verify or sign policy, and the upstream.

use http::Method;

use super::upstreams::{self, Upstreams};
use super::{Ctx, Secrets, known, schemes, sign};
use crate::config::raw::RawRouteTimeouts;
use crate::config::raw::{RawRoute, Spanned};
use crate::config::{Action, Consumer, Limits, PathPolicy, Route, RouteTimeouts, Timeouts, Upstream};

pub(super) struct Env<'a> {
    /// Every listener name the file declares, whether or not its listener is valid.
    pub declared_listeners: &'a [&'a str],
    pub consumers: &'a [Consumer],
    pub secrets: &'a Secrets,
    pub limits: Limits,
    pub timeouts: Timeouts,
}

pub(super) fn build(ctx: &mut Ctx<'_>, env: &Env<'_>, upstreams: &mut Upstreams, raw: &[RawRoute]) -> Vec<Route> {
    let mut out: Vec<Route> = Vec::new();
    for r in raw {
        if out.iter().any(|o| *o.name == *r.name.value) {
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
    // Declared names, valid or not: a listener with a bad `bind` is reported
    // there, not again at every route that names it.
    if !env.declared_listeners.contains(&r.listener.value.as_str()) {
        let names = known(env.declared_listeners.iter().copied());
        ctx.on(
            &r.listener,
            format!("route `{}` names unknown listener `{}` ({names})", r.name.value, r.listener.value),
        );
    }
    let action = match (&r.verify, &r.sign) {
        (Some(v), None) => {
            let policy = schemes::verify_policy(ctx, env, v);
            if policy.as_ref().is_some_and(|p| p.debug_signature_base) {
                ctx.warn(format!(
                    "route `{}` has debug_signature_base on: its 401 answers show the text the signature had to \
                     cover; for development only",
                    r.name.value
                ));
            }
            policy.map(Action::Verify)
        }
        (None, Some(s)) => sign::sign_policy(ctx, env.secrets, s).map(Action::Sign),
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
        name: r.name.value.as_str().into(),
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
    let mut t = RouteTimeouts::from(global);
    let Some(raw) = raw else { return t };
    for (value, slot) in [
        (&raw.body_read, &mut t.body_read),
        (&raw.body_idle, &mut t.body_idle),
        (&raw.upstream_response, &mut t.upstream_response),
        (&raw.send_idle, &mut t.send_idle),
        (&raw.upstream_body_idle, &mut t.upstream_body_idle),
        (&raw.tunnel_idle, &mut t.tunnel_idle),
    ] {
        super::set_timeout(ctx, value.as_ref(), slot);
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
