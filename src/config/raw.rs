//! The YAML file as written: serde structs with source locations, no
//! cross-references checked yet. `validate` turns these into typed config.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
pub use serde_saphyr::Spanned;

mod auth;
mod keys;
pub use auth::{
    RawSign, RawVerify, ReplayFields, SchemeName, SignFields, SignRfc9421, SignSigV4, SignWebhook, VerifyCompat,
    VerifyFields, VerifyRfc9421, VerifySigV4, VerifyTimedWebhook, VerifyUntimedWebhook,
};

/// `gateway.yaml` as written: every top-level key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `listeners:`: at least one.
    #[serde(default)]
    pub listeners: Vec<RawListener>,
    /// `secrets:`: named key material, referenced by name elsewhere.
    #[serde(default)]
    pub secrets: NamedMap<RawSecret>,
    /// `consumers:`: the callers of verify routes.
    #[serde(default)]
    pub consumers: Vec<RawConsumer>,
    /// `upstreams:`: named upstreams (a route may also give a URL).
    #[serde(default)]
    pub upstreams: NamedMap<RawUpstream>,
    /// `routes:`, matched in file order.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// `replay:`: the replay store (default: in memory).
    pub replay: Option<RawReplay>,
    /// `limits:`.
    pub limits: Option<RawLimits>,
    /// `timeouts:`.
    pub timeouts: Option<RawTimeouts>,
    /// `workers:` threads, 1 to 1024 (default: one per core).
    pub workers: Option<Spanned<u64>>,
    /// `admin:`: the `/healthz`, `/readyz` and `/metrics` listener.
    pub admin: Option<RawAdmin>,
    /// CIDRs whose X-Forwarded-* headers are trusted and extended.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
}

/// One entry of `listeners:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    /// Unique name routes refer to.
    pub name: Spanned<String>,
    /// `IP:port` to listen on.
    pub bind: Spanned<String>,
    /// TLS termination; plain HTTP when absent.
    pub tls: Option<RawListenerTls>,
}

/// `listeners[].tls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListenerTls {
    /// PEM certificate chain, leaf first.
    pub cert: Spanned<String>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Spanned<String>,
    /// PEM CA bundle: when set, clients must present a certificate it issued.
    pub client_ca: Option<Spanned<String>>,
}

/// `admin:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// `IP:port` to serve on.
    pub bind: Spanned<String>,
}

/// One entry of `secrets:`: exactly one of `value`, `env` or `file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    /// The secret inline in the file (demos only: it is warned about).
    pub value: Option<Spanned<String>>,
    /// Name of an environment variable holding it.
    pub env: Option<Spanned<String>>,
    /// Path of a file holding it (trailing newlines dropped), relative to the config.
    pub file: Option<Spanned<String>>,
    /// `utf8` (default), `base64` or `hex`.
    pub encoding: Option<Spanned<String>>,
}

/// One entry of `consumers:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsumer {
    /// Unique id, sent upstream as `X-Consumer-ID`.
    pub id: Spanned<String>,
    /// Its keys (at least one).
    pub keys: Vec<RawKey>,
}

/// One key of a consumer: exactly one of `secret` or `secrets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    /// Key id, unique across consumers.
    pub keyid: Spanned<String>,
    /// Name of the key's secret.
    pub secret: Option<Spanned<String>>,
    /// Several secrets under one keyid: any verifies (rotation overlap).
    pub secrets: Option<Vec<Spanned<String>>>,
}

/// One entry of `upstreams:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// `http(s)://host[:port][/base]`, without user info or query.
    pub url: Spanned<String>,
    /// PEM file of CA certificates trusted instead of the webpki roots.
    pub ca: Option<Spanned<String>>,
}

/// One entry of `routes:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Unique name.
    pub name: Spanned<String>,
    /// Name of the listener it serves.
    pub listener: Spanned<String>,
    /// `match:`: which requests it takes (default: every request).
    #[serde(rename = "match", default)]
    pub matcher: RawMatch,
    /// Verify incoming signatures; exactly one of `verify` and `sign`.
    pub verify: Option<RawVerify>,
    /// Sign outgoing requests; exactly one of `verify` and `sign`.
    pub sign: Option<RawSign>,
    /// `echo`, a name under `upstreams:`, or an `http(s)://` URL.
    pub upstream: Spanned<String>,
    /// Removed from the path before forwarding; a prefix of `match.path_prefix`.
    pub strip_prefix: Option<Spanned<String>>,
    /// Send the client's `Host` upstream (default `false`).
    pub preserve_host: Option<bool>,
    /// `strict` (default) or `raw`.
    pub path_policy: Option<Spanned<String>>,
    /// Per-route timeout overrides.
    pub timeouts: Option<RawRouteTimeouts>,
    /// Allow WebSocket upgrades (default `false`).
    pub websocket: Option<bool>,
    /// Body limit (default `limits.max_body_bytes`).
    pub max_body_bytes: Option<u64>,
}

/// `routes[].match`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    /// Host, matched case-insensitively without the port.
    pub host: Option<Spanned<String>>,
    /// Path prefix (default `/`).
    pub path_prefix: Option<Spanned<String>>,
    /// Methods (default: any).
    pub methods: Option<Vec<Spanned<String>>>,
}

/// `replay:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplay {
    /// `memory`, `redis` or `redis-cluster`.
    pub store: Spanned<String>,
    /// Memory store entries (default 1 000 000).
    pub capacity: Option<Spanned<u64>>,
    /// `redis[s]://[user:password@]host:port[/db]`; may also come from a secret.
    pub url: Option<Spanned<String>>,
    /// Name of a secret holding the Redis URL, instead of `url`.
    pub url_secret: Option<Spanned<String>>,
    /// Redis Cluster: URLs of the nodes asked for the cluster's layout.
    pub nodes: Option<Spanned<Vec<String>>>,
    /// Name of a secret holding the cluster's node URLs (separated by
    /// whitespace or commas), instead of `nodes`.
    pub nodes_secret: Option<Spanned<String>>,
    /// ACL user name.
    pub username: Option<Spanned<String>>,
    /// Name of a secret holding the ACL password.
    pub password_secret: Option<Spanned<String>>,
    /// PEM CA bundle trusted for `rediss://` instead of the webpki roots.
    pub ca: Option<Spanned<String>>,
    /// PEM client certificate chain for `rediss://`, with `client_key`.
    pub client_cert: Option<Spanned<String>>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<Spanned<String>>,
    /// Redis key prefix (default `hmacgw:`).
    pub key_prefix: Option<String>,
    /// When Redis fails: `reject` (default) or `allow`.
    pub on_error: Option<Spanned<String>>,
    /// Redis command timeout (default 250 ms).
    pub timeout: Option<Spanned<DurationSpec>>,
}

/// `limits:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Body bytes per request (default 1 MiB).
    pub max_body_bytes: Option<u64>,
    /// Header bytes per request, 1024 to 1 MiB (default 32 KiB).
    pub max_header_bytes: Option<Spanned<u64>>,
    /// Header fields per request, 1 to 1000 (default 100).
    pub max_headers: Option<Spanned<u64>>,
    /// Request-target bytes, 256 to 64 KiB (default 8 KiB).
    pub max_uri_bytes: Option<Spanned<u64>>,
    /// Open client connections per listener (default 10 000).
    pub max_connections: Option<Spanned<u64>>,
}

/// `timeouts:`; defaults in [`crate::config::defaults::TIMEOUTS`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    /// Request headers (default 10 s).
    pub header_read: Option<Spanned<DurationSpec>>,
    /// A whole body (default 60 s).
    pub body_read: Option<Spanned<DurationSpec>>,
    /// Between pieces of a body (default 10 s).
    pub body_idle: Option<Spanned<DurationSpec>>,
    /// TLS handshake (default 10 s).
    pub tls_handshake: Option<Spanned<DurationSpec>>,
    /// Connecting to an upstream (default 2 s).
    pub upstream_connect: Option<Spanned<DurationSpec>>,
    /// Upstream response headers (default 15 s).
    pub upstream_response: Option<Spanned<DurationSpec>>,
    /// Shutdown drain (default 30 s).
    pub shutdown_grace: Option<Spanned<DurationSpec>>,
    /// Idle HTTP/2 connection (default 60 s).
    pub h2_idle: Option<Spanned<DurationSpec>>,
    /// HTTP/2 ping interval (default 20 s).
    pub h2_keepalive_interval: Option<Spanned<DurationSpec>>,
    /// HTTP/2 ping answer (default 20 s).
    pub h2_keepalive_timeout: Option<Spanned<DurationSpec>>,
}

/// Per-route overrides of the global timeouts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteTimeouts {
    /// Overrides `timeouts.body_read`.
    pub body_read: Option<Spanned<DurationSpec>>,
    /// Overrides `timeouts.body_idle`.
    pub body_idle: Option<Spanned<DurationSpec>>,
    /// Overrides `timeouts.upstream_response`.
    pub upstream_response: Option<Spanned<DurationSpec>>,
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
