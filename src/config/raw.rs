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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub listeners: Vec<RawListener>,
    #[serde(default)]
    pub secrets: NamedMap<RawSecret>,
    #[serde(default)]
    pub consumers: Vec<RawConsumer>,
    #[serde(default)]
    pub upstreams: NamedMap<RawUpstream>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    pub replay: Option<RawReplay>,
    pub limits: Option<RawLimits>,
    pub timeouts: Option<RawTimeouts>,
    pub workers: Option<Spanned<u64>>,
    pub admin: Option<RawAdmin>,
    /// CIDRs whose X-Forwarded-* headers are trusted and extended.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub name: Spanned<String>,
    pub bind: Spanned<String>,
    pub tls: Option<RawListenerTls>,
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub bind: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    pub value: Option<Spanned<String>>,
    pub env: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
    pub encoding: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsumer {
    pub id: Spanned<String>,
    pub keys: Vec<RawKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    pub keyid: Spanned<String>,
    pub secret: Option<Spanned<String>>,
    /// Several secrets under one keyid: any verifies (rotation overlap).
    pub secrets: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub url: Spanned<String>,
    /// PEM file of CA certificates trusted instead of the webpki roots.
    pub ca: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Spanned<String>,
    pub listener: Spanned<String>,
    #[serde(rename = "match", default)]
    pub matcher: RawMatch,
    pub verify: Option<RawVerify>,
    pub sign: Option<RawSign>,
    pub upstream: Spanned<String>,
    pub strip_prefix: Option<Spanned<String>>,
    pub preserve_host: Option<bool>,
    pub path_policy: Option<Spanned<String>>,
    pub timeouts: Option<RawRouteTimeouts>,
    pub websocket: Option<bool>,
    pub max_body_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    pub host: Option<Spanned<String>>,
    pub path_prefix: Option<Spanned<String>>,
    pub methods: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplay {
    pub store: Spanned<String>,
    pub capacity: Option<Spanned<u64>>,
    /// `redis://[user:password@]host:port[/db]`; may also come from a secret.
    pub url: Option<Spanned<String>>,
    pub url_secret: Option<Spanned<String>>,
    pub key_prefix: Option<String>,
    pub on_error: Option<Spanned<String>>,
    pub timeout: Option<Spanned<DurationSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_body_bytes: Option<u64>,
    pub max_header_bytes: Option<Spanned<u64>>,
    pub max_headers: Option<Spanned<u64>>,
    pub max_uri_bytes: Option<Spanned<u64>>,
    pub max_connections: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    pub header_read: Option<Spanned<DurationSpec>>,
    pub body_read: Option<Spanned<DurationSpec>>,
    pub body_idle: Option<Spanned<DurationSpec>>,
    pub tls_handshake: Option<Spanned<DurationSpec>>,
    pub upstream_connect: Option<Spanned<DurationSpec>>,
    pub upstream_response: Option<Spanned<DurationSpec>>,
    pub shutdown_grace: Option<Spanned<DurationSpec>>,
    pub h2_idle: Option<Spanned<DurationSpec>>,
    pub h2_keepalive_interval: Option<Spanned<DurationSpec>>,
    pub h2_keepalive_timeout: Option<Spanned<DurationSpec>>,
}

/// Per-route overrides of the global timeouts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteTimeouts {
    pub body_read: Option<Spanned<DurationSpec>>,
    pub body_idle: Option<Spanned<DurationSpec>>,
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
