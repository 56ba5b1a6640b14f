//! `hmac-gateway explain`: why the gateway would refuse (or accept) a
//! request, step by step. The request is read as text, raw HTTP/1.1 or as
//! `curl -v` prints it; the checks themselves are the gateway's own
//! (`crate::proxy::explain`).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use http::request::Parts;

use crate::config::{Config, Listener};
use crate::proxy::explain::{self, Explanation, Input, Refusal};

mod request;

pub use request::{ReadError, parse_request};

/// `explain` arguments.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The host's config: the verify routes, keys and limits to check with.
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
    /// The listener the request arrives on (default: the one of `--route`, else the only one, else the one
    /// whose port the `Host` header names).
    #[arg(long)]
    listener: Option<String>,
    /// The route the request is meant for: another one matching fails.
    #[arg(long)]
    route: Option<String>,
}

/// Exit status: 0 when the gateway would accept the request, 1 when it would
/// refuse it, 2 for bad usage or a request that cannot be read.
pub fn main(args: &ExplainArgs) -> ExitCode {
    let prepared = match prepare(args) {
        Ok(prepared) => prepared,
        Err(ReadError::Unreadable(e)) => return usage_error(&e),
        Err(ReadError::Refused(why)) => {
            println!("  1. HTTP/1 parsing: FAILED: {why}");
            println!("result: refused: the gateway's HTTP/1 parser would answer 400 Bad Request, before any check");
            return ExitCode::from(1);
        }
    };
    let (config, parts, body) = (&prepared.config, &prepared.parts, &prepared.body);
    let listener = match pick_listener(config, args.listener.as_deref(), args.route.as_deref(), parts) {
        Ok(l) => l,
        Err(e) => return usage_error(&e),
    };
    let now = args.now.unwrap_or_else(crate::proxy::unix_now);
    let input = Input { config, listener, parts, body, now, route: args.route.as_deref() };
    let explanation = explain::explain(&input);
    let clock = if args.now.is_some() { "--now" } else { "this clock" };
    println!("explain: {} {} on listener `{}`, at {now} ({clock})", parts.method, shown_target(parts), listener.name);
    print!("{}", render(&explanation));
    if explanation.refused.is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// The request target with any MAC it carries (a presigned URL's) replaced.
fn shown_target(parts: &Parts) -> String {
    let view = crate::scheme::MessageView {
        method: parts.method.as_str(),
        scheme: "http",
        authority: "",
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
    };
    crate::scheme::redact::redact_carried_macs_in(&parts.uri.to_string(), &view)
}

fn usage_error(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", super::chain(e));
    ExitCode::from(2)
}

struct Prepared {
    config: Config,
    parts: Parts,
    body: Vec<u8>,
}

fn prepare(args: &ExplainArgs) -> Result<Prepared, ReadError> {
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

/// The listener named, else the one of the route named, else the only one,
/// else the one whose port the request's `Host` names.
fn pick_listener<'c>(
    config: &'c Config,
    name: Option<&str>,
    route: Option<&str>,
    parts: &Parts,
) -> anyhow::Result<&'c Listener> {
    let names = || config.listeners.iter().map(|l| &*l.name).collect::<Vec<_>>().join(", ");
    let named = |name: &str| {
        config
            .listeners
            .iter()
            .find(|l| *l.name == *name)
            .with_context(|| format!("no listener `{name}` (listeners: {})", names()))
    };
    if let Some(name) = name {
        return named(name);
    }
    if let Some(route) = route {
        let routes =
            || config.listeners.iter().flat_map(|l| &l.routes).map(|r| &*r.name).collect::<Vec<_>>().join(", ");
        let found = config.route(route).with_context(|| format!("no route `{route}` (routes: {})", routes()))?;
        return named(&found.listener);
    }
    if let [only] = config.listeners.as_slice() {
        return Ok(only);
    }
    let port = host_port(parts);
    let mut on_port = config.listeners.iter().filter(|l| Some(l.bind.port()) == port);
    match (on_port.next(), on_port.next()) {
        (Some(listener), None) => Ok(listener),
        _ => bail!(
            "the config has several listeners ({}) and the Host port names none of them: pass --listener",
            names()
        ),
    }
}

/// The port the request addressed: its `Host` (or absolute target), 80 when
/// it names none.
fn host_port(parts: &Parts) -> Option<u16> {
    let authority = match parts.headers.get(http::header::HOST) {
        Some(host) => host.to_str().ok()?.parse::<http::uri::Authority>().ok()?,
        None => parts.uri.authority()?.clone(),
    };
    Some(authority.port_u16().unwrap_or(80))
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
