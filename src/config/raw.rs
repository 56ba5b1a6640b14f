//! The YAML file as written: serde structs with source locations, no
//! cross-references checked yet. `validate` turns these into typed config.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

mod auth;
mod first_pass;
mod keys;
mod schema;
mod scheme_name;
mod spanned;
pub use auth::{
    RawSign, RawVerify, ReplayFields, SignFields, SignRfc9421, SignSigV4, SignWebhook, VerifyCompat, VerifyFields,
    VerifyRfc9421, VerifySigV4, VerifyTimedWebhook, VerifyUntimedWebhook, with_schemes,
};
pub use schema::gateway_schema;
pub use scheme_name::SchemeName;
pub use spanned::Spanned;

/// hmac-gateway's config file (`gateway.yaml`): listeners, secrets, consumers,
/// upstreams and routes, and the settings that apply to all of them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Addresses the gateway accepts connections on (at least one); routes name them.
    #[serde(default)]
    #[schemars(required, length(min = 1))]
    pub listeners: Vec<RawListener>,
    /// Key material by name: each from exactly one of `env`, `file` or `value`.
    /// Consumers, routes and `replay.url_secret` refer to these names.
    #[serde(default)]
    pub secrets: NamedMap<RawSecret>,
    /// The callers of verify routes, each with the keyids it signs with.
    #[serde(default)]
    pub consumers: Vec<RawConsumer>,
    /// Upstreams by name, for `routes[].upstream` (a route may also give a URL or `echo`).
    #[serde(default)]
    pub upstreams: NamedMap<RawUpstream>,
    /// What to do with requests: the first route of a listener that matches wins.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// Where claimed signatures are remembered to refuse replays (default: in memory).
    pub replay: Option<RawReplay>,
    /// Request size and connection limits.
    pub limits: Option<RawLimits>,
    /// Timeouts of clients, upstreams and shutdown.
    pub timeouts: Option<RawTimeouts>,
    /// Worker threads, 1 to 1024 (default: one per CPU).
    pub workers: Option<Spanned<u64>>,
    /// A separate listener for `/healthz`, `/readyz` and `/metrics` (default: none).
    pub admin: Option<RawAdmin>,
    /// CIDRs (`10.0.0.0/8`, `::1/128`) whose `X-Forwarded-*` headers are kept and extended;
    /// from anyone else they are replaced.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
}

/// A listener: an address to accept connections on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    /// Unique name routes refer to.
    pub name: Spanned<String>,
    /// `IP:port` to listen on (port 0 picks a free port).
    pub bind: Spanned<String>,
    /// Terminate TLS here; without it the listener speaks cleartext HTTP/1.1 and h2c.
    pub tls: Option<RawListenerTls>,
}

/// TLS for a listener. Paths are relative to the config file and re-read on reload.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawListenerTls {
    /// Path of the PEM certificate chain, leaf first.
    pub cert: Spanned<String>,
    /// Path of the PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Spanned<String>,
    /// Path of a PEM CA bundle: when set, clients must present a certificate it issued (mTLS).
    pub client_ca: Option<Spanned<String>>,
}

/// The admin listener (keep it on loopback or a private network).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// `IP:port` to serve `/healthz`, `/readyz` and `/metrics` on.
    pub bind: Spanned<String>,
}

/// A secret: exactly one of `env`, `file` or `value`. Decoded, it must be at
/// least 32 bytes (`hmac-gateway keygen` makes 64).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    /// The secret itself, inline: for demos only (the gateway warns).
    pub value: Option<Spanned<String>>,
    /// Name of the environment variable holding the secret.
    pub env: Option<Spanned<String>>,
    /// Path of a file holding the secret, relative to the config file; trailing newlines are dropped.
    pub file: Option<Spanned<String>>,
    /// How the secret is written: `utf8` (default), `base64` (standard or URL-safe) or `hex`.
    #[schemars(extend("enum" = ["utf8", "base64", "hex"]))]
    pub encoding: Option<Spanned<String>>,
}

/// A consumer: a caller of verify routes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConsumer {
    /// Unique consumer id, sent upstream as `X-Consumer-ID`; verify routes list it in `consumers`.
    pub id: Spanned<String>,
    /// The consumer's keys (at least one).
    pub keys: Vec<RawKey>,
}

/// A consumer's key: a keyid and exactly one of `secret` or `secrets`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    /// The keyid the consumer signs with (RFC 9421 `keyid`, AWS access key id, Kong `username`,
    /// APISIX `keyId`); unique across consumers, sent upstream as `X-Credential-Identifier`.
    pub keyid: Spanned<String>,
    /// Name of the key's secret (under `secrets:`).
    pub secret: Option<Spanned<String>>,
    /// Instead of `secret`: several secret names under one keyid, any of which verifies (rotation).
    pub secrets: Option<Vec<Spanned<String>>>,
}

/// An upstream the gateway forwards to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// `http(s)://host[:port][/base]`, without user info or query.
    pub url: Spanned<String>,
    /// Path of a PEM CA bundle trusted instead of the built-in webpki roots.
    pub ca: Option<Spanned<String>>,
}

/// A route: which requests it takes, `verify` or `sign`, and where they go.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Unique route name (in logs and metrics).
    pub name: Spanned<String>,
    /// Name of the listener whose requests this route takes.
    pub listener: Spanned<String>,
    /// Which requests the route takes (default: every request on its listener).
    #[serde(rename = "match", default)]
    pub matcher: RawMatch,
    /// Host role: verify each request's signature before forwarding it. A route has
    /// exactly one of `verify` and `sign`.
    pub verify: Option<RawVerify>,
    /// Consumer role: sign each request on its way upstream. A route has exactly one
    /// of `verify` and `sign`.
    pub sign: Option<RawSign>,
    /// `echo` (answers with what it received), a name under `upstreams:`, or an
    /// `http(s)://host[:port][/base]` URL.
    pub upstream: Spanned<String>,
    /// Removed from the path before forwarding; must be a prefix of `match.path_prefix`.
    pub strip_prefix: Option<Spanned<String>>,
    /// Forward the client's `Host` instead of the upstream's (default `false`).
    pub preserve_host: Option<bool>,
    /// `strict` (default) refuses paths an upstream could read differently; `raw` forwards any signed path.
    #[schemars(extend("enum" = ["strict", "raw"]))]
    pub path_policy: Option<Spanned<String>>,
    /// This route's own `body_read`, `body_idle`, `upstream_response`, `send_idle`, `upstream_body_idle` and `tunnel_idle` timeouts.
    pub timeouts: Option<RawRouteTimeouts>,
    /// Allow `Upgrade: websocket`: verified, then tunnelled once the upstream answers 101 (default `false`).
    pub websocket: Option<bool>,
    /// This route's request body limit in bytes (default `limits.max_body_bytes`).
    pub max_body_bytes: Option<u64>,
}

/// Which requests a route takes; every condition given must hold.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    /// Exact host, without the port, compared case-insensitively (default: any).
    pub host: Option<Spanned<String>>,
    /// Raw path prefix (default `/`): `/api/` does not match `/apix`; `/api` does.
    pub path_prefix: Option<Spanned<String>>,
    /// Methods, such as `[GET, POST]` (default: any).
    pub methods: Option<Vec<Spanned<String>>>,
}

/// The replay store: `memory` for one process, `redis` shared by replicas.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReplay {
    /// `memory` (one process; the default), `redis` (one server shared by several replicas) or `redis-cluster`.
    #[schemars(extend("enum" = ["memory", "redis", "redis-cluster"]))]
    pub store: Option<Spanned<String>>,
    /// `memory` only: live entries the store holds; when full, new signed requests get 503 (default 1000000).
    pub capacity: Option<Spanned<u64>>,
    /// `redis` only: `redis://` or `rediss://` (TLS) `[user:password@]host:port[/db]`.
    pub url: Option<Spanned<String>>,
    /// `redis` only: name of a secret holding the Redis URL, instead of `url` (for a URL with a password).
    pub url_secret: Option<Spanned<String>>,
    /// `redis-cluster` only: URLs of the nodes asked for the cluster's layout (all `redis://` or all `rediss://`).
    pub nodes: Option<Spanned<Vec<String>>>,
    /// `redis-cluster` only: name of a secret holding the node URLs (separated by whitespace or commas),
    /// instead of `nodes`.
    pub nodes_secret: Option<Spanned<String>>,
    /// Redis ACL user name (with `password_secret`).
    pub username: Option<Spanned<String>>,
    /// Name of a secret holding the Redis ACL password.
    pub password_secret: Option<Spanned<String>>,
    /// `rediss://` only: PEM CA bundle to trust instead of the webpki roots.
    pub ca: Option<Spanned<String>>,
    /// `rediss://` only: PEM client certificate chain, with `client_key`.
    pub client_cert: Option<Spanned<String>>,
    /// `rediss://` only: PEM private key of `client_cert`.
    pub client_key: Option<Spanned<String>>,
    /// Redis: prefix of the keys the gateway writes (default `hmacgw:`).
    pub key_prefix: Option<String>,
    /// Redis: while Redis is unreachable, `reject` signed requests with 503 (default) or `allow` them
    /// without replay protection.
    #[schemars(extend("enum" = ["reject", "allow"]))]
    pub on_error: Option<Spanned<String>>,
    /// Redis: timeout of each Redis command (default `250ms`).
    pub timeout: Option<Spanned<DurationSpec>>,
}

/// Request size and connection limits.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Request body limit in bytes: 413 beyond it (default 1 MiB).
    pub max_body_bytes: Option<u64>,
    /// Total bytes of header names and values, 1024 to 1 MiB: 431 beyond it (default 32 KiB).
    pub max_header_bytes: Option<Spanned<u64>>,
    /// Header fields per request, 1 to 1000: 431 beyond it (default 100).
    pub max_headers: Option<Spanned<u64>>,
    /// Request-target bytes, 256 to 64 KiB: 414 beyond it (default 8 KiB).
    pub max_uri_bytes: Option<Spanned<u64>>,
    /// Open client connections per listener; more wait in the kernel backlog (default 10000).
    pub max_connections: Option<Spanned<u64>>,
}

/// Timeouts, each a duration such as `10s`; unset ones keep their defaults.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    /// To receive a request's headers; also how long a new or keep-alive connection may stay silent (default `10s`).
    pub header_read: Option<Spanned<DurationSpec>>,
    /// To receive a whole request body: 408 beyond it (default `60s`).
    pub body_read: Option<Spanned<DurationSpec>>,
    /// Between two pieces of a request body: 408 beyond it (default `10s`).
    pub body_idle: Option<Spanned<DurationSpec>>,
    /// For a TLS listener's handshake (default `10s`).
    pub tls_handshake: Option<Spanned<DurationSpec>>,
    /// To connect to an upstream: 504 beyond it (default `2s`).
    pub upstream_connect: Option<Spanned<DurationSpec>>,
    /// For an upstream's response headers: 504 beyond it (default `15s`).
    pub upstream_response: Option<Spanned<DurationSpec>>,
    /// For in-flight requests to finish after SIGTERM (default `30s`).
    pub shutdown_grace: Option<Spanned<DurationSpec>>,
    /// An HTTP/2 connection with no open stream is closed after this (default `60s`).
    pub h2_idle: Option<Spanned<DurationSpec>>,
    /// A silent HTTP/2 connection is sent a PING this often (default `20s`).
    pub h2_keepalive_interval: Option<Spanned<DurationSpec>>,
    /// An HTTP/2 connection whose PING goes unanswered this long is closed (default `20s`).
    pub h2_keepalive_timeout: Option<Spanned<DurationSpec>>,
    /// A client that accepts no byte of its response for this long is cut off: HTTP/1 connection closed, HTTP/2 stream reset (default `60s`).
    pub send_idle: Option<Spanned<DurationSpec>>,
    /// An upstream that sends no byte of its response body for this long: the response is cut, never made to look complete (default `60s`).
    pub upstream_body_idle: Option<Spanned<DurationSpec>>,
    /// A websocket tunnel with no byte either way for this long is closed (default `5m`).
    pub tunnel_idle: Option<Spanned<DurationSpec>>,
}

/// A route's own timeouts, overriding the global `timeouts:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRouteTimeouts {
    /// To receive a whole request body (default `timeouts.body_read`).
    pub body_read: Option<Spanned<DurationSpec>>,
    /// Between two pieces of a request body (default `timeouts.body_idle`).
    pub body_idle: Option<Spanned<DurationSpec>>,
    /// For the upstream's response headers (default `timeouts.upstream_response`).
    pub upstream_response: Option<Spanned<DurationSpec>>,
    /// A client accepting no byte of the response (default `timeouts.send_idle`).
    pub send_idle: Option<Spanned<DurationSpec>>,
    /// An upstream sending no byte of its response body (default `timeouts.upstream_body_idle`).
    pub upstream_body_idle: Option<Spanned<DurationSpec>>,
    /// A websocket tunnel with no byte either way (default `timeouts.tunnel_idle`).
    pub tunnel_idle: Option<Spanned<DurationSpec>>,
}

/// A YAML mapping kept in file order with the location of each key, so
/// duplicate and dangling names can be reported where they are written.
#[derive(Debug)]
pub struct NamedMap<T>(pub Vec<(Spanned<String>, T)>);

impl<T> Default for NamedMap<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NamedMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for MapVisitor<T> {
            type Value = NamedMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of names to entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(NamedMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

/// A duration written as whole seconds (`300`) or with a unit
/// (`"500ms"`, `"30s"`, `"5m"`, `"1h"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec(pub Duration);

impl DurationSpec {
    /// Parses `300`, `"500ms"`, `"30s"`, `"5m"` or `"1h"`; no unit means seconds.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a duration (try 30, \"30s\", \"5m\")"))?;
        let d = match unit.trim() {
            "" | "s" => Duration::from_secs(n),
            "ms" => Duration::from_millis(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            other => return Err(format!("unknown duration unit {other:?} (use ms, s, m or h)")),
        };
        Ok(Self(d))
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = DurationSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("seconds as a number, or a string such as \"30s\" or \"5m\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(DurationSpec(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(|v| DurationSpec(Duration::from_secs(v)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                DurationSpec::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(DurationSpec::parse("300"), Ok(DurationSpec(Duration::from_secs(300))));
        assert_eq!(DurationSpec::parse("5m"), Ok(DurationSpec(Duration::from_secs(300))));
        assert_eq!(DurationSpec::parse("250ms"), Ok(DurationSpec(Duration::from_millis(250))));
        assert_eq!(DurationSpec::parse("2h"), Ok(DurationSpec(Duration::from_secs(7200))));
        assert!(DurationSpec::parse("5 days").is_err());
        assert!(DurationSpec::parse("m").is_err());
        assert!(DurationSpec::parse("-1s").is_err());
    }
}
