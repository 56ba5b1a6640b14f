//! The SigV4 canonical request: method, URI, query, headers, signed-header
//! list and payload hash, each in AWS's canonical form.

use std::fmt::Write as _;

use crate::MessageView;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};

/// How the path is canonicalised: every AWS service but S3 normalises it
/// and encodes it a second time; S3 takes it as it is, encoded once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathRules {
    /// Remove `.`, `..` and empty segments first.
    pub normalize: bool,
    /// Percent-encode the path as received (a second time), rather than
    /// decoding it and encoding it once.
    pub double_encode: bool,
}

impl PathRules {
    /// The rules of the AWS service named `service`: both off for `s3`, both
    /// on for every other.
    pub fn for_service(service: &str) -> Self {
        let s3 = service == "s3";
        Self { normalize: !s3, double_encode: !s3 }
    }
}

/// Builds the canonical request. `skip_query` names a query parameter left
/// out (`X-Amz-Signature` for presigned URLs). Errors name a signed header
/// the request does not carry.
pub fn canonical_request(
    parts: &MessageView<'_>,
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
fn header_value(parts: &MessageView<'_>, name: &str) -> Option<String> {
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

/// The canonical URI of `path` (empty means `/`) under `rules`.
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

/// RFC 3986 unreserved characters are left as they are; AWS encodes every
/// other byte, with uppercase hex (what `percent-encoding` writes).
const AWS_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// The same, keeping `/` (path segments).
const AWS_ENCODE_PATH: &AsciiSet = &AWS_ENCODE.remove(b'/');

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/`
/// when `keep_slash`), with uppercase hex.
pub fn encode(bytes: &[u8], keep_slash: bool) -> String {
    percent_encode(bytes, if keep_slash { AWS_ENCODE_PATH } else { AWS_ENCODE }).to_string()
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as it is.
pub fn decode(text: &str) -> Vec<u8> {
    percent_decode_str(text).collect()
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

    /// `percent-encoding` replaced a hand-written encoder and decoder: the
    /// same bytes out, for every byte and every kind of broken escape.
    #[test]
    fn encoding_matches_the_aws_rules_byte_for_byte() {
        for b in 0..=u8::MAX {
            let unreserved = b.is_ascii_alphanumeric() || b"-_.~".contains(&b);
            let escaped = format!("%{b:02X}");
            let expected = if unreserved { char::from(b).to_string() } else { escaped.clone() };
            assert_eq!(encode(&[b], false), expected, "{b:#04x}");
            let expected_path = if b == b'/' { "/".to_owned() } else { expected };
            assert_eq!(encode(&[b], true), expected_path, "{b:#04x}");
            assert_eq!(decode(&escaped), [b]);
            assert_eq!(decode(&escaped.to_lowercase()), [b]);
        }
        for broken in ["%", "%4", "%G1", "%%41", "a%2", "%4%41"] {
            let expected: Vec<u8> = match broken {
                "%%41" => b"%A".to_vec(),
                "%4%41" => b"%4A".to_vec(),
                other => other.as_bytes().to_vec(),
            };
            assert_eq!(decode(broken), expected, "{broken}");
        }
    }

    #[test]
    fn query_pairs_are_sorted_and_reencoded() {
        assert_eq!(canonical_query("b=2&a=1&a=0", None), "a=0&a=1&b=2");
        assert_eq!(canonical_query("x=a b&y=%7e&z", None), "x=a%20b&y=~&z=");
        assert_eq!(canonical_query("X-Amz-Signature=ab&k=v", Some("X-Amz-Signature")), "k=v");
    }
}
