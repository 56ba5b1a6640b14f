//! Shared nonce store for several replicas: one atomic `SET key NX PX ttl`
//! per verified request, on a connection manager that reconnects by itself.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Claim, ReplayError, fingerprint};
use crate::config::OnError;

pub struct RedisStore {
    manager: ConnectionManager,
    prefix: String,
    on_error: OnError,
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never print it.
        f.debug_struct("RedisStore").field("prefix", &self.prefix).field("on_error", &self.on_error).finish()
    }
}

impl RedisStore {
    /// Connects lazily: the gateway starts even when Redis is down, and
    /// requests then fail closed (or pass, with `OnError::Allow`).
    pub fn new(url: &str, prefix: &str, on_error: OnError, timeout: Duration) -> Result<Self, ReplayError> {
        let client = redis::Client::open(url).map_err(|e| ReplayError::Unavailable(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| ReplayError::Unavailable(e.to_string()))?;
        Ok(Self { manager, prefix: prefix.to_owned(), on_error, timeout })
    }

    fn key(&self, keyid: &str, nonce: &str) -> String {
        format!("{}{}", self.prefix, hex::encode(fingerprint(keyid, nonce)))
    }

    /// `DEL`s the claim. Failing is reported, never turned into an accept.
    pub async fn release(&self, keyid: &str, nonce: &str) -> Result<(), ReplayError> {
        let mut conn = self.manager.clone();
        let del = redis::cmd("DEL").arg(self.key(keyid, nonce)).to_owned();
        match tokio::time::timeout(self.timeout, del.query_async::<i64>(&mut conn)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ReplayError::Unavailable(e.to_string())),
            Err(_) => Err(ReplayError::Unavailable(format!("no answer within {:?}", self.timeout))),
        }
    }

    pub async fn claim(&self, keyid: &str, nonce: &str, ttl: Duration) -> Result<Claim, ReplayError> {
        let key = self.key(keyid, nonce);
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.manager.clone();
        let set = redis::cmd("SET").arg(&key).arg(1).arg("NX").arg("PX").arg(millis).to_owned();
        let reply = tokio::time::timeout(self.timeout, set.query_async::<Option<String>>(&mut conn)).await;
        match reply {
            Ok(Ok(Some(_))) => Ok(Claim::Fresh),
            Ok(Ok(None)) => Ok(Claim::Replayed),
            Ok(Err(e)) => self.unavailable(e.to_string()),
            Err(_) => self.unavailable(format!("no answer within {:?}", self.timeout)),
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

    /// Whether Redis answers a PING now (for readiness).
    pub async fn ping(&self) -> bool {
        let mut conn = self.manager.clone();
        let ping = redis::cmd("PING").to_owned();
        matches!(tokio::time::timeout(self.timeout, ping.query_async::<String>(&mut conn)).await, Ok(Ok(_)))
    }
}
