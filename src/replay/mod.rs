//! Replay protection: each (keyid, nonce) is accepted once while its
//! signature could still pass the time window.

mod memory;

use std::time::Duration;

pub use memory::MemoryStore;

use crate::config::{ReplaySettings, ReplayStoreKind};

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
}

/// The configured store. An enum rather than a trait object keeps the call
/// static on the hot path.
#[derive(Debug)]
pub enum ReplayStore {
    Memory(MemoryStore),
}

impl ReplayStore {
    pub fn from_settings(settings: &ReplaySettings) -> Self {
        match settings.store {
            ReplayStoreKind::Memory => Self::Memory(MemoryStore::new(settings.capacity)),
        }
    }

    /// Atomically checks and records `nonce` for `keyid`, remembered for `ttl`.
    /// Call only after the signature verified, so unauthenticated callers
    /// cannot fill the store or claim someone else's nonce.
    pub async fn claim(&self, keyid: &str, nonce: &str, ttl: Duration) -> Result<Claim, ReplayError> {
        match self {
            Self::Memory(store) => store.claim(keyid, nonce, ttl),
        }
    }

    /// Live entries, for operators.
    pub fn len(&self) -> usize {
        match self {
            Self::Memory(store) => store.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
