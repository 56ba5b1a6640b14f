//! In-process nonce store: sharded maps with expiry heaps, and one global
//! count of live entries so that `capacity` bounds the whole store (a
//! per-shard share would refuse requests long before the store is full).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Claim, Fingerprint, ReplayError, fingerprint};

const SHARDS: usize = 16;

#[derive(Debug)]
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    capacity: usize,
    /// Entries held across all shards. Only a claim that reserved a slot
    /// below `capacity` inserts, so this never exceeds it.
    live: AtomicUsize,
}

#[derive(Debug, Default)]
struct Shard {
    expiry: HashMap<Fingerprint, Instant>,
    /// Earliest expiry first, so purging touches only what has expired.
    heap: BinaryHeap<Reverse<(Instant, Fingerprint)>>,
}

impl MemoryStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            capacity: capacity.max(1),
            live: AtomicUsize::new(0),
        }
    }

    pub fn claim(&self, keyid: &str, nonce: &str, ttl: Duration) -> Result<Claim, ReplayError> {
        let fp = fingerprint(keyid, nonce);
        let index = usize::from(fp[0]) % SHARDS;
        let now = Instant::now();
        let mut shard = self.lock(index);
        self.purge(&mut shard, now);
        if shard.expiry.contains_key(&fp) {
            return Ok(Claim::Replayed);
        }
        if !self.reserve() {
            // Expired entries in other shards may still count: purge them all,
            // one lock at a time (never two at once, so no lock order to
            // get wrong), then look again.
            drop(shard);
            self.purge_all(now);
            shard = self.lock(index);
            if shard.expiry.contains_key(&fp) {
                return Ok(Claim::Replayed);
            }
            if !self.reserve() {
                return Err(ReplayError::Full(self.capacity));
            }
        }
        let expiry = now + ttl;
        shard.expiry.insert(fp, expiry);
        shard.heap.push(Reverse((expiry, fp)));
        Ok(Claim::Fresh)
    }

    /// Forgets (keyid, nonce) and frees its slot. Its heap entry no longer
    /// matches the map and is skipped when it comes due; released entries
    /// are pruned early so the heap stays bounded by the capacity too.
    pub fn release(&self, keyid: &str, nonce: &str) {
        let fp = fingerprint(keyid, nonce);
        let mut shard = self.lock(usize::from(fp[0]) % SHARDS);
        if shard.expiry.remove(&fp).is_some() {
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
        if shard.heap.len() > shard.expiry.len().saturating_mul(2) + 64 {
            let Shard { expiry, heap } = &mut *shard;
            heap.retain(|Reverse((at, fp))| expiry.get(fp) == Some(at));
        }
    }

    pub fn live_entries(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Shard> {
        // A poisoned lock only means another request panicked mid-insert;
        // the map itself is still consistent.
        self.shards[index].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one slot below `capacity`; false when the store is full.
    fn reserve(&self) -> bool {
        self.live.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.capacity).then_some(n + 1)).is_ok()
    }

    fn purge(&self, shard: &mut Shard, now: Instant) {
        let removed = shard.purge_expired(now);
        if removed > 0 {
            self.live.fetch_sub(removed, Ordering::AcqRel);
        }
    }

    fn purge_all(&self, now: Instant) {
        for index in 0..SHARDS {
            let mut shard = self.lock(index);
            self.purge(&mut shard, now);
        }
    }
}

impl Shard {
    /// Removes every entry whose expiry has passed; returns how many.
    fn purge_expired(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        while let Some(Reverse((expiry, fp))) = self.heap.peek().copied() {
            if expiry > now {
                break;
            }
            self.heap.pop();
            // Each map entry has exactly one heap entry; check anyway, so a
            // mismatch can never remove a live entry.
            if self.expiry.get(&fp) == Some(&expiry) {
                self.expiry.remove(&fp);
                removed += 1;
            }
        }
        removed
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
        assert_eq!(store.live_entries(), 1);
    }

    #[test]
    fn full_store_fails_closed_instead_of_evicting() {
        let store = MemoryStore::new(SHARDS);
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

    /// The capacity bounds the whole store, not a per-shard share of it.
    #[test]
    fn capacity_admits_exactly_that_many_live_entries() {
        for capacity in [1, 15, 16, 17, 1000, 4096] {
            let store = MemoryStore::new(capacity);
            let admitted = (0..capacity * 2)
                .take_while(|i| store.claim("k", &format!("c{capacity}n{i}"), TTL) == Ok(Claim::Fresh))
                .count();
            assert_eq!(admitted, capacity, "capacity {capacity}");
            assert_eq!(store.live_entries(), capacity, "capacity {capacity}");
            assert_eq!(store.claim("k", "one more", TTL), Err(ReplayError::Full(capacity)));
            assert_eq!(store.live_entries(), capacity, "capacity {capacity}");
        }
    }

    /// Expired entries anywhere in the store make room, whichever shard the
    /// next nonce lands in.
    #[test]
    fn expired_entries_in_other_shards_make_room() {
        let store = MemoryStore::new(64);
        let short = Duration::from_millis(30);
        for i in 0..64 {
            assert_eq!(store.claim("k", &format!("short{i}"), short), Ok(Claim::Fresh));
        }
        assert!(store.claim("k", "early", TTL).is_err());
        std::thread::sleep(Duration::from_millis(60));
        for i in 0..64 {
            assert_eq!(store.claim("k", &format!("long{i}"), TTL), Ok(Claim::Fresh), "{i}");
        }
        assert_eq!(store.live_entries(), 64);
        assert!(store.claim("k", "late", TTL).is_err());
    }

    #[test]
    fn concurrent_claims_never_exceed_the_capacity() {
        let store = std::sync::Arc::new(MemoryStore::new(1000));
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    (0..400).filter(|i| store.claim("k", &format!("t{t}n{i}"), TTL) == Ok(Claim::Fresh)).count()
                })
            })
            .collect();
        let fresh: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
        assert_eq!(fresh, 1000);
        assert_eq!(store.live_entries(), 1000);
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
        assert_eq!(store.live_entries(), 1);
        // A released slot counts against the capacity no more.
        let full = MemoryStore::new(1);
        assert_eq!(full.claim("k", "a", TTL), Ok(Claim::Fresh));
        full.release("k", "a");
        assert_eq!(full.claim("k", "b", TTL), Ok(Claim::Fresh));
        // Claims released over and over do not pile up in the expiry heaps.
        for i in 0..10_000 {
            let nonce = format!("r{i}");
            assert_eq!(store.claim("k", &nonce, TTL), Ok(Claim::Fresh));
            store.release("k", &nonce);
        }
        let held: usize = store.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).heap.len()).sum();
        // Per shard: at most twice its live entries plus 64, plus the one just pushed.
        assert!(held <= 16 * (2 + 64 + 1), "{held} heap entries for 1 live entry");
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
