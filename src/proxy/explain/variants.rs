//! When a MAC does not verify: the request as a proxy in front of the
//! gateway may have received it before changing it. Each variant changes
//! one thing and goes through the same `authenticate` driver with the
//! route's keys; a variant that verifies names the change. No MAC is shown:
//! only which change makes the signature verify.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::scheme::{self, Found, MessageView, Scheme};

/// One change to the request, and what it means.
struct Variant {
    what: String,
    path: Option<String>,
    authority: Option<String>,
    scheme: Option<&'static str>,
    headers: Option<HeaderMap>,
    body: Option<Vec<u8>>,
}

impl Variant {
    fn new(what: String) -> Self {
        Self { what, path: None, authority: None, scheme: None, headers: None, body: None }
    }
}

/// Every variant under which the signature verifies, described.
pub(super) fn matching<'k, S: Scheme, O: 'k>(
    scheme: &S,
    view: &MessageView<'_>,
    body: &[u8],
    now: i64,
    lookup: &impl Fn(Option<&str>) -> Option<Found<'k, O, S::Key>>,
) -> Vec<String>
where
    S::Key: 'k,
{
    let mut variants = paths(view);
    variants.extend(authorities(view));
    variants.extend(headers(view.headers));
    if scheme.reads_body_first() {
        variants.extend(bodies(body));
    }
    let flipped = if view.scheme == "https" { "http" } else { "https" };
    variants.push(Variant {
        scheme: Some(flipped),
        ..Variant::new(format!(
            "the signature verifies with the scheme `{flipped}`: the sender signed for `{flipped}`, so TLS is \
             added or ended between the sender and the gateway"
        ))
    });
    variants
        .into_iter()
        .filter(|v| {
            let headers = v.headers.as_ref().unwrap_or(view.headers);
            let changed = MessageView {
                scheme: v.scheme.unwrap_or(view.scheme),
                authority: v.authority.as_deref().unwrap_or(view.authority),
                path: v.path.as_deref().unwrap_or(view.path),
                headers,
                ..*view
            };
            let body = v.body.as_deref().unwrap_or(body);
            scheme::authenticate(scheme, &changed, body, now, lookup).is_ok()
        })
        .map(|v| v.what)
        .collect()
}

/// Paths a proxy may have changed: a prefix added or stripped, a trailing
/// slash, percent-decoding; and the original path some proxies report.
/// Leading segments tried dropped, one more at a time.
const MAX_DROPPED_SEGMENTS: usize = 4;

fn paths(view: &MessageView<'_>) -> Vec<Variant> {
    let path = view.path;
    let with = |p: String, why: &str| Variant {
        path: Some(p.clone()),
        ..Variant::new(format!("the signature verifies if @path were `{p}` instead of `{path}`: {why}"))
    };
    let mut out = Vec::new();
    if let Some(prefix) = header_text(view.headers, "x-forwarded-prefix") {
        let full = format!("{}{path}", prefix.trim_end_matches('/'));
        out.push(with(full, "a proxy in front stripped the prefix its X-Forwarded-Prefix names"));
    }
    for name in ["x-original-uri", "x-forwarded-uri", "x-original-url", "x-rewrite-url"] {
        if let Some(original) = header_text(view.headers, name) {
            let original = original.split('?').next().unwrap_or_default().to_owned();
            out.push(with(original, &format!("a proxy in front rewrote it (its {name} header holds the original)")));
        }
    }
    let mut rest = path;
    // A proxy adds a prefix of a segment or a few; a bound keeps a path of
    // thousands of segments from costing thousands of MAC checks.
    let mut dropped = 0;
    while let Some(at) = rest.get(1..).and_then(|r| r.find('/')).filter(|_| dropped < MAX_DROPPED_SEGMENTS) {
        dropped += 1;
        rest = &rest[at + 1..];
        let prefix = &path[..path.len() - rest.len()];
        out.push(with(rest.to_owned(), &format!("a proxy in front added the prefix `{prefix}`")));
    }
    match path.strip_suffix('/') {
        Some(shorter) if !shorter.is_empty() => out.push(with(shorter.to_owned(), "a trailing slash was added")),
        _ => out.push(with(format!("{path}/"), "a trailing slash was removed")),
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    if decoded != path {
        out.push(with(decoded.into_owned(), "the sender signed the decoded path (or a proxy encoded it)"));
    }
    out
}

/// Authorities a proxy may have rewritten: the one X-Forwarded-Host or
/// `Forwarded: host=` reports, and the authority without its port.
fn authorities(view: &MessageView<'_>) -> Vec<Variant> {
    let mut hosts: Vec<String> = Vec::new();
    if let Some(xfh) = header_text(view.headers, "x-forwarded-host") {
        hosts.push(xfh.split(',').next().unwrap_or_default().trim().to_ascii_lowercase());
    }
    if let Some(forwarded) = header_text(view.headers, "forwarded") {
        let host = forwarded.split([';', ',']).find_map(|p| p.trim().strip_prefix("host="));
        hosts.extend(host.map(|h| h.trim_matches('"').to_ascii_lowercase()));
    }
    let bare = super::route::host_of(view.authority);
    if bare != view.authority {
        hosts.push(bare.to_owned());
    }
    hosts.dedup();
    hosts
        .into_iter()
        .filter(|h| !h.is_empty() && h != view.authority)
        .filter_map(|h| {
            // Schemes that sign the `host` header read it, not the authority.
            let mut headers = view.headers.clone();
            headers.insert(http::header::HOST, HeaderValue::from_str(&h).ok()?);
            Some(Variant {
                what: format!(
                    "the signature verifies with Host `{h}` instead of `{}`: a proxy in front rewrote the Host \
                     header (its upstream Host), or the sender signed another port",
                    view.authority
                ),
                authority: Some(h),
                headers: Some(headers),
                ..Variant::new(String::new())
            })
        })
        .collect()
}

/// Headers a proxy appends to: the last comma-separated element dropped,
/// or only the first of several lines kept.
fn headers(headers: &HeaderMap) -> Vec<Variant> {
    let mut out = Vec::new();
    for name in headers.keys() {
        let values: Vec<&HeaderValue> = headers.get_all(name).iter().collect();
        let text = values.iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(", ");
        let Some((kept, _)) = text.rsplit_once(',') else { continue };
        let Ok(value) = HeaderValue::from_str(kept.trim_end()) else { continue };
        let mut changed = headers.clone();
        changed.insert(name.clone(), value);
        out.push(Variant {
            headers: Some(changed),
            ..Variant::new(format!(
                "the signature verifies with {} `{}` instead of `{text}`: a proxy in front appended to it",
                display_name(name),
                kept.trim_end()
            ))
        });
    }
    out
}

/// The body before common re-serialisations: JSON with its whitespace
/// removed, or without a trailing newline.
fn bodies(body: &[u8]) -> Vec<Variant> {
    let mut out = Vec::new();
    if let Some(compact) = minified_json(body).filter(|c| c != body) {
        out.push(Variant {
            body: Some(compact),
            ..Variant::new(
                "the signature verifies with the body's JSON minified: it was re-serialised (re-indented) after \
                 signing, so verify the raw bytes as sent"
                    .into(),
            )
        });
    }
    if let Some(trimmed) = body.strip_suffix(b"\n") {
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        out.push(Variant {
            body: Some(trimmed.to_vec()),
            ..Variant::new("the signature verifies without the body's trailing newline: one was added".into())
        });
    }
    out
}

/// `body` with the whitespace between JSON tokens removed (strings kept
/// byte for byte), when it parses as JSON.
fn minified_json(body: &[u8]) -> Option<Vec<u8>> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).ok()?;
    let mut out = Vec::with_capacity(body.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in body {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !b.is_ascii_whitespace() {
            in_string = b == b'"';
            out.push(b);
        }
    }
    Some(out)
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// `x-forwarded-for` → `X-Forwarded-For`, as people write it.
fn display_name(name: &HeaderName) -> String {
    name.as_str()
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| f.to_ascii_uppercase().to_string() + c.as_str())
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_minified_outside_strings_only() {
        let pretty = b"{\n  \"a b\": \"x \\\" y\",\n  \"n\": [1, 2]\n}\n";
        assert_eq!(minified_json(pretty).as_deref(), Some(&b"{\"a b\":\"x \\\" y\",\"n\":[1,2]}"[..]));
        assert_eq!(minified_json(b"not json"), None);
    }

    #[test]
    fn leading_segments_are_dropped_one_by_one() {
        let headers = HeaderMap::new();
        let view = MessageView {
            method: "GET",
            scheme: "http",
            authority: "a",
            path: "/a/b/c",
            query: None,
            headers: &headers,
        };
        let tried: Vec<String> = paths(&view).into_iter().filter_map(|v| v.path).collect();
        assert!(tried.contains(&"/b/c".to_owned()) && tried.contains(&"/c".to_owned()), "{tried:?}");
        // A long path: only the first few prefixes are tried.
        let long = "/s".repeat(3000);
        let view = MessageView { path: &long, ..view };
        let prefixes = paths(&view).into_iter().filter(|v| v.what.contains("added the prefix")).count();
        assert_eq!(prefixes, MAX_DROPPED_SEGMENTS);
    }
}
