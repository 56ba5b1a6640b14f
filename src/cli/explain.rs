//! `hmac-gateway explain`: why the gateway would refuse (or accept) a
//! request, step by step. The request is read as text, raw HTTP/1.1 or as
//! `curl -v` prints it; the checks themselves are the gateway's own
//! (`crate::proxy::explain`).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Version};

use crate::config::{Config, Listener};
use crate::proxy::explain::{self, Explanation, Input, Refusal};

/// `explain` arguments.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    #[arg(long, default_value = "gateway.yaml")]
    config: PathBuf,
    /// The request: raw HTTP/1.1 (request line, headers, blank line, body)
    /// or `curl -v` output (its `> ` lines). Standard input when absent or `-`.
    #[arg(long)]
    request: Option<PathBuf>,
    /// A file holding the body, for request text without one (`curl -v`
    /// does not print the body it sends).
    #[arg(long)]
    body: Option<PathBuf>,
    /// The unix time to check at, such as when a logged request was sent
    /// (default: this clock).
    #[arg(long)]
    now: Option<i64>,
    /// The listener the request arrives on (needed when there are several).
    #[arg(long)]
    listener: Option<String>,
    /// The route the request is meant for: another one matching fails.
    #[arg(long)]
    route: Option<String>,
}

/// Exit status: 0 when the gateway would accept the request, 1 when it would
/// refuse it, 2 for bad usage or a request that cannot be read.
pub fn main(args: &ExplainArgs) -> ExitCode {
    match prepare(args) {
        Ok(prepared) => {
            let (config, parts, body) = (&prepared.config, &prepared.parts, &prepared.body);
            let listener = match pick_listener(config, args.listener.as_deref()) {
                Ok(l) => l,
                Err(e) => return usage_error(&e),
            };
            let now = args.now.unwrap_or_else(crate::proxy::unix_now);
            let input = Input { config, listener, parts, body, now, route: args.route.as_deref() };
            let explanation = explain::explain(&input);
            let clock = if args.now.is_some() { "--now" } else { "this clock" };
            println!("explain: {} {} on listener `{}`, at {now} ({clock})", parts.method, parts.uri, listener.name);
            print!("{}", render(&explanation));
            if explanation.refused.is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS }
        }
        Err(e) => usage_error(&e),
    }
}

fn usage_error(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(2)
}

struct Prepared {
    config: Config,
    parts: Parts,
    body: Vec<u8>,
}

fn prepare(args: &ExplainArgs) -> anyhow::Result<Prepared> {
    let config = super::load(&args.config)?.config;
    let text = match args.request.as_deref() {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        _ => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("reading the request from standard input (end it with Ctrl-D), or pass --request FILE");
            }
            let mut text = Vec::new();
            std::io::stdin().read_to_end(&mut text).context("cannot read the request from standard input")?;
            text
        }
    };
    let body = match &args.body {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?),
        None => None,
    };
    let (parts, body) = parse_request(&text, body)?;
    Ok(Prepared { config, parts, body })
}

fn pick_listener<'c>(config: &'c Config, name: Option<&str>) -> anyhow::Result<&'c Listener> {
    let names = || config.listeners.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ");
    match name {
        Some(name) => config
            .listeners
            .iter()
            .find(|l| l.name == name)
            .with_context(|| format!("no listener `{name}` (listeners: {})", names())),
        None if config.listeners.len() == 1 => Ok(&config.listeners[0]),
        None => bail!("the config has several listeners ({}): pass --listener", names()),
    }
}

/// The request line and headers, and the body: from `curl -v` output (its
/// `> ` lines; `*`, `<` and other lines are ignored) or raw HTTP/1.1.
/// `body` replaces the text's own body.
pub fn parse_request(text: &[u8], body: Option<Vec<u8>>) -> anyhow::Result<(Parts, Vec<u8>)> {
    let text_str = String::from_utf8_lossy(text);
    // curl -v output starts with its `*` or `>` lines; a request line starts
    // with a method, so a body quoting `> ` cannot be mistaken for it.
    let first = text_str.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    let is_curl = first.starts_with('*') || first.starts_with('>');
    let (head, own_body): (Vec<String>, Vec<u8>) = if is_curl {
        let lines = text_str.lines().filter_map(|l| l.strip_prefix('>')).map(|l| l.trim_start_matches(' '));
        (lines.map(|l| l.trim_end_matches('\r').to_owned()).take_while(|l| !l.is_empty()).collect(), Vec::new())
    } else {
        let split = find(text, b"\r\n\r\n").map(|at| (at, 4)).or_else(|| find(text, b"\n\n").map(|at| (at, 2)));
        let (head, rest) = match split {
            Some((at, sep)) => (&text[..at], text[at + sep..].to_vec()),
            None => (text, Vec::new()),
        };
        let head = String::from_utf8_lossy(head);
        let lines = head.lines().map(|l| l.trim_end_matches('\r').to_owned());
        (lines.skip_while(String::is_empty).collect(), rest)
    };
    let body = body.unwrap_or(own_body);
    let Some((request_line, header_lines)) = head.split_first() else {
        bail!("no request line: give `METHOD TARGET HTTP/1.1`, then headers, a blank line and the body");
    };
    let mut parts = request_parts(request_line)?;
    for (n, line) in header_lines.iter().enumerate() {
        let (name, value) =
            line.split_once(':').with_context(|| format!("header line {} is not `Name: value`: {line}", n + 2))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("header line {}: invalid name `{name}`", n + 2))?;
        let value = HeaderValue::from_str(value.trim())
            .with_context(|| format!("header line {}: invalid value for `{name}`", n + 2))?;
        parts.headers.append(name, value);
    }
    let body = frame_body(&mut parts, body)?;
    Ok((parts, body))
}

fn request_parts(line: &str) -> anyhow::Result<Parts> {
    let mut words = line.split_whitespace();
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        bail!("the request line is not `METHOD TARGET HTTP/1.1`: {line}");
    };
    let version = match words.next() {
        None | Some("HTTP/1.1") => Version::HTTP_11,
        Some("HTTP/1.0") => Version::HTTP_10,
        Some("HTTP/2" | "HTTP/2.0") => Version::HTTP_2,
        Some(other) => bail!("unknown HTTP version `{other}`"),
    };
    let request = http::Request::builder()
        .method(method)
        .uri(target)
        .version(version)
        .body(())
        .with_context(|| format!("the request line does not parse: {line}"))?;
    Ok(request.into_parts().0)
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

/// The numbered steps, the hints, the signed text between markers, and the
/// gateway's answer.
pub fn render(e: &Explanation) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (n, step) in e.steps.iter().enumerate() {
        let _ = match &step.outcome {
            Ok(detail) if detail.is_empty() => writeln!(out, "{:>3}. {}: ok", n + 1, step.name),
            Ok(detail) => writeln!(out, "{:>3}. {}: ok ({detail})", n + 1, step.name),
            Err(why) => writeln!(out, "{:>3}. {}: FAILED: {why}", n + 1, step.name),
        };
    }
    for hint in &e.hints {
        let _ = writeln!(out, "     hint: {hint}");
    }
    for part in &e.signed {
        let _ = writeln!(out, "----- begin {} (computed by the gateway from this request) -----", part.name);
        let _ = writeln!(out, "{}", String::from_utf8_lossy(&part.text));
        let _ = writeln!(out, "----- end {} -----", part.name);
    }
    let _ = match &e.refused {
        None => writeln!(out, "result: accepted: the gateway would forward this request"),
        Some(Refusal::Answer(r)) => {
            writeln!(out, "result: refused: the gateway would answer {} {} ({r})", r.status().as_u16(), r.code())
        }
        Some(Refusal::OtherRoute) => writeln!(out, "result: refused: the request does not reach the route asked for"),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_verbose_output_gives_its_request_lines() {
        let text = b"*   Trying 127.0.0.1:8080...\n* Connected\n> POST /_functions/x?y=1 HTTP/1.1\r\n> Host: a.example\r\n\
            > Content-Length: 2\r\n> \r\n} [2 bytes data]\n< HTTP/1.1 401 Unauthorized\n< content-type: application/json\n";
        let (parts, body) = parse_request(text, Some(b"hi".to_vec())).expect("parses");
        assert_eq!((parts.method.as_str(), parts.uri.to_string().as_str()), ("POST", "/_functions/x?y=1"));
        assert_eq!(parts.headers["host"], "a.example");
        assert_eq!(parts.headers.len(), 2, "response lines are not request headers");
        assert_eq!(body, b"hi");
    }

    #[test]
    fn raw_http_with_bare_newlines_is_read_to_its_content_length() {
        let (parts, body) =
            parse_request(b"PUT /a HTTP/1.1\nHost: h\nContent-Length: 7\n\nabc\n> x\n", None).expect("parses");
        assert_eq!(parts.version, Version::HTTP_11);
        assert_eq!(body, b"abc\n> x", "a body quoting `> ` stays raw HTTP; the file's last newline is not in it");
    }

    #[test]
    fn a_body_without_framing_gets_its_content_length() {
        let (parts, body) = parse_request(b"POST /a HTTP/1.1\r\nHost: h\r\n\r\n{}", None).expect("parses");
        assert_eq!((parts.headers["content-length"].to_str().ok(), body.as_slice()), (Some("2"), &b"{}"[..]));
    }

    #[test]
    fn unreadable_requests_say_why() {
        let cases: [(&[u8], &str); 5] = [
            (b"", "no request line"),
            (b"GET\r\n\r\n", "not `METHOD TARGET HTTP/1.1`"),
            (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", "header line 2"),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc", "Content-Length says 9"),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "chunked"),
        ];
        for (text, why) in cases {
            let err = parse_request(text, None).expect_err("refused");
            assert!(format!("{err:#}").contains(why), "{err:#} should mention {why}");
        }
    }
}
