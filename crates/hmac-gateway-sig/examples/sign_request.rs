//! Signs one request for a gateway's RFC 9421 verify route and sends it,
//! with nothing but this crate and the standard library: no sidecar.
//!
//! ```text
//! cargo run --release -- run --config gateway.yaml          # the demo gateway
//! cargo run -p hmac-gateway-sig --example sign_request      # 200 from its echo upstream
//! cargo run -p hmac-gateway-sig --example sign_request -- http://127.0.0.1:8080/_functions/siteStats '{"a":1}'
//! ```
//!
//! The key id and secret are the demo's (`gateway.yaml`); set `HMAC_KEYID`
//! and `HMAC_SECRET_B64` for your own. The components signed are the demo
//! route's: `@method @authority @path @query`, plus `content-digest` when
//! there is a body.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac_gateway_sig::rfc9421::{self, Component, Signer, Target};
use http::HeaderMap;

const DEMO_SECRET: &str = "QR3Nb/EMvE/G2vE6gfji+V8fkItRAduDBA5yKS2FcikmSOFt6ssWUZhjhURsg/rsUy+uPq5V+cVjEqjqAzbIiw==";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "http://127.0.0.1:8080/_functions/siteStats".into());
    let body = args.next().unwrap_or_default().into_bytes();
    let keyid = std::env::var("HMAC_KEYID").unwrap_or_else(|_| "consumer-site-1".into());
    let secret = STANDARD.decode(std::env::var("HMAC_SECRET_B64").unwrap_or_else(|_| DEMO_SECRET.into()))?;

    let (authority, path_and_query) = split_url(&url)?;
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let method = if body.is_empty() { "GET" } else { "POST" };

    // Sign last: every header the request carries is set before this.
    let mut headers = HeaderMap::new();
    headers.insert(http::header::HOST, authority.parse()?);
    let key = rfc9421::key(&secret);
    let components = [Component::Method, Component::Authority, Component::Path, Component::Query];
    let signer = Signer { keyid: &keyid, key: &key, label: "sig1", components: &components };
    let target = Target { method, scheme: "http", authority, path, query };
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    rfc9421::sign_request(&signer, &target, &mut headers, &body, now, &nonce())?;

    let mut request = format!("{method} {path_and_query} HTTP/1.1\r\n");
    for (name, value) in &headers {
        request.push_str(&format!("{name}: {}\r\n", value.to_str()?));
    }
    request.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request.as_bytes())?;
    stream.write_all(&body)?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    println!("{response}");
    Ok(())
}

/// `http://host:port/path?query` → (`host:port`, `/path?query`).
fn split_url(url: &str) -> Result<(&str, &str), String> {
    let rest = url.strip_prefix("http://").ok_or("this example speaks plain http:// only")?;
    Ok(match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    })
}

/// A nonce unique enough for an example: the gateway refuses a reused one.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    let time = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    bytes.copy_from_slice(&time.to_le_bytes());
    bytes[12..].copy_from_slice(&std::process::id().to_le_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}
