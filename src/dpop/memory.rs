//! The bounded in-memory [`ReplayStore`] (the default): a share per proof key, expiry by
//! time buckets, never a scan of the whole store under a lock.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::replay::{ReplayKey, ReplayStore, ReplayStoreError, ReplayVerdict};

/// The default number of proofs a [`MemoryReplayStore`] remembers at once.
pub const DEFAULT_REPLAY_CAPACITY: usize = 200_000;

/// What one remembered proof costs a [`MemoryReplayStore`], at most: its 128-bit hash with
/// its expiry and client in the hash table (with the table's control byte, load factor and
/// growth), and its hash again in the bucket of the second it expires.
pub const MEMORY_REPLAY_ENTRY_BYTES: usize = 112;

/// The longest a [`MemoryReplayStore`] remembers a proof: the longest window a proof can have
/// (`iat` an hour old and an hour ahead, see [`Dpop::iat_window`](super::Dpop::iat_window)),
/// and a second.
pub const MAX_REPLAY_TTL: Duration = Duration::from_secs(2 * 3600 + 1);

const SHARDS: usize = 16;
/// Expired proofs forgotten by each insert, at most: more than one, so that forgetting keeps
/// up with inserting, and few, so that no request pays for many.
const EXPIRE_PER_INSERT: usize = 8;
/// Expired proofs forgotten, at most, before a proof is refused for want of room.
const EXPIRE_WHEN_FULL: usize = 1024;

/// A bounded in-memory [`ReplayStore`], for one replica (the default).
///
/// It remembers at most `capacity` proofs (default [`DEFAULT_REPLAY_CAPACITY`]) in at most
/// `capacity` × [`MEMORY_REPLAY_ENTRY_BYTES`] bytes, each as a 128-bit hash of its key, and
/// each proof key (one client: a token is bound to one key) at most its share of them (a
/// tenth of the capacity by default, [`with_share`](Self::with_share)). A proof past its
/// key's share, or past the capacity, is answered [`ReplayVerdict::Full`]: the layer refuses
/// it with 503 (fail open or not) rather than forgetting a proof that could still be
/// replayed. So one client sending fresh proofs at full speed fills its own share and no
/// one else's. With the default 300 s `iat` window a proof is kept up to 331 s: the default
/// share holds a sustained ~60 proofs a second per key, the whole store ~600.
///
/// Expiry is by time buckets: a proof is filed under the second it expires, and each insert
/// forgets a few proofs of buckets whose second has passed (O(1) amortized); nothing scans
/// the store. Proofs are remembered at most [`MAX_REPLAY_TTL`].
///
/// Several replicas of an API need a shared store (the `redis` feature's), or a proof replayed
/// at another replica passes there.
pub struct MemoryReplayStore {
    shards: Vec<Mutex<Shard>>,
    capacity: usize,
    share: usize,
    len: AtomicUsize,
    hasher: foldhash::quality::RandomState,
    hasher_high: foldhash::quality::RandomState,
    epoch: Instant,
}

/// The proofs of the keys whose thumbprint hashes to this shard: a key's share is counted
/// in one place.
#[derive(Default)]
struct Shard {
    /// Hash of the replay key -> when it expires and whose it is.
    seen: HashMap<u128, Entry, foldhash::fast::FixedState>,
    /// Hash of the thumbprint -> how many proofs of it `seen` holds.
    clients: HashMap<u64, usize, foldhash::fast::FixedState>,
    /// `wheel[i]`: the hashes of the proofs that expire in second `base + i`.
    wheel: VecDeque<Vec<u128>>,
    /// The second (since the store's epoch) of `wheel[0]`.
    base: u64,
}

#[derive(Clone, Copy)]
struct Entry {
    /// Milliseconds since the store's epoch.
    expiry: u64,
    client: u64,
}

impl std::fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &self.capacity)
            .field("share", &self.share)
            .field("len", &self.len())
            .finish()
    }
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_REPLAY_CAPACITY)
    }
}

impl MemoryReplayStore {
    /// A store that remembers at most `capacity` proofs (at least one), each key at most a
    /// tenth of them (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        MemoryReplayStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            capacity,
            share: (capacity / 10).max(1),
            len: AtomicUsize::new(0),
            hasher: foldhash::quality::RandomState::default(),
            hasher_high: foldhash::quality::RandomState::default(),
            epoch: Instant::now(),
        }
    }

    /// How many proofs one key may hold at once (at least one, at most the capacity): the
    /// proofs one client can send within one window. Default: a tenth of the capacity.
    #[must_use]
    pub fn with_share(mut self, share: usize) -> Self {
        self.share = share.clamp(1, self.capacity);
        self
    }

    /// The most proofs it remembers at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The most proofs one key holds at once.
    pub fn share(&self) -> usize {
        self.share
    }

    /// How many proofs it remembers now (expired ones not yet forgotten included).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether it remembers no proof.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn hash(&self, state: &foldhash::quality::RandomState, text: &str) -> u64 {
        let mut hasher = state.build_hasher();
        hasher.write(text.as_bytes());
        hasher.finish()
    }

    /// The decision behind [`ReplayStore::insert_once`], at `now` (milliseconds since the
    /// store's epoch).
    fn insert_at(
        &self,
        proof: &ReplayKey,
        ttl: Duration,
        now: u64,
    ) -> Result<ReplayVerdict, ReplayStoreError> {
        let id = (u128::from(self.hash(&self.hasher_high, proof.key())) << 64)
            | u128::from(self.hash(&self.hasher, proof.key()));
        let client = self.hash(&self.hasher, proof.thumbprint());
        let expiry = now.saturating_add(millis(ttl.min(MAX_REPLAY_TTL)).max(1));
        let index = usize::try_from(client % SHARDS as u64).unwrap_or(0);
        let mut shard = self.shards[index]
            .lock()
            .map_err(|_| ReplayStoreError("the memory store's lock is poisoned".into()))?;
        let shard = &mut *shard;
        self.expire(shard, now, EXPIRE_PER_INSERT);
        if let Some(entry) = shard.seen.get(&id).copied() {
            if entry.expiry > now {
                return Ok(ReplayVerdict::Replayed);
            }
            // Expired, not yet forgotten: it makes room for the new one.
            shard.seen.remove(&id);
            shard.forget(entry.client);
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        if shard.count(client) >= self.share {
            self.expire(shard, now, EXPIRE_WHEN_FULL);
            if shard.count(client) >= self.share {
                return Ok(ReplayVerdict::Full);
            }
        }
        if !self.reserve() {
            self.expire(shard, now, EXPIRE_WHEN_FULL);
            self.expire_others(index, now);
            if !self.reserve() {
                return Ok(ReplayVerdict::Full);
            }
        }
        shard.seen.insert(id, Entry { expiry, client });
        *shard.clients.entry(client).or_default() += 1;
        shard.file(id, expiry);
        Ok(ReplayVerdict::Fresh)
    }

    /// Takes one place of the capacity, if one is left.
    fn reserve(&self) -> bool {
        self.len
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |len| {
                (len < self.capacity).then_some(len + 1)
            })
            .is_ok()
    }

    /// Forgets at most `budget` proofs of the buckets whose second is over.
    fn expire(&self, shard: &mut Shard, now: u64, budget: usize) {
        let forgotten = shard.expire(now, budget);
        self.len.fetch_sub(forgotten, Ordering::Relaxed);
    }

    /// When the store is full, the shards of other keys may hold expired proofs that no
    /// insert of theirs came to forget: a bounded share of them, from the shards that are
    /// free now (never waiting for a lock held by another request).
    fn expire_others(&self, mine: usize, now: u64) {
        for (index, shard) in self.shards.iter().enumerate() {
            if index != mine
                && let Ok(mut shard) = shard.try_lock()
            {
                self.expire(&mut shard, now, EXPIRE_WHEN_FULL / SHARDS);
            }
        }
    }
}

impl Shard {
    fn count(&self, client: u64) -> usize {
        self.clients.get(&client).copied().unwrap_or(0)
    }

    fn forget(&mut self, client: u64) {
        if let Some(count) = self.clients.get_mut(&client) {
            *count -= 1;
            if *count == 0 {
                self.clients.remove(&client);
            }
        }
    }

    /// Files `id` under the second its `expiry` (in milliseconds) is over.
    fn file(&mut self, id: u128, expiry: u64) {
        if self.wheel.is_empty() {
            self.base = expiry / 1000;
        }
        let second = expiry.div_ceil(1000).max(self.base);
        let slot = usize::try_from(second - self.base).unwrap_or(usize::MAX);
        if slot >= self.wheel.len() {
            self.wheel.resize_with(slot + 1, Vec::new);
        }
        self.wheel[slot].push(id);
    }

    /// Forgets at most `budget` proofs filed under seconds that are over; returns how many.
    /// A hash filed twice (a proof recorded again after it expired) is forgotten only when
    /// its entry has expired.
    fn expire(&mut self, now: u64, mut budget: usize) -> usize {
        let mut forgotten = 0;
        while budget > 0 && self.base.saturating_mul(1000) <= now {
            let Some(bucket) = self.wheel.front_mut() else {
                break;
            };
            let Some(id) = bucket.pop() else {
                self.wheel.pop_front();
                self.base += 1;
                continue;
            };
            budget -= 1;
            if let Some(entry) = self.seen.get(&id).copied()
                && entry.expiry <= now
            {
                self.seen.remove(&id);
                self.forget(entry.client);
                forgotten += 1;
            }
        }
        forgotten
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl ReplayStore for MemoryReplayStore {
    fn insert_once<'a>(
        &'a self,
        proof: &'a ReplayKey,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<ReplayVerdict, ReplayStoreError>> {
        let now = millis(self.epoch.elapsed());
        Box::pin(std::future::ready(self.insert_at(proof, ttl, now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReplayVerdict::{Fresh, Full, Replayed};

    const MINUTE: Duration = Duration::from_secs(60);

    fn key(client: &str, jti: usize) -> ReplayKey {
        ReplayKey::new(client, "https://api.example.com/a", &jti.to_string())
    }

    #[test]
    fn a_proof_is_fresh_once_within_its_window_and_again_after_it() {
        let store = MemoryReplayStore::default();
        let proof = key("a", 1);
        assert_eq!(store.insert_at(&proof, MINUTE, 0).unwrap(), Fresh);
        assert_eq!(store.insert_at(&proof, MINUTE, 59_999).unwrap(), Replayed);
        assert_eq!(store.insert_at(&key("b", 1), MINUTE, 10).unwrap(), Fresh);
        assert_eq!(store.insert_at(&proof, MINUTE, 60_000).unwrap(), Fresh);
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn one_key_fills_its_own_share_and_no_one_elses() {
        let store = MemoryReplayStore::with_capacity(100).with_share(10);
        let verdicts: Vec<_> = (0..50)
            .map(|i| store.insert_at(&key("abuser", i), MINUTE, 0).unwrap())
            .collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Fresh).count(), 10);
        assert!(verdicts[10..].iter().all(|v| *v == Full));
        assert_eq!(store.len(), 10);
        // Its remembered proofs are still replays, not "full".
        assert_eq!(
            store.insert_at(&key("abuser", 3), MINUTE, 1).unwrap(),
            Replayed
        );
        for client in 0..9 {
            for i in 0..10 {
                let proof = key(&format!("client-{client}"), i);
                assert_eq!(store.insert_at(&proof, MINUTE, 2).unwrap(), Fresh);
            }
        }
        // Now the whole store is full of live proofs: refused, nothing forgotten.
        assert_eq!(store.len(), 100);
        assert_eq!(store.insert_at(&key("late", 0), MINUTE, 3).unwrap(), Full);
        assert_eq!(
            store.insert_at(&key("client-0", 0), MINUTE, 3).unwrap(),
            Replayed
        );
        assert_eq!(store.len(), 100);
    }

    #[test]
    fn an_expired_share_makes_room_again() {
        let store = MemoryReplayStore::with_capacity(1000).with_share(20);
        for i in 0..20 {
            assert_eq!(store.insert_at(&key("a", i), MINUTE, 0).unwrap(), Fresh);
        }
        assert_eq!(store.insert_at(&key("a", 20), MINUTE, 1_000).unwrap(), Full);
        assert_eq!(
            store.insert_at(&key("a", 21), MINUTE, 60_000).unwrap(),
            Fresh
        );
        // The insert forgot a bounded number of the expired ones, enough to make room.
        assert_eq!(store.len(), 20 - EXPIRE_PER_INSERT + 1);
    }

    #[test]
    fn expiry_forgets_a_bounded_number_per_insert_and_keeps_up() {
        let store = MemoryReplayStore::with_capacity(10_000).with_share(10_000);
        for i in 0..1000 {
            store
                .insert_at(&key("a", i), Duration::from_secs(1), 0)
                .unwrap();
        }
        assert_eq!(store.len(), 1000);
        // One insert after they all expired does a bounded amount of work, never a sweep.
        store.insert_at(&key("a", 5000), MINUTE, 2_000).unwrap();
        assert_eq!(store.len(), 1001 - EXPIRE_PER_INSERT);
        // Forgetting outpaces inserting: the expired ones are gone after a share of inserts.
        for i in 0..(1000 / (EXPIRE_PER_INSERT - 1)) {
            store.insert_at(&key("a", 6000 + i), MINUTE, 2_000).unwrap();
        }
        assert_eq!(store.len(), 1 + 1000 / (EXPIRE_PER_INSERT - 1));
        for shard in &store.shards {
            let shard = shard.lock().unwrap();
            assert!(shard.wheel.len() <= 62, "{}", shard.wheel.len());
        }
    }

    #[test]
    fn a_full_store_makes_room_from_the_expired_proofs_of_other_keys() {
        let store = MemoryReplayStore::with_capacity(64).with_share(64);
        for i in 0..64 {
            let proof = key(&format!("client-{i}"), i);
            assert_eq!(
                store.insert_at(&proof, Duration::from_secs(1), 0).unwrap(),
                Fresh
            );
        }
        assert_eq!(store.insert_at(&key("new", 0), MINUTE, 0).unwrap(), Full);
        // Long after, with no insert to the other keys' shards, the store is not stuck.
        for i in 0..64 {
            let proof = key("new", i);
            assert_eq!(
                store.insert_at(&proof, MINUTE, 5_000).unwrap(),
                Fresh,
                "{i}"
            );
        }
    }

    #[test]
    fn a_hash_filed_twice_is_forgotten_once_its_last_expiry_is_over() {
        // A proof recorded at 0 until 1 s, expired, recorded again until 11.5 s before its
        // first bucket's turn: its hash is filed under seconds 1 and 12.
        let mut shard = Shard::default();
        shard.seen.insert(
            1,
            Entry {
                expiry: 11_500,
                client: 7,
            },
        );
        shard.clients.insert(7, 1);
        shard.file(1, 1_000);
        shard.file(1, 11_500);
        // Second 1's turn: the entry is live (filed under 12 too), so it stays.
        assert_eq!(shard.expire(2_000, 100), 0);
        assert!(shard.seen.contains_key(&1));
        assert_eq!(shard.expire(12_000, 100), 1);
        assert!(shard.seen.is_empty() && shard.clients.is_empty());
        assert!(shard.wheel.iter().all(Vec::is_empty));
    }

    #[test]
    fn a_ttl_beyond_the_longest_window_is_capped() {
        let store = MemoryReplayStore::default();
        let proof = key("a", 1);
        assert_eq!(store.insert_at(&proof, Duration::MAX, 0).unwrap(), Fresh);
        let cap = millis(MAX_REPLAY_TTL);
        assert_eq!(store.insert_at(&proof, MINUTE, cap - 1).unwrap(), Replayed);
        assert_eq!(store.insert_at(&proof, MINUTE, cap).unwrap(), Fresh);
    }
}
