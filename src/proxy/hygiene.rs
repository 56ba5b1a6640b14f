//! Request hygiene: framing and header shapes that a lenient upstream could
//! read differently from the gateway are refused before any other work.

use http::header::{self, HeaderMap};
use http::request::Parts;
use http::{Method, Version};

use crate::config::{Limits, normalize_host};
use crate::error::Rejection;

fn bad(why: &'static str) -> Rejection {
    Rejection::BadRequest(why.into())
}

/// Checks sizes, framing and header hygiene.
pub fn check(parts: &Parts, limits: &Limits) -> Result<(), Rejection> {
    check_sizes(parts, limits)?;
    check_framing(&parts.headers)?;
    check_header_names(&parts.headers)?;
    if parts.method == Method::CONNECT {
        return Err(bad("CONNECT is not proxied"));
    }
    Ok(())
}

/// The authority the client addressed, normalised once at admission: routing
/// matches its host; forwarding headers and signing use it whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    text: String,
    host_len: usize,
}

impl Authority {
    fn new(text: String) -> Self {
        let host_len = super::route::host_of(&text).len();
        Self { text, host_len }
    }

    /// Lowercase, default port removed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Without the port, for matching a route's `host`.
    pub fn host(&self) -> &str {
        &self.text[..self.host_len]
    }
}

/// The authority the client addressed: the URI's (HTTP/2, absolute-form)
/// or the single `Host` header. An absolute-form target or `:authority` must
/// name the same authority as a `Host` header sent alongside it. Each value
/// is normalised once.
pub fn authority(parts: &Parts, https: bool) -> Result<Authority, Rejection> {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let (host, more_hosts) = (hosts.next(), hosts.next().is_some());
    let host = host.map(|h| h.to_str().ok().and_then(|h| normalize_host(h, https)));
    let target = parts.uri.authority().map(|a| normalize_host(a.as_str(), https));
    if let (Some(target), Some(host)) = (&target, &host)
        && (host.is_none() || host != target)
    {
        return Err(bad(if parts.version == Version::HTTP_2 {
            ":authority and Host disagree"
        } else {
            "the absolute-form target and Host disagree"
        }));
    }
    if more_hosts {
        return Err(bad("more than one Host header"));
    }
    let normalised = match (target, host) {
        (Some(target), _) => target,
        (None, Some(host)) => host,
        (None, None) => return Err(bad("missing Host header")),
    };
    normalised.map(Authority::new).ok_or_else(|| bad("invalid Host header"))
}

/// `Upgrade` is refused unless the route allows websockets, and then only a
/// plain HTTP/1.1 `GET` asking for `websocket`.
pub fn check_upgrade(parts: &Parts, websocket_allowed: bool) -> Result<bool, Rejection> {
    let Some(upgrade) = parts.headers.get(header::UPGRADE) else { return Ok(false) };
    let is_websocket = upgrade.as_bytes().eq_ignore_ascii_case(b"websocket")
        && parts.method == Method::GET
        && parts.version == Version::HTTP_11;
    if websocket_allowed && is_websocket {
        Ok(true)
    } else {
        Err(bad("protocol upgrades are not allowed on this route"))
    }
}

/// hyper enforces generous hard caps; these are the configured ones, with a
/// JSON answer.
fn check_sizes(parts: &Parts, limits: &Limits) -> Result<(), Rejection> {
    let target = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > limits.max_uri_bytes {
        return Err(Rejection::UriTooLong(limits.max_uri_bytes));
    }
    if parts.headers.len() > limits.max_headers {
        return Err(Rejection::HeadersTooLarge("the header count limit"));
    }
    let bytes: usize = parts.headers.iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
    if bytes > limits.max_header_bytes {
        return Err(Rejection::HeadersTooLarge("the header size limit"));
    }
    Ok(())
}

/// One `Transfer-Encoding: chunked` or one `Content-Length`, never both,
/// never a list (RFC 9112 section 6.3 leaves the rest to be refused).
fn check_framing(headers: &HeaderMap) -> Result<(), Rejection> {
    let mut te = headers.get_all(header::TRANSFER_ENCODING).iter();
    let mut cl = headers.get_all(header::CONTENT_LENGTH).iter();
    let (te_first, te_more) = (te.next(), te.next().is_some());
    let (cl_first, cl_more) = (cl.next(), cl.next().is_some());
    if te_first.is_some() && cl_first.is_some() {
        return Err(bad("both Content-Length and Transfer-Encoding"));
    }
    if te_more || te_first.is_some_and(|v| !v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked")) {
        return Err(bad("Transfer-Encoding must be exactly `chunked`"));
    }
    if cl_more || cl_first.is_some_and(|v| v.is_empty() || !v.as_bytes().iter().all(u8::is_ascii_digit)) {
        return Err(bad("Content-Length must be a single number"));
    }
    Ok(())
}

/// Some servers fold `_` into `-`, so `X_Consumer_ID` could pass as an
/// identity header the gateway thought it had removed.
fn check_header_names(headers: &HeaderMap) -> Result<(), Rejection> {
    if headers.keys().any(|name| name.as_str().contains('_')) {
        return Err(bad("underscores are not allowed in header names"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use http::Request;

    use super::*;

    const LIMITS: Limits = Limits { max_body_bytes: 1024, max_header_bytes: 1024, max_headers: 10, max_uri_bytes: 256 };

    fn check(parts: &Parts) -> Result<(), Rejection> {
        super::check(parts, &LIMITS)
    }

    #[test]
    fn size_limits_answer_414_and_431() {
        let long = Request::builder().uri(format!("/{}", "a".repeat(300))).body(()).expect("r").into_parts().0;
        assert!(matches!(check(&long), Err(Rejection::UriTooLong(256))));
        let many: Vec<(String, &str)> = (0..11).map(|i| (format!("x-h{i}"), "v")).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert!(matches!(check(&parts(&many)), Err(Rejection::HeadersTooLarge(_))));
        let big = "v".repeat(1100);
        assert!(matches!(check(&parts(&[("x-big", big.as_str())])), Err(Rejection::HeadersTooLarge(_))));
    }

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder().uri("/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("request").into_parts().0
    }

    #[test]
    fn framing_table() {
        let refused: &[&[(&str, &str)]] = &[
            &[("content-length", "5"), ("transfer-encoding", "chunked")],
            &[("transfer-encoding", "gzip, chunked")],
            &[("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")],
            &[("transfer-encoding", "chunked, chunked")],
            &[("transfer-encoding", "identity")],
            &[("content-length", "5"), ("content-length", "5")],
            &[("content-length", "5, 5")],
            &[("content-length", "+5")],
            &[("x_consumer_id", "admin")],
        ];
        for headers in refused {
            assert!(check(&parts(headers)).is_err(), "{headers:?}");
        }
        for ok in
            [&[("transfer-encoding", "chunked")][..], &[("content-length", "5")], &[("transfer-encoding", " Chunked ")]]
        {
            assert!(check(&parts(ok)).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn upgrades_need_a_websocket_route() {
        let ws = parts(&[("upgrade", "websocket"), ("connection", "upgrade")]);
        assert!(check_upgrade(&ws, false).is_err());
        assert!(matches!(check_upgrade(&ws, true), Ok(true)));
        let h2c = parts(&[("upgrade", "h2c"), ("connection", "upgrade")]);
        assert!(check_upgrade(&h2c, true).is_err());
        assert!(matches!(check_upgrade(&parts(&[]), false), Ok(false)));
    }

    #[test]
    fn absolute_form_must_match_host() {
        let p = |uri: &str, host: &str| {
            Request::builder().uri(uri).header("host", host).body(()).expect("request").into_parts().0
        };
        assert_eq!(
            authority(&p("http://a.example/x", "a.example"), false).ok().map(|a| a.text),
            Some("a.example".into())
        );
        assert!(authority(&p("http://a.example:80/x", "A.example"), false).is_ok());
        assert!(authority(&p("http://a.example/x", "b.example"), false).is_err());
        assert!(authority(&p("http://a.example:8080/x", "a.example"), false).is_err());
    }

    #[test]
    fn the_authority_is_normalised_once_with_its_host() {
        let a = authority(&parts(&[("host", "API.example:8443")]), true).expect("authority");
        assert_eq!((a.as_str(), a.host()), ("api.example:8443", "api.example"));
        let v6 = authority(&parts(&[("host", "[::1]:443")]), true).expect("authority");
        assert_eq!((v6.as_str(), v6.host()), ("[::1]", "[::1]"));
        assert!(authority(&parts(&[("host", "a"), ("host", "a")]), false).is_err());
        assert!(authority(&parts(&[]), false).is_err());
    }
}
