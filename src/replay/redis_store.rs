//! Shared nonce store for several replicas: one atomic `SET key NX PX ttl`
//! per verified request, on one Redis server or a Redis Cluster (where each
//! key lives on the node owning its slot), over connections that reconnect
//! by themselves.

use redis::Cmd;
use std::time::Duration;

use super::redis_connect::{self, Connection};
use super::{Claim, ReplayError, fingerprint};
use crate::config::{OnError, RedisSettings};

pub struct RedisStore {
    conn: Connection,
    prefix: String,
    on_error: OnError,
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URLs may carry a password: never print them.
        f.debug_struct("RedisStore").field("prefix", &self.prefix).field("on_error", &self.on_error).finish()
    }
}

impl RedisStore {
    /// Connects lazily: the gateway starts even when Redis is down, and
    /// requests then fail closed (or pass, with `OnError::Allow`).
    pub fn new(settings: &RedisSettings) -> Result<Self, ReplayError> {
        Ok(Self {
            conn: redis_connect::open(settings)?,
            prefix: settings.key_prefix.clone(),
            on_error: settings.on_error,
            timeout: settings.timeout,
        })
    }

    /// Runs `cmd` within the timeout; every failure is `Unavailable`.
    async fn run<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T, ReplayError> {
        match tokio::time::timeout(self.timeout, self.conn.query::<T>(cmd)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(ReplayError::Unavailable(e.to_string())),
            Err(_) => Err(ReplayError::Unavailable(format!("no answer within {:?}", self.timeout))),
        }
    }

    fn key(&self, keyid: &str, nonce: &str) -> String {
        format!("{}{}", self.prefix, hex::encode(fingerprint(keyid, nonce)))
    }

    /// `DEL`s the claim. Failing is reported, never turned into an accept.
    pub async fn release(&self, keyid: &str, nonce: &str) -> Result<(), ReplayError> {
        self.run::<i64>(redis::cmd("DEL").arg(self.key(keyid, nonce))).await.map(drop)
    }

    pub async fn claim(&self, keyid: &str, nonce: &str, ttl: Duration) -> Result<Claim, ReplayError> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set = redis::cmd("SET").arg(self.key(keyid, nonce)).arg(1).arg("NX").arg("PX").arg(millis).to_owned();
        match self.run::<Option<String>>(&set).await {
            Ok(Some(_)) => Ok(Claim::Fresh),
            Ok(None) => Ok(Claim::Replayed),
            Err(ReplayError::Unavailable(why)) => self.unavailable(why),
            Err(other) => Err(other),
        }
    }

    fn unavailable(&self, why: String) -> Result<Claim, ReplayError> {
        match self.on_error {
            OnError::Reject => {
                tracing::warn!(error = %why, "replay store unreachable; refusing the request");
                Err(ReplayError::Unavailable(why))
            }
            OnError::Allow => {
                tracing::warn!(error = %why, "replay store unreachable; accepting the request (on_error: allow)");
                Ok(Claim::Fresh)
            }
        }
    }

    /// Whether Redis answers a PING now (for readiness). On a cluster every
    /// node serving slots must answer: with one down, the claims whose keys
    /// it holds fail.
    pub async fn ping(&self) -> bool {
        matches!(tokio::time::timeout(self.timeout, self.conn.ping_all()).await, Ok(Ok(())))
    }
}
