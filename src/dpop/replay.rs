//! Replay protection (RFC 9449 §11.1): the [`ReplayStore`] trait that remembers proof
//! identifiers, the bounded in-memory [`MemoryReplayStore`] (the default), and the key the
//! layer stores for a proof.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::BoxFuture;

use super::thumbprint::sha256;

/// Remembers DPoP proof identifiers for as long as a proof could be accepted, so that a
/// replayed proof is refused (RFC 9449 §11.1).
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `key` for `ttl`. `Ok(true)`: it was not seen before (the proof is fresh);
    /// `Ok(false)`: it was seen within its window (a replay).
    fn insert_once<'a>(
        &'a self,
        key: &'a str,
        ttl: std::time::Duration,
    ) -> futures_util::future::BoxFuture<'a, Result<bool, ReplayStoreError>>;
}

/// The store could not be reached or answered garbage.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the DPoP replay store failed: {0}")]
pub struct ReplayStoreError(pub String);

/// The key the layer records for a proof: `"bearer-guard:dpop:"` followed by
/// base64url(SHA-256(`htu` + `" "` + `jti`)). Bounded in length whatever the proof holds, and
/// never request data verbatim; one key per URI and proof identifier.
pub(crate) fn replay_key(htu: &str, jti: &str) -> String {
    let mut input = Vec::with_capacity(htu.len() + 1 + jti.len());
    input.extend_from_slice(htu.as_bytes());
    input.push(b' ');
    input.extend_from_slice(jti.as_bytes());
    format!(
        "bearer-guard:dpop:{}",
        URL_SAFE_NO_PAD.encode(sha256(&input))
    )
}

/// The default number of proofs a [`MemoryReplayStore`] remembers at once.
pub const DEFAULT_REPLAY_CAPACITY: usize = 200_000;

/// What one remembered proof costs a [`MemoryReplayStore`], at most: its 128-bit hash, its
/// expiry, and the hash table's share (control byte, load factor).
pub const MEMORY_REPLAY_ENTRY_BYTES: usize = 48;

const SHARDS: usize = 16;

/// A bounded in-memory [`ReplayStore`], for one replica (the default).
///
/// It remembers at most `capacity` proofs (default [`DEFAULT_REPLAY_CAPACITY`]), each for
/// its own window, in at most `capacity` × [`MEMORY_REPLAY_ENTRY_BYTES`] bytes (about 9.6 MB
/// by default): a proof is kept as a 128-bit hash of its key, never the key itself.
/// Expired entries are swept when a shard fills. When a shard is full of proofs that are all
/// still within their window, a new proof is answered with an error (the layer then fails
/// closed with 503, unless configured to fail open) rather than forgetting a proof that could
/// still be replayed. Size it for the proofs of one window: the default holds a sustained
/// ~650 proofs per second with the default 300 s `iat` window.
///
/// Several replicas of an API need a shared store (the `redis` feature's), or a proof replayed
/// at another replica passes there.
pub struct MemoryReplayStore {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    hasher: foldhash::quality::RandomState,
    hasher_high: foldhash::quality::RandomState,
    epoch: Instant,
}

#[derive(Default)]
struct Shard {
    /// Hash of the key -> expiry, in milliseconds since the store's epoch.
    seen: HashMap<u128, u64, foldhash::fast::FixedState>,
}

impl std::fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &self.capacity())
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
    /// A store that remembers at most `capacity` proofs (at least one per shard).
    pub fn with_capacity(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        MemoryReplayStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
            hasher: foldhash::quality::RandomState::default(),
            hasher_high: foldhash::quality::RandomState::default(),
            epoch: Instant::now(),
        }
    }

    /// The most proofs it remembers at once.
    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    /// How many proofs it remembers now (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().map_or(0, |s| s.seen.len()))
            .sum()
    }

    /// Whether it remembers no proof.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The synchronous decision behind [`ReplayStore::insert_once`].
    fn insert(&self, key: &str, ttl: Duration) -> Result<bool, ReplayStoreError> {
        let hash = |state: &foldhash::quality::RandomState| {
            let mut hasher = state.build_hasher();
            hasher.write(key.as_bytes());
            hasher.finish()
        };
        let low = hash(&self.hasher);
        let id = (u128::from(hash(&self.hasher_high)) << 64) | u128::from(low);
        let now = millis(self.epoch.elapsed());
        let expiry = now.saturating_add(millis(ttl).max(1));
        let shard = &self.shards[(low as usize) % SHARDS];
        let mut shard = shard
            .lock()
            .map_err(|_| ReplayStoreError("the memory store's lock is poisoned".into()))?;
        if let Some(&seen_until) = shard.seen.get(&id)
            && seen_until > now
        {
            return Ok(false);
        }
        if shard.seen.len() >= self.per_shard && !shard.seen.contains_key(&id) {
            shard.seen.retain(|_, until| *until > now);
            if shard.seen.len() >= self.per_shard {
                return Err(ReplayStoreError(
                    "the memory store is full of proofs still within their window".into(),
                ));
            }
        }
        shard.seen.insert(id, expiry);
        Ok(true)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl ReplayStore for MemoryReplayStore {
    fn insert_once<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, ReplayStoreError>> {
        Box::pin(std::future::ready(self.insert(key, ttl)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_fresh_once_within_its_window() {
        let store = MemoryReplayStore::default();
        let key = replay_key("https://api.example.com/a", "jti-1");
        assert!(key.starts_with("bearer-guard:dpop:"));
        assert_eq!(key.len(), "bearer-guard:dpop:".len() + 43);
        assert!(store.insert(&key, Duration::from_secs(60)).unwrap());
        assert!(!store.insert(&key, Duration::from_secs(60)).unwrap());
        let other_uri = replay_key("https://api.example.com/b", "jti-1");
        assert!(store.insert(&other_uri, Duration::from_secs(60)).unwrap());
    }

    #[test]
    fn an_expired_key_is_fresh_again() {
        let store = MemoryReplayStore::default();
        assert!(store.insert("k", Duration::from_millis(1)).unwrap());
        std::thread::sleep(Duration::from_millis(5));
        assert!(store.insert("k", Duration::from_secs(1)).unwrap());
    }

    #[test]
    fn memory_is_bounded_and_a_full_store_refuses_rather_than_forgets() {
        let store = MemoryReplayStore::with_capacity(SHARDS * 4);
        assert_eq!(store.capacity(), SHARDS * 4);
        let mut refused = 0;
        for i in 0..SHARDS * 40 {
            match store.insert(&format!("live-{i}"), Duration::from_secs(60)) {
                Ok(fresh) => assert!(fresh),
                Err(_) => refused += 1,
            }
            assert!(store.len() <= store.capacity());
        }
        assert!(refused > 0, "a full store must refuse");
        // Every remembered proof is still refused as a replay.
        let remembered = (0..SHARDS * 40)
            .filter(|i| {
                store
                    .insert(&format!("live-{i}"), Duration::from_secs(60))
                    .is_ok_and(|fresh| !fresh)
            })
            .count();
        assert_eq!(remembered, store.len());
        // Once their window is over, room is made for new proofs.
        let short = MemoryReplayStore::with_capacity(SHARDS);
        for i in 0..SHARDS * 8 {
            let _ = short.insert(&format!("short-{i}"), Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(5));
        for i in 0..SHARDS * 8 {
            let fresh = short.insert(&format!("new-{i}"), Duration::from_millis(1));
            assert!(fresh.is_ok() || short.len() <= short.capacity());
        }
        assert!(short.len() <= short.capacity());
    }
}
