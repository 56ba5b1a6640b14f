//! Picking the route for a request: first match in file order.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use http::uri::PathAndQuery;

use crate::config::{Route, Upstream};
use crate::error::Rejection;

/// Host (without port, lowercase), method and raw path decide.
pub fn find<'a>(routes: &'a [Arc<Route>], host: Option<&str>, method: &Method, path: &str) -> Option<&'a Arc<Route>> {
    routes.iter().find(|r| {
        r.host.as_deref().is_none_or(|want| host == Some(want))
            && path.starts_with(r.path_prefix.as_str())
            && r.methods.as_ref().is_none_or(|m| m.contains(method))
    })
}

/// The host part of an authority, for matching.
pub fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split_once(']').map_or(authority, |(h, _)| &authority[..=h.len()]);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// The target a route sends upstream for a request's `path` and `query`,
/// computed once per request: a sign route signs exactly this value and the
/// wire request carries the same value.
pub fn target_for(route: &Route, path: &str, query: Option<&str>) -> Result<PathAndQuery, Rejection> {
    let mut target = path_for(route, path);
    if let Some(q) = query {
        target.reserve(q.len() + 1);
        target.push('?');
        target.push_str(q);
    }
    // From `Bytes`, `PathAndQuery` keeps the buffer instead of copying it.
    PathAndQuery::from_maybe_shared(Bytes::from(target))
        .map_err(|_| Rejection::BadRequest("the request target cannot be forwarded".into()))
}

/// The route's path policy applied to `path`: a strict route refuses a
/// non-canonical path. The pipeline and `explain` both ask here.
pub(super) fn check_path_policy(route: &Route, path: &str) -> Result<(), Rejection> {
    match route.path_policy {
        crate::config::PathPolicy::Strict => super::path::check_strict(path).map_err(Rejection::NonCanonicalPath),
        _ => Ok(()),
    }
}

/// [`target_for`] a request's URI. When the route changes nothing (no base
/// path, no prefix stripped), the request's own target is reused: its bytes
/// are shared, not copied.
pub fn target_of(route: &Route, uri: &http::Uri) -> Result<PathAndQuery, Rejection> {
    let path = uri.path();
    let stripped = route.strip_prefix.as_deref().is_some_and(|p| path.starts_with(p));
    match uri.path_and_query() {
        Some(target) if base_path(route).is_empty() && !stripped && path.starts_with('/') => Ok(target.clone()),
        _ => target_for(route, path, uri.query()),
    }
}

fn base_path(route: &Route) -> &str {
    match &route.upstream {
        Upstream::Http(up) => up.base_path.as_str(),
        Upstream::Echo => "",
    }
}

/// The path a route sends upstream for a request `path`.
fn path_for(route: &Route, path: &str) -> String {
    upstream_path(base_path(route), path, route.strip_prefix.as_deref())
}

/// The path sent upstream: `strip_prefix` removed, `base` put in front.
fn upstream_path(base: &str, path: &str, strip_prefix: Option<&str>) -> String {
    let rest = strip_prefix.and_then(|p| path.strip_prefix(p)).unwrap_or(path);
    let mut out = String::with_capacity(base.len() + rest.len() + 1);
    out.push_str(base);
    if !rest.starts_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_of("example.com:8080"), "example.com");
        assert_eq!(host_of("example.com"), "example.com");
        assert_eq!(host_of("[::1]:80"), "[::1]");
        assert_eq!(host_of("[::1]"), "[::1]");
    }

    #[test]
    fn paths() {
        assert_eq!(upstream_path("", "/a/b?x", None), "/a/b?x");
        assert_eq!(upstream_path("/base", "/a", None), "/base/a");
        assert_eq!(upstream_path("", "/api/v1/x", Some("/api")), "/v1/x");
        assert_eq!(upstream_path("", "/api", Some("/api")), "/");
        assert_eq!(upstream_path("/b", "/api/", Some("/api/")), "/b/");
    }

    #[test]
    fn a_target_is_reused_only_when_the_route_changes_nothing() {
        let loaded = crate::config::Loaded::from_yaml(
            r#"
listeners: [{ name: in, bind: "127.0.0.1:0" }]
secrets: { s: { value: "0123456789abcdef0123456789abcdef" } }
consumers: [{ id: c, keys: [{ keyid: k, secret: s }] }]
upstreams: { based: { url: "http://127.0.0.1:9/base/" } }
routes:
  - { name: plain, listener: in, match: { path_prefix: /p }, verify: { scheme: rfc9421, consumers: [c] }, upstream: "http://127.0.0.1:9" }
  - { name: based, listener: in, match: { path_prefix: /b }, verify: { scheme: rfc9421, consumers: [c] }, upstream: based }
  - { name: strip, listener: in, match: { path_prefix: /s }, strip_prefix: /s, verify: { scheme: rfc9421, consumers: [c] }, upstream: "http://127.0.0.1:9" }
"#,
            "t.yaml",
            std::path::Path::new("."),
        )
        .expect("valid config");
        let config = loaded.config;
        let route = |name: &str| config.route(name).expect("route");
        let cases = [
            ("plain", "/p/x?a=1&b", "/p/x?a=1&b"),
            ("plain", "http://h/p/x?q", "/p/x?q"),
            ("based", "/b/x?q", "/base/b/x?q"),
            ("strip", "/s/x?q", "/x?q"),
            ("strip", "/s", "/"),
        ];
        for (name, uri, want) in cases {
            let uri: http::Uri = uri.parse().expect("uri");
            assert_eq!(target_of(route(name), &uri).expect("target"), want, "{name} {uri}");
        }
    }
}
