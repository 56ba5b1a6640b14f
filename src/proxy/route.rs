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

/// The path a route sends upstream for a request `path`.
fn path_for(route: &Route, path: &str) -> String {
    let base = match &route.upstream {
        Upstream::Http(up) => up.base_path.as_str(),
        Upstream::Echo => "",
    };
    upstream_path(base, path, route.strip_prefix.as_deref())
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
}
