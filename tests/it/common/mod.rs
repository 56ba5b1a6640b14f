//! Shared test harness: a recording upstream, the real gateway on ephemeral
//! ports, a client, and a signer built on the library's own RFC 9421 code.
#![allow(dead_code, clippy::unwrap_used)]

pub mod binary;
pub mod explain;
pub mod h2;
pub mod ports;
pub mod redis_servers;
pub mod tls;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use hmac_gateway::config::Loaded;
use hmac_gateway::scheme::digest::content_digest_sha256;
use hmac_gateway::scheme::rfc9421::{self, ALG, Component, HmacSha256, MessageView};
use hmac_gateway::server::{self, RunningGateway};

/// 64-byte test key, base64 (RFC 9421 B.1.5's).
pub const KEY_B64: &str = "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==";
/// A second, different key.
pub const OTHER_KEY_B64: &str =
    "QR3Nb/EMvE/G2vE6gfji+V8fkItRAduDBA5yKS2FcikmSOFt6ssWUZhjhURsg/rsUy+uPq5V+cVjEqjqAzbIiw==";

/// What the upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A real HTTP server on 127.0.0.1:0 that records every request.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Recorded>>>,
}

impl Upstream {
    pub async fn start() -> Self {
        Self::start_with_delay(Duration::ZERO).await
    }

    /// Answers each request after `delay` (to exercise timeouts).
    pub async fn start_with_delay(delay: Duration) -> Self {
        Self::start_at("127.0.0.1:0", delay).await
    }

    /// On a given address: an upstream that comes back where it was.
    pub async fn start_at(addr: &str, delay: Duration) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let record = record.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let record = record.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                            let target = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
                            record.lock().unwrap().push(Recorded {
                                method: parts.method,
                                target,
                                headers: parts.headers,
                                body,
                            });
                            tokio::time::sleep(delay).await;
                            let mut resp = Response::new(Full::new(Bytes::from_static(b"upstream says hi")));
                            resp.headers_mut().insert("x-upstream", HeaderValue::from_static("yes"));
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen }
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn last(&self) -> Recorded {
        self.seen.lock().unwrap().last().cloned().expect("upstream saw a request")
    }
}

/// An upstream that answers every request with `body` (Content-Length),
/// counting the connections that ended (the gateway closed them).
pub struct SizedUpstream {
    pub addr: SocketAddr,
    pub ended: Arc<AtomicUsize>,
}

pub async fn sized_upstream(body: Bytes) -> SizedUpstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ended = Arc::new(AtomicUsize::new(0));
    let count = ended.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (count, body) = (count.clone(), body.clone());
            tokio::spawn(async move {
                let service = service_fn(move |_: Request<Incoming>| {
                    let body = body.clone();
                    async move { Ok::<_, std::convert::Infallible>(Response::new(Full::new(body))) }
                });
                let served = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                let _ = served.await;
                count.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    SizedUpstream { addr, ended }
}

/// A sign route (the consumer side: plain requests in) in front of
/// `upstream`, with `timeouts` (the inside of a flow mapping) and an admin
/// listener for the metrics.
pub fn sign_yaml(upstream: SocketAddr, timeouts: &str, route_extra: &str) -> String {
    format!(
        r#"
listeners: [{{ name: egress, bind: "127.0.0.1:0" }}]
admin: {{ bind: "127.0.0.1:0" }}
secrets:
  shared: {{ value: "{KEY_B64}", encoding: base64 }}
timeouts: {{ {timeouts} }}
routes:
  - name: call-host
    listener: egress
    sign: {{ scheme: rfc9421, keyid: site-b-1, secret: shared }}
    upstream: "http://{upstream}"
{route_extra}
"#
    )
}

/// Starts the real gateway on a YAML config written by the test.
pub async fn gateway(yaml: &str) -> RunningGateway {
    let config = Loaded::from_yaml(yaml, "test.yaml", Path::new(".")).unwrap_or_else(|e| panic!("config: {e}"));
    server::start(config).await.unwrap()
}

/// A verify gateway on `ingress` in front of `upstream`, consumer `site-b`
/// holding keyid `site-b-1`, plus consumer `intruder` (keyid `intruder-1`)
/// that exists but is not allowed on the route.
pub fn verify_yaml(upstream: &str, extra_verify: &str, extra_top: &str) -> String {
    format!(
        r#"
listeners:
  - {{ name: ingress, bind: "127.0.0.1:0" }}
secrets:
  shared: {{ value: "{KEY_B64}", encoding: base64 }}
  other: {{ value: "{OTHER_KEY_B64}", encoding: base64 }}
consumers:
  - id: site-b
    keys: [{{ keyid: site-b-1, secret: shared }}]
  - id: intruder
    keys: [{{ keyid: intruder-1, secret: other }}]
routes:
  - name: api
    listener: ingress
    match: {{ path_prefix: /_functions/ }}
    verify:
      scheme: rfc9421
      consumers: [site-b]
      max_age: 300
{extra_verify}
    upstream: "{upstream}"
{extra_top}
"#
    )
}

pub fn key(b64: &str) -> HmacSha256 {
    use base64::Engine as _;
    use hmac::KeyInit as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    HmacSha256::new_from_slice(&bytes).unwrap()
}

/// A request a test client will send, and the parts its signature covers.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub authority: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn get(authority: SocketAddr, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (path_and_query.to_owned(), None),
        };
        Self {
            method: Method::GET,
            authority: authority.to_string(),
            path,
            query,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    pub fn post(authority: SocketAddr, path_and_query: &str, body: &[u8]) -> Self {
        let mut r = Self::get(authority, path_and_query);
        r.method = Method::POST;
        r.body = Bytes::copy_from_slice(body);
        r
    }

    pub fn target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

/// Signing options for tests that need odd signatures.
#[derive(Debug, Clone)]
pub struct SignOpts {
    pub keyid: String,
    pub key_b64: &'static str,
    pub created: i64,
    pub nonce: Option<String>,
    pub components: Vec<&'static str>,
}

impl Default for SignOpts {
    fn default() -> Self {
        Self {
            keyid: "site-b-1".into(),
            key_b64: KEY_B64,
            created: hmac_gateway::testing::unix_now(),
            nonce: Some(hmac_gateway::testing::fresh_nonce().unwrap()),
            components: vec!["@method", "@authority", "@path", "@query"],
        }
    }
}

/// Adds Content-Digest (when there is a body) and an RFC 9421 signature.
pub fn sign(req: &mut Req, opts: &SignOpts) {
    let mut components: Vec<Component> = opts.components.iter().map(|c| Component::parse(c).unwrap()).collect();
    if !req.body.is_empty() {
        req.headers.insert("content-digest", content_digest_sha256(&req.body).parse().unwrap());
        components.push(Component::content_digest());
    }
    sign_components(req, &components, opts.created, opts.nonce.as_deref(), &opts.keyid, opts.key_b64);
}

/// Signs `req` as `sig1` over `components` exactly as given (no Content-Digest added).
pub fn sign_components(
    req: &mut Req,
    components: &[Component],
    created: i64,
    nonce: Option<&str>,
    keyid: &str,
    key_b64: &str,
) {
    let params = rfc9421::build_params(components, created, nonce, keyid, Some(ALG)).unwrap();
    let view = MessageView {
        method: req.method.as_str(),
        scheme: "http",
        authority: &req.authority,
        path: &req.path,
        query: req.query.as_deref(),
        headers: &req.headers,
    };
    let signed = rfc9421::sign(&view, &key(key_b64), "sig1", &params).unwrap();
    req.headers.insert("signature-input", signed.signature_input.parse().unwrap());
    req.headers.insert("signature", signed.signature.parse().unwrap());
}

pub fn signed(mut req: Req) -> Req {
    sign(&mut req, &SignOpts::default());
    req
}

/// `len` bytes that differ from one offset to the next (`i % 251`, as the
/// Python peers write them), so a reordered or repeated piece would not
/// compare equal.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

/// A response as the test client saw it.
#[derive(Debug)]
pub struct Got {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?}", self.body))
    }

    /// Asserts the documented error contract and returns the code.
    pub fn error_code(&self) -> String {
        let json = self.json();
        assert!(json["message"].is_string(), "{json}");
        assert_eq!(json["request_id"].as_str(), self.headers.get("x-request-id").and_then(|v| v.to_str().ok()));
        json["error"].as_str().unwrap().to_owned()
    }
}

/// Sends `req` to `addr` with `Host: req.authority`.
pub async fn send(addr: SocketAddr, req: &Req) -> Got {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri = format!("http://{addr}{}", req.target());
    let mut request = Request::builder().method(req.method.clone()).uri(uri).body(Full::new(req.body.clone())).unwrap();
    *request.headers_mut() = req.headers.clone();
    request.headers_mut().insert("host", req.authority.parse().unwrap());
    let response = tokio::time::timeout(Duration::from_secs(20), client.request(request)).await.unwrap().unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Got { status: parts.status, headers: parts.headers, body }
}

/// The headers of `req` as raw `name: value` lines, without framing headers
/// (raw-socket tests write their own).
pub fn header_lines(req: &Req) -> String {
    let mut lines = String::new();
    for (name, value) in &req.headers {
        if name != "content-length" && name != "transfer-encoding" {
            lines.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
        }
    }
    lines
}

/// Writes `bytes` on a fresh connection and reads until the server closes
/// (or 3 s pass); returns the text and whether the server closed.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> (String, bool) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut out)).await.is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// Reads one HTTP head a byte at a time (so nothing after it is consumed),
/// up to its blank line or until the peer closes; callers bound the wait.
pub async fn read_head<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    head
}

/// Runs an interop peer (`command` with its arguments) with `spec` as JSON on
/// stdin: (whether it exited 0, its stdout and stderr).
pub fn run_peer(mut command: std::process::Command, spec: &serde_json::Value) -> (bool, String) {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(spec.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text.trim().to_owned())
}

/// Fails a test whose peer is missing, saying how to install it. Tests that
/// need a peer are `#[ignore]`d with the reason, so a plain `cargo test`
/// lists them as ignored instead of passing them vacuously; one that runs
/// (`--include-ignored`) must have its peer.
pub fn require_peer(installed: bool, install_hint: &str) {
    assert!(installed, "this test needs {install_hint} (scripts/install-test-peers.sh installs every peer)");
}
