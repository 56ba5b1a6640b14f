//! Configuration: `raw` mirrors the YAML file, `validate` checks it and builds
//! the typed [`Config`] below, which is all the proxy ever sees.

pub mod defaults;
mod inputs;
mod net;
mod policy;
pub mod raw;
mod redis_settings;
pub mod secret;
mod startup;
mod validate;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use crate::tls::CaBundle;
use http::uri::Authority;
use http::{HeaderValue, Method};

use crate::scheme::rfc9421::HmacSha256;
pub use net::{Cidr, normalize_authority, normalize_host};
pub use policy::{
    Action, ReplayRelease, Rfc9421Rules, SignPolicy, SignScheme, VerifyPolicy, VerifyScheme, WebhookEndpoint,
};
pub use redis_settings::{ClientIdentity, RedisSettings, RedisTls, RedisTopology};
pub use secret::{Secret, SecretSource};
pub use startup::{Loaded, OnError, RedactedString, ReplaySettings, ReplayStoreKind, Startup};

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    /// Listeners in file order, each with its routes.
    pub listeners: Vec<Listener>,
    /// Consumers in file order; [`ConsumerKey::consumer`] indexes this.
    pub consumers: Vec<Consumer>,
    /// Every consumer key, by keyid.
    pub keys: KeyStore,
    /// What each named secret is, for `check`: never its bytes.
    pub secrets: Vec<SecretSummary>,
    /// Named upstreams, then those written inline as URLs on routes.
    pub upstreams: Vec<Arc<HttpUpstream>>,
    /// Request limits (defaults: [`defaults::LIMITS`]).
    pub limits: Limits,
    /// Timeouts (defaults: [`defaults::TIMEOUTS`]).
    pub timeouts: Timeouts,
    /// Peers whose `X-Forwarded-*` headers are trusted and extended.
    pub trusted_proxies: Vec<Cidr>,
    /// Things that work but should not go to production (inline secrets).
    pub warnings: Vec<String>,
    /// Every file this config read besides itself (secrets, certificates,
    /// CA bundles): a reload is due when one of them changes.
    pub files: Vec<PathBuf>,
}

impl Loaded {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_owned(), e))?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Self::from_yaml(&text, &path.display().to_string(), base_dir)
    }

    /// Validates YAML text; `source` names it in errors and relative secret
    /// and CA paths resolve against `base_dir`.
    ///
    /// ```
    /// use hmac_gateway::config::Loaded;
    /// let yaml = "listeners: [{ name: in, bind: \"127.0.0.1:0\" }]\nroutes: [{ name: r, listener: nowhere }]\n";
    /// let err = Loaded::from_yaml(yaml, "gw.yaml", std::path::Path::new(".")).unwrap_err();
    /// // Every problem carries file:line:column.
    /// assert!(err.to_string().starts_with("gw.yaml:2:"), "{err}");
    /// ```
    pub fn from_yaml(text: &str, source: &str, base_dir: &Path) -> Result<Self, ConfigError> {
        validate::from_yaml(text, source, base_dir)
    }
}

impl Config {
    /// The route named `name`, on whichever listener.
    pub fn route(&self, name: &str) -> Option<&Arc<Route>> {
        self.listeners.iter().flat_map(|l| &l.routes).find(|r| &*r.name == name)
    }
}

/// An address the gateway accepts connections on, and its routes.
#[derive(Debug)]
pub struct Listener {
    /// Unique among listeners; routes name it.
    pub name: Arc<str>,
    /// IP address and port; port 0 picks a free one.
    pub bind: SocketAddr,
    /// TLS termination, when configured (rustls redacts keys in Debug).
    pub tls: Option<ListenerTls>,
    /// In file order: the first match wins.
    pub routes: Vec<Arc<Route>>,
}

/// A caller that signs requests, known by its keys.
#[derive(Debug)]
pub struct Consumer {
    /// Sent upstream as `X-Consumer-ID` once a request verifies.
    pub id: String,
    /// Its keys' ids, unique across consumers.
    pub keyids: Vec<String>,
}

/// Every key a consumer may sign with, by keyid.
#[derive(Debug, Default)]
pub struct KeyStore(HashMap<String, ConsumerKey>);

impl KeyStore {
    /// The key with this keyid, whichever consumer holds it.
    pub fn get(&self, keyid: &str) -> Option<&ConsumerKey> {
        self.0.get(keyid)
    }
}

/// One consumer key, prepared once: its secrets (several during a rotation
/// overlap; any of them verifies), their HMAC states, and the identity
/// header values sent upstream.
pub struct ConsumerKey {
    /// Index into [`Config::consumers`].
    pub consumer: usize,
    /// The consumer's id, sent upstream as `X-Consumer-ID`.
    pub consumer_id: HeaderValue,
    /// The keyid, sent upstream as `X-Credential-Identifier`.
    pub keyid: HeaderValue,
    /// Key bytes (several during a rotation), for SigV4, Kong and APISIX.
    pub secrets: Vec<Secret>,
    /// RFC 9421 HMAC-SHA256 states, one per secret, in the same order.
    pub macs: Vec<HmacSha256>,
}

impl fmt::Debug for ConsumerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerKey")
            .field("consumer_id", &self.consumer_id)
            .field("keyid", &self.keyid)
            .field("secrets", &format_args!("[redacted] x{}", self.secrets.len()))
            .finish()
    }
}

/// What `check` reports about a secret: never its value.
#[derive(Debug, Clone)]
pub struct SecretSummary {
    /// The secret's name under `secrets:`.
    pub name: String,
    /// Where it was read from.
    pub source: SecretSource,
    /// Length in bytes, once decoded.
    pub len: usize,
}

/// What the gateway does with the requests one route matches.
#[derive(Debug)]
pub struct Route {
    /// Unique among routes. Shared: it labels every request's metrics.
    pub name: Arc<str>,
    /// The name of the listener it serves.
    pub listener: String,
    /// Host to match, lowercase and without port; `None` matches any.
    pub host: Option<String>,
    /// Prefix the raw path must start with (a plain string prefix); default `/`.
    pub path_prefix: String,
    /// Methods to match; `None` matches any.
    pub methods: Option<Vec<Method>>,
    /// Removed from the path before it is sent upstream; a prefix of `path_prefix`.
    pub strip_prefix: Option<String>,
    /// Send the client's `Host` upstream instead of the upstream's; default `false`.
    pub preserve_host: bool,
    /// Default [`PathPolicy::Strict`].
    pub path_policy: PathPolicy,
    /// Largest body accepted (413 beyond); default `limits.max_body_bytes`.
    pub max_body_bytes: u64,
    /// Global timeouts with this route's overrides applied.
    pub timeouts: RouteTimeouts,
    /// Allow `Upgrade: websocket`, tunnelled after verification once the
    /// upstream answers 101.
    pub websocket: bool,
    /// Where matched requests go.
    pub upstream: Upstream,
    /// Verify or sign, and how.
    pub action: Action,
}

/// The timeouts a route may override; see [`Timeouts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteTimeouts {
    /// See [`Timeouts::body_read`].
    pub body_read: Duration,
    /// See [`Timeouts::body_idle`].
    pub body_idle: Duration,
    /// See [`Timeouts::upstream_response`].
    pub upstream_response: Duration,
    /// See [`Timeouts::send_idle`].
    pub send_idle: Duration,
    /// See [`Timeouts::upstream_body_idle`].
    pub upstream_body_idle: Duration,
    /// See [`Timeouts::tunnel_idle`].
    pub tunnel_idle: Duration,
}

impl From<&Timeouts> for RouteTimeouts {
    /// A route that sets none of its own.
    fn from(global: &Timeouts) -> Self {
        Self {
            body_read: global.body_read,
            body_idle: global.body_idle,
            upstream_response: global.upstream_response,
            send_idle: global.send_idle,
            upstream_body_idle: global.upstream_body_idle,
            tunnel_idle: global.tunnel_idle,
        }
    }
}

/// How request paths that could be read two ways are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathPolicy {
    /// Refuse dot-segments, `//`, encoded `/` or `\`, `;`, controls, raw
    /// non-ASCII and escaped unreserved characters (400 `non_canonical_path`).
    Strict,
    /// Forward whatever was signed, byte for byte.
    Raw,
}

/// Where a route sends requests.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// Built in: answers with what it received, as JSON.
    Echo,
    /// An HTTP or HTTPS server.
    Http(Arc<HttpUpstream>),
}

/// An HTTP or HTTPS server requests are forwarded to.
#[derive(Debug)]
pub struct HttpUpstream {
    /// Index into [`Config::upstreams`]; the proxy keeps one client each.
    pub id: usize,
    /// Its name under `upstreams:`, or the URL when written inline on a route.
    pub name: String,
    /// Whether the URL's scheme is `https`.
    pub https: bool,
    /// Lowercase, default port removed: the `Host` sent and `@authority` signed.
    pub authority: Authority,
    /// Prefix put before every forwarded path; empty or starting with `/`.
    pub base_path: String,
    /// `authority` as a header value, sent as `Host` unless the route preserves it.
    pub host_header: HeaderValue,
    /// CAs trusted instead of the webpki roots; https only.
    pub ca: Option<CaBundle>,
}

/// TLS termination on a listener.
#[derive(Debug, Clone)]
pub struct ListenerTls {
    /// Path of the certificate chain, resolved against the config's directory.
    pub cert_path: PathBuf,
    /// Whether clients must present a certificate (`client_ca` is set).
    pub mutual: bool,
    /// The rustls server configuration built from the files.
    pub config: Arc<rustls::ServerConfig>,
}

/// Request size limits; defaults in [`defaults::LIMITS`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Default body limit of routes that set none (413 beyond).
    pub max_body_bytes: u64,
    /// Total bytes of header names and values (431 beyond).
    pub max_header_bytes: usize,
    /// Header fields per request (431 beyond).
    pub max_headers: usize,
    /// Request-target length (414 beyond).
    pub max_uri_bytes: usize,
}

/// Global timeouts; defaults in [`defaults::TIMEOUTS`].
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Time a client has to send a request's headers.
    pub header_read: Duration,
    /// Time a client has to send a whole body (408 beyond).
    pub body_read: Duration,
    /// Longest wait for the next piece of a body (408 beyond).
    pub body_idle: Duration,
    /// Time a client has to complete the TLS handshake.
    pub tls_handshake: Duration,
    /// Time to open a TCP connection to an upstream.
    pub upstream_connect: Duration,
    /// Time from sending a request upstream to its response headers, connecting included.
    pub upstream_response: Duration,
    /// How long in-flight requests may run on after shutdown begins.
    pub shutdown_grace: Duration,
    /// An HTTP/2 connection with no open stream is sent GOAWAY and closed
    /// after this long (before its first stream: after `header_read`).
    pub h2_idle: Duration,
    /// How often an HTTP/2 connection is pinged when nothing arrives...
    pub h2_keepalive_interval: Duration,
    /// ...and how long the peer has to answer before it is closed.
    pub h2_keepalive_timeout: Duration,
    /// A response the client accepts no byte of for this long is cut: the
    /// HTTP/1 connection closed, the HTTP/2 stream reset.
    pub send_idle: Duration,
    /// An upstream that sends no byte of its response body for this long:
    /// the response is cut the same way (never made to look complete).
    pub upstream_body_idle: Duration,
    /// A websocket tunnel with no byte either way for this long is closed.
    pub tunnel_idle: Duration,
}

/// One problem in a config file, at a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file's name, as given to the loader.
    pub source: String,
    /// 1-based.
    pub line: u64,
    /// 1-based.
    pub column: u64,
    /// What is wrong, and usually how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.source, self.line, self.column, self.message)
    }
}

/// Why a config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}", path = .0.display(), source = .1)]
    Read(PathBuf, std::io::Error),
    /// It did not parse or validate: every problem found.
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<Problem>),
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}
