//! Upstream URLs and their CA bundles.

use std::sync::Arc;

use http::uri::Scheme;
use http::{HeaderValue, Uri};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use super::Ctx;
use crate::config::raw::{NamedMap, RawUpstream, Spanned};
use crate::config::{CaBundle, HttpUpstream, normalize_authority};

pub(in crate::config) type Upstreams = Vec<(String, Arc<HttpUpstream>)>;

pub(super) fn build(ctx: &mut Ctx<'_>, raw: &NamedMap<RawUpstream>) -> Upstreams {
    let mut out: Upstreams = Vec::new();
    for (name, u) in &raw.0 {
        if name.value == "echo" || out.iter().any(|(n, _)| *n == name.value) {
            ctx.on(name, format!("upstream name `{}` is reserved or used twice", name.value));
            continue;
        }
        let ca = u.ca.as_ref().and_then(|path| load_ca(ctx, path));
        if u.ca.is_some() && ca.is_none() {
            continue;
        }
        if let Some(up) = parse_url(ctx, &u.url, out.len(), &name.value, ca) {
            out.push((name.value.clone(), Arc::new(up)));
        }
    }
    out
}

/// Parses `http(s)://host[:port][/base]` into an upstream.
pub(super) fn parse_url(
    ctx: &mut Ctx<'_>,
    url: &Spanned<String>,
    id: usize,
    name: &str,
    ca: Option<CaBundle>,
) -> Option<HttpUpstream> {
    let bad = |why: &str| format!("upstream `{}`: {why} (expected http(s)://host:port[/base] or `echo`)", url.value);
    let Ok(uri) = url.value.parse::<Uri>() else {
        ctx.on(url, bad("not a URL"));
        return None;
    };
    let https = match uri.scheme() {
        Some(s) if *s == Scheme::HTTP => false,
        Some(s) if *s == Scheme::HTTPS => true,
        _ => {
            ctx.on(url, bad("the scheme must be http or https"));
            return None;
        }
    };
    let Some(authority) = uri.authority() else {
        ctx.on(url, bad("no host"));
        return None;
    };
    if authority.as_str().contains('@') || uri.query().is_some() {
        ctx.on(url, bad("user info and query strings are not allowed"));
        return None;
    }
    if ca.is_some() && !https {
        ctx.on(url, bad("`ca` only applies to https upstreams"));
        return None;
    }
    // Every way this can fail is reported: a route whose upstream silently
    // vanished would answer 404 `no_route` to every request.
    let Some(authority) = normalize_authority(authority, https) else {
        ctx.on(url, bad("the host or port is not valid (ports are 1-65535)"));
        return None;
    };
    let base_path = uri.path().trim_end_matches('/').to_owned();
    let Ok(host_header) = HeaderValue::from_str(authority.as_str()) else {
        ctx.on(url, bad("the host cannot be sent in a Host header"));
        return None;
    };
    Some(HttpUpstream { id, name: name.to_owned(), https, authority, base_path, host_header, ca })
}

pub(super) fn load_ca(ctx: &mut Ctx<'_>, path: &Spanned<String>) -> Option<CaBundle> {
    let full = ctx.depend_on(&path.value);
    let certs: Result<Vec<CertificateDer<'static>>, _> = match ctx.inputs.file(&path.value) {
        Ok(bytes) => CertificateDer::pem_slice_iter(bytes).collect(),
        Err(e) => {
            ctx.on(path, format!("cannot read CA file {}: {e}", full.display()));
            return None;
        }
    };
    match certs {
        Ok(certs) if !certs.is_empty() => Some(CaBundle { path: full, certs }),
        Ok(_) => {
            ctx.on(path, format!("CA file {} holds no PEM certificates", full.display()));
            None
        }
        Err(e) => {
            ctx.on(path, format!("CA file {} is not valid PEM: {e}", full.display()));
            None
        }
    }
}
