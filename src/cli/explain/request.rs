//! The request `explain` checks, read from text: raw HTTP/1.1, `curl -v`
//! output, or what `hmac-gateway sign` prints (its request line has no
//! version: HTTP/1.1 is meant). The head is parsed by httparse, as hyper parses it in the
//! gateway, and `Content-Length` is judged as hyper judges it, so a request
//! the gateway's HTTP/1 parser would refuse is reported as refused, not
//! explained as if it had arrived.

use anyhow::{Context as _, bail};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Version};

/// Why a request text gives no request to check.
#[derive(Debug)]
pub enum ReadError {
    /// The text is not a request (usage error, exit 2).
    Unreadable(anyhow::Error),
    /// The gateway's HTTP/1 parser answers 400 before any of its checks.
    Refused(String),
}

impl From<anyhow::Error> for ReadError {
    fn from(e: anyhow::Error) -> Self {
        Self::Unreadable(e)
    }
}

/// The request head and body, from `curl -v` output (its `> ` lines; `*`,
/// `<` and other lines are ignored) or raw HTTP/1.1. `body` replaces the
/// text's own body.
pub fn parse_request(text: &[u8], body: Option<Vec<u8>>) -> Result<(Parts, Vec<u8>), ReadError> {
    let (head, own_body, version) = match curl_head(text) {
        Some((head, version)) => (head, Vec::new(), version),
        None => {
            let (head, rest) = split_head(text);
            (versioned(head), rest.to_vec(), None)
        }
    };
    // Text that does not even start like a request is a usage error; a
    // request whose details hyper refuses is the gateway's 400.
    let first = String::from_utf8_lossy(&head).lines().find(|l| !l.trim().is_empty()).map(str::to_owned);
    if !first.is_some_and(|l| is_request_line(l.trim_end_matches('\r'))) {
        bail_unreadable("no request line: give `METHOD TARGET HTTP/1.1`, then headers, a blank line and the body")?;
    }
    let mut parts = parse_head(&head, version)?;
    let body = frame_body(&mut parts, body.unwrap_or(own_body))?;
    Ok((parts, body))
}

/// `hmac-gateway sign` prints `METHOD URL` and then the headers: a request
/// line without its version, which is HTTP/1.1. Any other head is kept.
fn versioned(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let Some(first) = text.lines().find(|l| !l.trim().is_empty()) else { return head.to_vec() };
    let line = first.trim_end_matches('\r');
    if line.split(' ').count() != 2 || !is_request_line(&format!("{line} HTTP/1.1")) {
        return head.to_vec();
    }
    text.replacen(line, &format!("{line} HTTP/1.1"), 1).into_bytes()
}

fn bail_unreadable(why: &str) -> Result<(), ReadError> {
    Err(ReadError::Unreadable(anyhow::anyhow!("{why}")))
}

/// `curl -v` output, found by its request line (`> GET /path HTTP/1.1`)
/// wherever it starts (a progress meter or a note may come first): the
/// head rebuilt from the `> ` lines, and the version curl used (HTTP/2
/// heads are parsed as HTTP/1.1 text, then marked HTTP/2).
fn curl_head(text: &[u8]) -> Option<(Vec<u8>, Option<Version>)> {
    let text = String::from_utf8_lossy(text);
    let mut lines = text.lines().filter_map(|l| l.strip_prefix("> ")).map(|l| l.trim_end_matches('\r'));
    let request_line = lines.find(|l| is_request_line(l))?;
    let (line, version) = match request_line.strip_suffix(" HTTP/2").or_else(|| request_line.strip_suffix(" HTTP/2.0"))
    {
        Some(start) => (format!("{start} HTTP/1.1"), Some(Version::HTTP_2)),
        None => (request_line.to_owned(), None),
    };
    let mut head = format!("{line}\r\n");
    for header in lines.take_while(|l| !l.is_empty()) {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    Some((head.into_bytes(), version))
}

fn is_request_line(line: &str) -> bool {
    let mut words = line.split(' ');
    let method = words.next().unwrap_or_default();
    !method.is_empty()
        && method.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && words.next().is_some_and(|t| !t.is_empty())
        && words.next().is_some_and(|v| v.starts_with("HTTP/"))
}

/// Raw HTTP: the head (through its blank line) and what follows. The first
/// blank line ends the head, with CRLF or bare LF line ends.
fn split_head(text: &[u8]) -> (&[u8], &[u8]) {
    let crlf = find(text, b"\r\n\r\n").map(|at| at + 4);
    let lf = find(text, b"\n\n").map(|at| at + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => text.split_at(a.min(b)),
        (Some(end), None) | (None, Some(end)) => text.split_at(end),
        // No blank line: the head alone, ended here.
        (None, None) => (text, &[]),
    }
}

fn parse_head(head: &[u8], version: Option<Version>) -> Result<Parts, ReadError> {
    let mut head = head.to_vec();
    if find(&head, b"\n\n").is_none() && find(&head, b"\r\n\r\n").is_none() {
        head.extend_from_slice(if head.ends_with(b"\r\n") { b"\r\n" } else { b"\r\n\r\n" });
    }
    let mut headers = vec![httparse::EMPTY_HEADER; 1024];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(anyhow::anyhow!("the request head is incomplete").into()),
        Err(e) => return Err(refused_head(&head, e)),
    }
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return Err(anyhow::anyhow!("the request line is not `METHOD TARGET HTTP/1.1`").into());
    };
    let version = version.unwrap_or(if request.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 });
    let mut parts = http::Request::builder()
        .method(method)
        .uri(target)
        .version(version)
        .body(())
        .with_context(|| format!("the request line does not parse: {method} {target}"))?
        .into_parts()
        .0;
    let mut length: Option<u64> = None;
    for header in request.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes()).context("header name")?;
        let value = HeaderValue::from_bytes(header.value).context("header value")?;
        if name == http::header::CONTENT_LENGTH {
            // hyper: a value that is not all digits, or two different ones,
            // is a 400; a repeat of the same value is dropped.
            let len = content_length(&value)?;
            match length {
                Some(first) if first != len => {
                    return Err(ReadError::Refused("two different Content-Length values".into()));
                }
                Some(_) => continue,
                None => length = Some(len),
            }
        }
        parts.headers.append(name, value);
    }
    Ok(parts)
}

fn content_length(value: &HeaderValue) -> Result<u64, ReadError> {
    let text = value.as_bytes();
    let digits = !text.is_empty() && text.iter().all(u8::is_ascii_digit);
    std::str::from_utf8(text).ok().filter(|_| digits).and_then(|t| t.parse().ok()).ok_or_else(|| {
        ReadError::Refused(format!("Content-Length `{}` is not a number", value.to_str().unwrap_or("?")))
    })
}

/// httparse's complaint, with the line it is about when it is a header.
fn refused_head(head: &[u8], e: httparse::Error) -> ReadError {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().skip(1).find(|l| matches!(e, httparse::Error::HeaderName) && l.contains(" :"));
    match line {
        Some(line) => ReadError::Refused(format!("{e} (a space before the colon: `{line}`)")),
        None => ReadError::Refused(format!("{e}")),
    }
}

/// The body as the gateway would read it: `Content-Length` bytes (a file's
/// trailing newline beyond them is not part of it); a body with no framing
/// header gets a `Content-Length`, as the sender's client adds one.
fn frame_body(parts: &mut Parts, mut body: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    if parts.headers.contains_key(http::header::TRANSFER_ENCODING) {
        bail!("a chunked body cannot be read here: remove Transfer-Encoding and give the decoded body");
    }
    match crate::proxy::declared_length(&parts.headers) {
        Some(len) => {
            let len = usize::try_from(len).context("Content-Length is too large")?;
            if body.len() < len {
                bail!("the body has {} bytes but Content-Length says {len}: give the whole body", body.len());
            }
            body.truncate(len);
        }
        None if !body.is_empty() => {
            parts.headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        None => {}
    }
    Ok(body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
