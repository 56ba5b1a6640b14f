//! Opening the Redis replay store: one server through a connection manager,
//! or a cluster through the redis crate's cluster connection (which follows
//! MOVED and ASK and reconnects to nodes by itself); both with TLS (rustls
//! on ring) and ACL credentials when configured. Both connect lazily, so
//! the gateway starts while Redis is down.

use std::time::Duration;

use base64::Engine as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{ClientTlsConfig, Cmd, FromRedisValue, IntoConnectionInfo as _, RedisResult, TlsCertificates, Value};

use super::ReplayError;
use crate::config::{RedactedString, RedisSettings, RedisTls, RedisTopology};

/// An open (or opening) connection to the store.
#[derive(Clone)]
pub(super) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        match self {
            Self::Single(manager) => cmd.query_async(&mut manager.clone()).await,
            Self::Cluster(cluster) => cmd.query_async(&mut cluster.clone()).await,
        }
    }

    /// Whether every slot's primary answers. A cluster-wide PING would skip
    /// a node the client has lost (and a keyless command falls back to any
    /// node), so each primary named by `CLUSTER SLOTS` is pinged by address.
    pub(super) async fn ping_all(&self) -> RedisResult<()> {
        let cluster = match self {
            Self::Single(manager) => return redis::cmd("PING").query_async(&mut manager.clone()).await,
            Self::Cluster(cluster) => cluster,
        };
        let ranges: Vec<Value> = redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut cluster.clone()).await?;
        let mut primaries: Vec<(String, u16)> = ranges.iter().filter_map(primary_of).collect();
        primaries.sort_unstable();
        primaries.dedup();
        let pings = primaries.into_iter().map(|(host, port)| {
            let mut conn = cluster.clone();
            let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
            async move { conn.route_command(redis::cmd("PING"), route).await }
        });
        futures_util::future::try_join_all(pings).await.map(drop)
    }
}

/// The primary's (host, port) in one `CLUSTER SLOTS` entry:
/// `[start, end, [host, port, id, ...], replicas...]`.
fn primary_of(range: &Value) -> Option<(String, u16)> {
    let Value::Array(items) = range else { return None };
    let Some(Value::Array(node)) = items.get(2) else { return None };
    let host = match node.first()? {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok()?,
        Value::SimpleString(text) => text.clone(),
        _ => return None,
    };
    let Some(Value::Int(port)) = node.get(1) else { return None };
    Some((host, u16::try_from(*port).ok()?))
}

/// Builds the connection. Only a bad setting fails here, never an
/// unreachable server; the message names no URL.
pub(super) fn open(settings: &RedisSettings) -> Result<Connection, ReplayError> {
    // The redis crate builds its rustls configs with the process default
    // provider: make that ring, the gateway's, whatever else is linked.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = settings.tls.as_ref().map(certificates);
    let setup = |e: redis::RedisError| ReplayError::Unavailable(format!("redis client setup: {e}"));
    match &settings.topology {
        RedisTopology::Single(url) => single(url, settings, certs).map_err(setup),
        RedisTopology::Cluster(nodes) => cluster(nodes, settings, certs).map_err(setup),
    }
}

fn single(url: &RedactedString, settings: &RedisSettings, certs: Option<TlsCertificates>) -> RedisResult<Connection> {
    let info = url.expose_str().into_connection_info()?;
    let mut redis = info.redis_settings().clone();
    if let Some(user) = &settings.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &settings.password {
        redis = redis.set_password(password.expose_str());
    }
    let info = info.set_redis_settings(redis);
    let client = match certs {
        Some(certs) => redis::Client::build_with_tls(info, certs)?,
        None => redis::Client::open(info)?,
    };
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.timeout))
        .set_response_timeout(Some(settings.timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(2));
    Ok(Connection::Single(ConnectionManager::new_lazy_with_config(client, config)?))
}

fn cluster(
    nodes: &[RedactedString],
    settings: &RedisSettings,
    certs: Option<TlsCertificates>,
) -> RedisResult<Connection> {
    let mut builder = ClusterClientBuilder::new(nodes.iter().map(RedactedString::expose_str))
        .connection_timeout(settings.timeout)
        .response_timeout(settings.timeout)
        // A dead node is retried briefly; the per-command timeout bounds
        // the whole claim anyway.
        .retries(2)
        .min_retry_wait(10)
        .max_retry_wait(100);
    if let Some(user) = &settings.username {
        builder = builder.username(user);
    }
    if let Some(password) = &settings.password {
        builder = builder.password(password.expose_str());
    }
    if let Some(certs) = certs {
        builder = builder.certs(certs);
    }
    let config = ClusterConfig::new().set_connection_timeout(settings.timeout).set_response_timeout(settings.timeout);
    Ok(Connection::Cluster(builder.build()?.get_pending_async_connection_with_config(config)))
}

/// The redis crate takes PEM: the CA bundle (already checked when the
/// config loaded) is written back as PEM.
fn certificates(tls: &RedisTls) -> TlsCertificates {
    let root_cert = tls.ca.as_ref().map(|ca| {
        let mut pem = String::new();
        for cert in &ca.certs {
            let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in b64.as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(line).unwrap_or_default());
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        pem.into_bytes()
    });
    let client_tls = tls
        .client
        .as_ref()
        .map(|id| ClientTlsConfig { client_cert: id.cert_pem.clone(), client_key: id.key_pem.to_vec() });
    TlsCertificates { client_tls, root_cert }
}
