//! The typed settings of the Redis replay store: one server or a cluster,
//! its credentials and its TLS. Everything that may hold a credential is
//! redacted from `Debug`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

use super::{CaBundle, OnError, RedactedString};

/// A Redis replay store, shared by every instance that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// One server, or the seed nodes of a cluster.
    pub topology: RedisTopology,
    /// ACL user (`replay.username`), unless the URL names one.
    pub username: Option<String>,
    /// ACL password (`replay.password_secret`), unless the URL holds one.
    pub password: Option<RedactedString>,
    /// Set when the URLs are `rediss://`.
    pub tls: Option<RedisTls>,
    /// Put before every key (default `hmacgw:`).
    pub key_prefix: String,
    /// What a request gets when Redis cannot be reached.
    pub on_error: OnError,
    /// How long one command may take (default 250 ms).
    pub timeout: Duration,
}

impl RedisSettings {
    /// What `check` may print: the kind, TLS and node count, never an
    /// address or a credential.
    pub fn describe(&self) -> String {
        let tls = match &self.tls {
            None => "",
            Some(RedisTls { client: Some(_), .. }) => ", TLS with a client certificate",
            Some(_) => ", TLS",
        };
        let auth = if self.username.is_some() || self.password.is_some() { ", ACL credentials" } else { "" };
        match &self.topology {
            RedisTopology::Single(_) => format!("redis (one server{tls}{auth})"),
            RedisTopology::Cluster(nodes) => {
                let plural = if nodes.len() == 1 { "" } else { "s" };
                format!("redis-cluster ({} seed node{plural}{tls}{auth})", nodes.len())
            }
        }
    }
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTopology {
    /// `redis://`, `rediss://` or `redis+unix://` URL; may hold a password.
    Single(RedactedString),
    /// Redis Cluster: the nodes asked for the cluster's layout at start
    /// (`redis://` or `rediss://` URLs, all alike).
    Cluster(Vec<RedactedString>),
}

/// TLS to Redis (`rediss://`): rustls on the ring provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTls {
    /// `replay.ca`: the only roots trusted when set; the webpki roots when not.
    pub ca: Option<CaBundle>,
    /// `replay.client_cert` and `replay.client_key`, for servers that ask.
    pub client: Option<ClientIdentity>,
}

/// A client certificate chain and its private key, as PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate file (named in messages).
    pub cert_path: PathBuf,
    /// The certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key, PEM; wiped when dropped.
    pub key_pem: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity").field("cert_path", &self.cert_path).field("key_pem", &"[redacted]").finish()
    }
}
