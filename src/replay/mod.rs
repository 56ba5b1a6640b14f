//! Replay protection: each (keyid, nonce) is accepted once while its
//! signature could still pass the time window.

mod memory;
mod redis_connect;
mod redis_store;

use std::time::Duration;

pub use memory::MemoryStore;
pub use redis_store::RedisStore;
use sha2::{Digest as _, Sha256};

use crate::config::{ReplaySettings, ReplayStoreKind};

/// Fixed-size fingerprint of (keyid, nonce); collisions need a SHA-256 break.
pub(crate) type Fingerprint = [u8; 16];

/// Length-prefixed, so (`ab`, `c`) and (`a`, `bc`) differ; hashed, so a
/// store key never carries client-chosen bytes.
pub(crate) fn fingerprint(keyid: &str, nonce: &str) -> Fingerprint {
    let mut h = Sha256::new();
    h.update((keyid.len() as u64).to_be_bytes());
    h.update(keyid.as_bytes());
    h.update(nonce.as_bytes());
    let digest = h.finalize();
    let mut fp = [0u8; 16];
    fp.copy_from_slice(&digest[..16]);
    fp
}

/// Outcome of recording a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First time seen: the request may proceed.
    Fresh,
    /// Seen before and not yet expired: reject.
    Replayed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The store holds `capacity` live entries. Evicting one would let its
    /// request be replayed, so the gateway refuses new requests instead.
    #[error("the replay cache is full ({0} live entries)")]
    Full(usize),
    /// The shared store could not be reached: without it a replay could pass.
    /// The detail is logged, never sent to clients.
    #[error("the replay store is unavailable")]
    Unavailable(String),
}

/// The configured store. An enum rather than a trait object keeps the call
/// static on the hot path.
#[derive(Debug)]
pub enum ReplayStore {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl ReplayStore {
    pub fn from_settings(settings: &ReplaySettings) -> Result<Self, ReplayError> {
        Ok(match &settings.store {
            ReplayStoreKind::Memory => Self::Memory(MemoryStore::new(settings.capacity)),
            ReplayStoreKind::Redis(redis) => Self::Redis(RedisStore::new(redis)?),
        })
    }

    /// Atomically checks and records `nonce` for `keyid`, remembered for `ttl`.
    /// Call only after the signature verified, so unauthenticated callers
    /// cannot fill the store or claim someone else's nonce.
    pub async fn claim(&self, keyid: &str, nonce: &str, ttl: Duration) -> Result<Claim, ReplayError> {
        match self {
            Self::Memory(store) => store.claim(keyid, nonce, ttl),
            Self::Redis(store) => store.claim(keyid, nonce, ttl).await,
        }
    }

    /// Forgets a claim made by `claim`, so the same (keyid, nonce) may be
    /// presented again: for a request that was refused after its claim
    /// without reaching the upstream. Safe without a token: while a claim
    /// is held every copy is refused, and once its TTL has passed the
    /// signature is outside its window anyway.
    pub async fn release(&self, keyid: &str, nonce: &str) -> Result<(), ReplayError> {
        match self {
            Self::Memory(store) => {
                store.release(keyid, nonce);
                Ok(())
            }
            Self::Redis(store) => store.release(keyid, nonce).await,
        }
    }

    /// Live entries held in process (a shared store reports none).
    pub fn local_entries(&self) -> usize {
        match self {
            Self::Memory(store) => store.live_entries(),
            Self::Redis(_) => 0,
        }
    }

    /// Whether the store can take claims now.
    pub async fn is_ready(&self) -> bool {
        match self {
            Self::Memory(_) => true,
            Self::Redis(store) => store.ping().await,
        }
    }
}
