//! The SigV4 canonical request: method, URI, query, headers, signed-header
//! list and payload hash, each in AWS's canonical form.

use std::fmt::Write as _;

use http::HeaderMap;

/// How the path is canonicalised: every AWS service but S3 normalises it
/// and encodes it a second time; S3 takes it as it is, encoded once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathRules {
    pub normalize: bool,
    pub double_encode: bool,
}

impl PathRules {
    pub fn for_service(service: &str) -> Self {
        let s3 = service == "s3";
        Self { normalize: !s3, double_encode: !s3 }
    }
}

/// The request parts the canonical request is built from.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    pub method: &'a str,
    /// The path as received (percent-encoded as the client sent it).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// Used for `host` when the request has no Host header (HTTP/2).
    pub authority: &'a str,
}

/// Builds the canonical request. `skip_query` names a query parameter left
/// out (`X-Amz-Signature` for presigned URLs). Errors name a signed header
/// the request does not carry.
pub fn canonical_request(
    parts: &Parts<'_>,
    rules: PathRules,
    signed_headers: &[String],
    payload_hash: &str,
    skip_query: Option<&str>,
) -> Result<String, String> {
    let mut out = String::with_capacity(256);
    out.push_str(parts.method);
    out.push('\n');
    out.push_str(&canonical_uri(parts.path, rules));
    out.push('\n');
    out.push_str(&canonical_query(parts.query.unwrap_or_default(), skip_query));
    out.push('\n');
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        out.push_str(&header_value(parts, name).ok_or_else(|| format!("signed header `{name}` is absent"))?);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

/// All values of `name`, each trimmed with inner runs of spaces collapsed,
/// joined with `,`.
fn header_value(parts: &Parts<'_>, name: &str) -> Option<String> {
    let mut values = parts.headers.get_all(name).iter().peekable();
    if values.peek().is_none() {
        return (name == "host").then(|| parts.authority.to_owned());
    }
    let mut out = String::new();
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let text = String::from_utf8_lossy(value.as_bytes());
        out.push_str(&text.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    Some(out)
}

pub fn canonical_uri(path: &str, rules: PathRules) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let path = if rules.normalize { normalize(path) } else { path.to_owned() };
    if rules.double_encode { encode(path.as_bytes(), true) } else { encode(&decode(&path), true) }
}

/// Removes `.` and `..` segments and empty segments, keeping a trailing `/`.
fn normalize(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segments.join("/"));
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if trailing && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Sorted `key=value` pairs, each side decoded then re-encoded.
pub fn canonical_query(query: &str, skip: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .filter(|(k, _)| Some(decode_query(k).as_slice()) != skip.map(str::as_bytes))
        .map(|(k, v)| (encode(&decode_query(k), false), encode(&decode_query(v), false)))
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len() + 8);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        let _ = write!(out, "{k}={v}");
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/`
/// when `keep_slash`), with uppercase hex.
pub fn encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

pub fn decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| char::from(*b).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or_default());
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Query components: `+` is a space, as form encoding (and AWS) reads it.
fn decode_query(text: &str) -> Vec<u8> {
    decode(&text.replace('+', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_like_the_aws_suite() {
        let rules = PathRules { normalize: true, double_encode: true };
        for (path, expected) in [
            ("/", "/"),
            ("/./", "/"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/example1/example2/../..", "/"),
            ("/example/..", "/"),
            ("/test/@connections/JBDvjfGEIAMCERw%3D", "/test/%40connections/JBDvjfGEIAMCERw%253D"),
        ] {
            assert_eq!(canonical_uri(path, rules), expected, "{path}");
        }
        let s3 = PathRules::for_service("s3");
        assert_eq!(canonical_uri("//a/../b%20c", s3), "//a/../b%20c");
    }

    #[test]
    fn query_pairs_are_sorted_and_reencoded() {
        assert_eq!(canonical_query("b=2&a=1&a=0", None), "a=0&a=1&b=2");
        assert_eq!(canonical_query("x=a b&y=%7e&z", None), "x=a%20b&y=~&z=");
        assert_eq!(canonical_query("X-Amz-Signature=ab&k=v", Some("X-Amz-Signature")), "k=v");
    }
}
