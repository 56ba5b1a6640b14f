//! In-process nonce store: sharded maps with expiry queues.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Claim, Fingerprint, ReplayError, fingerprint};

const SHARDS: usize = 16;

#[derive(Debug)]
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    capacity_per_shard: usize,
}

#[derive(Debug, Default)]
struct Shard {
    expiry: HashMap<Fingerprint, Instant>,
    /// Insertion order; front entries expire first when TTLs are equal.
    queue: VecDeque<(Instant, Fingerprint)>,
}

impl MemoryStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            capacity_per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    pub fn claim(&self, keyid: &str, nonce: &str, ttl: Duration) -> Result<Claim, ReplayError> {
        let fp = fingerprint(keyid, nonce);
        let now = Instant::now();
        let shard = &self.shards[usize::from(fp[0]) % SHARDS];
        // A poisoned lock only means another request panicked mid-insert;
        // the map itself is still consistent.
        let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        shard.purge_expired(now);
        if let Some(expiry) = shard.expiry.get(&fp)
            && *expiry > now
        {
            return Ok(Claim::Replayed);
        }
        if shard.expiry.len() >= self.capacity_per_shard {
            shard.expiry.retain(|_, expiry| *expiry > now);
            if shard.expiry.len() >= self.capacity_per_shard {
                return Err(ReplayError::Full(self.capacity_per_shard * SHARDS));
            }
        }
        let expiry = now + ttl;
        shard.expiry.insert(fp, expiry);
        shard.queue.push_back((expiry, fp));
        Ok(Claim::Fresh)
    }

    /// Forgets (keyid, nonce); its queue entry is dropped when it expires.
    pub fn release(&self, keyid: &str, nonce: &str) {
        let fp = fingerprint(keyid, nonce);
        let mut shard = self.shards[usize::from(fp[0]) % SHARDS].lock().unwrap_or_else(|p| p.into_inner());
        shard.expiry.remove(&fp);
    }

    pub fn live_entries(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).expiry.len()).sum()
    }
}

impl Shard {
    fn purge_expired(&mut self, now: Instant) {
        while let Some((expiry, fp)) = self.queue.front().copied() {
            if expiry > now {
                break;
            }
            self.queue.pop_front();
            // Only remove if the map entry is this one (not re-inserted later).
            if self.expiry.get(&fp) == Some(&expiry) {
                self.expiry.remove(&fp);
            }
        }
        // The queue may hold entries already dropped by `retain`; keep it bounded.
        if self.queue.len() > self.expiry.len().saturating_mul(2) + 64 {
            let map = &self.expiry;
            self.queue.retain(|(expiry, fp)| map.get(fp) == Some(expiry));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn second_claim_is_a_replay() {
        let store = MemoryStore::new(100);
        assert_eq!(store.claim("k", "n1", TTL), Ok(Claim::Fresh));
        assert_eq!(store.claim("k", "n1", TTL), Ok(Claim::Replayed));
        assert_eq!(store.claim("k", "n2", TTL), Ok(Claim::Fresh));
        assert_eq!(store.claim("other", "n1", TTL), Ok(Claim::Fresh));
        assert_eq!(store.live_entries(), 3);
    }

    #[test]
    fn keyid_and_nonce_boundaries_do_not_collide() {
        let store = MemoryStore::new(100);
        assert_eq!(store.claim("ab", "c", TTL), Ok(Claim::Fresh));
        assert_eq!(store.claim("a", "bc", TTL), Ok(Claim::Fresh));
    }

    #[test]
    fn expired_entries_are_forgotten() {
        let store = MemoryStore::new(100);
        let short = Duration::from_millis(20);
        assert_eq!(store.claim("k", "n", short), Ok(Claim::Fresh));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(store.claim("k", "n", short), Ok(Claim::Fresh));
    }

    #[test]
    fn full_store_fails_closed_instead_of_evicting() {
        let store = MemoryStore::new(SHARDS); // one live entry per shard
        let mut full = None;
        for i in 0..1000 {
            match store.claim("k", &format!("n{i}"), TTL) {
                Ok(Claim::Fresh) => {}
                Ok(Claim::Replayed) => panic!("fresh nonce reported as replay"),
                Err(e) => {
                    full = Some(e);
                    break;
                }
            }
        }
        assert!(matches!(full, Some(ReplayError::Full(_))));
        // Everything admitted so far is still remembered.
        assert_eq!(store.claim("k", "n0", TTL), Ok(Claim::Replayed));
    }

    #[test]
    fn a_released_claim_can_be_made_again() {
        let store = MemoryStore::new(100);
        assert_eq!(store.claim("k", "n", TTL), Ok(Claim::Fresh));
        store.release("k", "n");
        assert_eq!(store.live_entries(), 0);
        assert_eq!(store.claim("k", "n", TTL), Ok(Claim::Fresh));
        assert_eq!(store.claim("k", "n", TTL), Ok(Claim::Replayed));
        // Releasing what was never claimed changes nothing else.
        store.release("k", "other");
        assert_eq!(store.claim("k", "n", TTL), Ok(Claim::Replayed));
    }

    #[test]
    fn concurrent_claims_admit_exactly_one() {
        let store = std::sync::Arc::new(MemoryStore::new(1000));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || store.claim("k", "same", TTL))
            })
            .collect();
        let fresh = handles.into_iter().map(|h| h.join().expect("thread")).filter(|r| *r == Ok(Claim::Fresh)).count();
        assert_eq!(fresh, 1);
    }
}
