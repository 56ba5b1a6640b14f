//! `hmac-gateway sign`: what a sign route would add, for debugging by hand.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use crate::config::Action;
use crate::proxy::{Outbound, fresh_nonce, sign_request, unix_now};

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The config holding the sign route (and its secret).
    #[arg(long, default_value = "gateway.yaml")]
    config: PathBuf,
    /// Name of a route with `sign:`.
    #[arg(long)]
    route: String,
    /// Method (default GET, or POST with -d).
    #[arg(short = 'X', long = "request")]
    method: Option<String>,
    /// Extra header, `Name: value`; repeatable.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Body, or `@FILE` to read it from a file.
    #[arg(short = 'd', long = "data")]
    data: Option<String>,
    /// Print a runnable curl command instead of the headers.
    #[arg(long)]
    curl: bool,
    /// The URL (or path) the application would request.
    url: String,
}

pub fn run(args: &SignArgs) -> anyhow::Result<()> {
    let config = super::load(&args.config)?.config;
    let route = config.route(&args.route).with_context(|| format!("no route named `{}`", args.route))?;
    let Action::Sign(policy) = &route.action else {
        bail!("route `{}` verifies; `sign` needs a route with `sign:`", route.name);
    };
    let uri: Uri = args.url.parse().with_context(|| format!("`{}` is not a URL or path", args.url))?;
    let body = match &args.data {
        Some(d) if d.starts_with('@') => std::fs::read(&d[1..]).with_context(|| format!("cannot read {}", &d[1..]))?,
        Some(d) => d.clone().into_bytes(),
        None => Vec::new(),
    };
    let default_method = if args.data.is_some() { "POST" } else { "GET" };
    let method = Method::from_bytes(args.method.as_deref().unwrap_or(default_method).as_bytes())?;
    let mut headers = parse_headers(&args.headers)?;
    let path = if uri.path().is_empty() { "/" } else { uri.path() };
    let request = Outbound { method: &method, path, query: uri.query(), body: &body };
    let inbound = uri.authority().map_or("localhost", |a| a.as_str());
    // The operator is the one reading: an internal error's cause is theirs.
    let nonce = fresh_nonce().map_err(|e| anyhow::anyhow!(e.log_reason()))?;
    let target = sign_request(route, policy, inbound, &request, &mut headers, unix_now(), &nonce)
        .map_err(|e| anyhow::anyhow!(e.log_reason()))?;
    if args.curl {
        println!("{}", curl_line(&method, &target.url, &headers, args.data.as_deref()));
    } else {
        println!("{} {}", method, target.url);
        for (name, value) in &headers {
            println!("{}: {}", title_case(name), String::from_utf8_lossy(value.as_bytes()));
        }
    }
    Ok(())
}

fn parse_headers(raw: &[String]) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    for h in raw {
        let Some((name, value)) = h.split_once(':') else {
            bail!("header `{h}` must look like `Name: value`");
        };
        let name =
            HeaderName::from_bytes(name.trim().as_bytes()).with_context(|| format!("bad header name in `{h}`"))?;
        headers
            .append(name, HeaderValue::from_str(value.trim()).with_context(|| format!("bad header value in `{h}`"))?);
    }
    Ok(headers)
}

fn title_case(name: &HeaderName) -> String {
    name.as_str()
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |c| c.to_ascii_uppercase().to_string() + chars.as_str())
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Single-quotes for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn curl_line(method: &Method, url: &str, headers: &HeaderMap, data: Option<&str>) -> String {
    let mut line = format!("curl -sS -X {} {}", method, quote(url));
    for (name, value) in headers {
        let header = format!("{}: {}", title_case(name), String::from_utf8_lossy(value.as_bytes()));
        line.push_str(" -H ");
        line.push_str(&quote(&header));
    }
    // curl reads `@FILE` itself, exactly as `sign` did.
    if let Some(d) = data {
        line.push_str(&format!(" --data-binary {}", quote(d)));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn title_cases_header_names() {
        assert_eq!(title_case(&HeaderName::from_static("signature-input")), "Signature-Input");
    }
}
