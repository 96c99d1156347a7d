//! The verified-token cache: a token whose signature and claims verified is served from
//! memory on later requests until it expires, skipping the signature check.
//!
//! Only tokens that passed every check enter it, so it cannot be filled without valid tokens.
//! A hit is still checked: its time claims against the clock, and its key against the
//! current key set (an entry whose key left the set is not used).
//! The entries are kept in a read-mostly [`ShardedCache`]: a hit writes nothing shared.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use foldhash::quality::RandomState;
use jsonwebtoken::Algorithm;

use crate::claims::VerifiedClaims;
use crate::keys::{KeySet, VerificationKey};
use crate::shards::ShardedCache;

/// The longest an entry is kept, whatever the token's `exp` says.
const MAX_ENTRY_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// What an entry costs beyond its token and claims: the entry itself, its `Arc`s and the
/// cache's own node.
const ENTRY_OVERHEAD_BYTES: usize = 256;
/// The typical weight of an entry, for sizing the doorkeeper from a byte budget.
const TYPICAL_ENTRY_BYTES: u64 = 2048;

/// A verified token and what a hit must recheck.
pub(crate) struct Entry {
    pub(crate) claims: VerifiedClaims,
    pub(crate) key: Arc<VerificationKey>,
    pub(crate) kid: Option<Box<str>>,
    pub(crate) alg: Algorithm,
    pub(crate) not_before: Option<i64>,
    /// How long the cache keeps it: until `exp` plus the leeway (at most a day).
    lifetime: Duration,
}

impl Entry {
    pub(crate) fn new(
        claims: VerifiedClaims,
        key: Arc<VerificationKey>,
        kid: Option<&str>,
        alg: Algorithm,
        now: i64,
        leeway_secs: i64,
    ) -> Self {
        let remaining = claims
            .expires_at()
            .saturating_add(leeway_secs)
            .saturating_sub(now);
        let lifetime =
            Duration::from_secs(u64::try_from(remaining).unwrap_or(0)).min(MAX_ENTRY_LIFETIME);
        let not_before = claims.not_before();
        Entry {
            claims,
            key,
            kid: kid.map(Box::from),
            alg,
            not_before,
            lifetime,
        }
    }

    /// Whether the entry is still valid at `now` with `keys` as the current key set.
    pub(crate) fn still_valid(&self, now: i64, leeway_secs: i64, keys: &KeySet) -> bool {
        now < self.claims.expires_at().saturating_add(leeway_secs)
            && self
                .not_before
                .is_none_or(|nbf| now.saturating_add(leeway_secs) >= nbf)
            && keys.holds(self.kid.as_deref(), self.alg, &self.key)
    }
}

/// The bytes of a token's end that its hash reads: in a JWS the end of the signature, which
/// no one can choose without the key, so no two tokens the cache holds share them.
const HASHED_TAIL_BYTES: usize = 32;

/// Hashes a token by its length and its last [`HASHED_TAIL_BYTES`] bytes instead of all of
/// them (an RS256 access token is some 800 bytes, hashed twice per request: by the
/// doorkeeper and by the cache). This only finds the entry: the cache compares the whole
/// token on a hit, so two tokens that hash alike never share an entry, and only tokens that
/// verified enter, so no one can fill the cache with tokens of one tail.
#[derive(Clone, Default)]
struct TokenTailHash(RandomState);

impl BuildHasher for TokenTailHash {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

struct TailHasher(<RandomState as BuildHasher>::Hasher);

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write_usize(bytes.len());
        self.0
            .write(&bytes[bytes.len().saturating_sub(HASHED_TAIL_BYTES)..]);
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// Remembers the hashes of recently verified tokens in a fixed table of slots. A collision
/// only makes a token enter the cache a request early or late: validity never depends on it.
struct Doorkeeper {
    slots: Box<[AtomicU64]>,
}

impl Doorkeeper {
    fn new(capacity: u64) -> Self {
        // `capacity` in bytes. Four slots per typical entry: a token used again after N others keeps its slot with
        // probability about e^(-N / slots), so busy APIs still admit their tokens quickly.
        let slots = usize::try_from((capacity / TYPICAL_ENTRY_BYTES).saturating_mul(4))
            .unwrap_or(usize::MAX)
            .clamp(1024, 1 << 18);
        Doorkeeper {
            slots: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Whether the token of `hash` was recorded before; records it.
    fn seen_before(&self, hash: u64) -> bool {
        let (slot, mark) = self.slot(hash);
        slot.swap(mark, Ordering::Relaxed) == mark
    }

    /// Whether the token of `hash` is recorded now. A cached token whose slot another token
    /// took is verified again and recorded anew: slower once, never wrong.
    fn recorded(&self, hash: u64) -> bool {
        let (slot, mark) = self.slot(hash);
        slot.load(Ordering::Relaxed) == mark
    }

    /// The slot of `hash` (by its low bits) and the mark it leaves there (never 0, which an
    /// empty slot holds).
    fn slot(&self, hash: u64) -> (&AtomicU64, u64) {
        let mark = hash | 1;
        (&self.slots[(mark % self.slots.len() as u64) as usize], mark)
    }
}

/// Bounded by a byte budget: each entry weighs the token's length plus an estimate of its
/// decoded claims (`VerifiedClaims::approximate_heap_bytes`), about 2.5 KiB for a typical
/// 800-byte access token (measured in `tests/memory.rs`), and far more for a token of many
/// small values. Clones share the entries.
///
/// A token enters only the second time it verifies: one used once (a client that fetches a
/// token per request) never pays for an insert, and a flood of one-time tokens evicts
/// nothing.
#[derive(Clone)]
pub(crate) struct TokenCache {
    shared: Arc<Shared>,
}

struct Shared {
    entries: ShardedCache<Arc<str>, Entry, TokenTailHash>,
    doorkeeper: Doorkeeper,
}

impl TokenCache {
    pub(crate) fn new(max_bytes: u64) -> Self {
        TokenCache {
            shared: Arc::new(Shared {
                entries: ShardedCache::new(max_bytes, TokenTailHash::default()),
                doorkeeper: Doorkeeper::new(max_bytes),
            }),
        }
    }

    /// `read` applied to the live entry of `token`, if there is one. A token the doorkeeper
    /// has not recorded skips the lookup altogether: a first-seen token pays one hash.
    pub(crate) fn get<R>(&self, token: &str, read: impl FnOnce(&Entry) -> R) -> Option<R> {
        let shared = &*self.shared;
        let hash = shared.entries.hash(token);
        if !shared.doorkeeper.recorded(hash) {
            return None;
        }
        shared.entries.get(hash, token, read)
    }

    /// Caches a verified token, if it was verified before.
    pub(crate) fn insert(&self, token: &str, entry: Entry) {
        let shared = &*self.shared;
        let hash = shared.entries.hash(token);
        if entry.lifetime.is_zero() || !shared.doorkeeper.seen_before(hash) {
            return;
        }
        let bytes = token.len() + entry.claims.approximate_heap_bytes() + ENTRY_OVERHEAD_BYTES;
        let weight = u32::try_from(bytes).unwrap_or(u32::MAX);
        let lifetime = entry.lifetime;
        shared
            .entries
            .insert(hash, Arc::from(token), entry, weight, lifetime);
    }

    /// Entries currently held (expired ones not counted).
    pub(crate) fn len(&self) -> u64 {
        self.shared.entries.size().0
    }

    /// The weight of the entries held, in estimated bytes (expired ones not counted).
    pub(crate) fn weighed_bytes(&self) -> u64 {
        self.shared.entries.size().1
    }
}
#[cfg(all(test, feature = "test-util"))]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::scope::Scopes;
    use crate::testing::SigningKey;

    fn entry(key: &Arc<VerificationKey>, now: i64, expires_in: i64) -> Entry {
        let claims =
            VerifiedClaims::new("iss".into(), vec![], now + expires_in, Scopes::default(), {
                Map::new()
            })
            .unwrap();
        Entry::new(claims, Arc::clone(key), None, Algorithm::RS256, now, 0)
    }

    /// Inserts `token` as a verified token twice: it enters the second time.
    fn cache_twice(cache: &TokenCache, key: &Arc<VerificationKey>, token: &str, expires_in: i64) {
        let now = crate::validate::unix_now();
        for _ in 0..2 {
            cache.insert(token, entry(key, now, expires_in));
        }
    }

    #[test]
    fn an_entry_reads_nbf_without_building_the_claims_map() {
        let signing = SigningKey::generate("k");
        let key = Arc::new(crate::keys::parse_key(&signing.jwk(), &[Algorithm::RS256]).unwrap());
        let text = r#"{"nbf":1700000000.9,"org":"acme"}"#;
        let serde_json::Value::Object(registered) = serde_json::from_str(text).unwrap() else {
            unreachable!("an object")
        };
        let claims = VerifiedClaims::from_payload(
            "iss".into(),
            vec![],
            1_700_003_600,
            Scopes::default(),
            &registered,
            text.into(),
            0,
        )
        .unwrap();
        let entry = Entry::new(
            claims.clone(),
            key,
            None,
            Algorithm::RS256,
            1_700_000_000,
            0,
        );
        assert_eq!(entry.not_before, Some(1_700_000_000));
        assert!(
            !claims.map_is_built(),
            "the layer's own work never builds it"
        );
    }

    #[test]
    fn past_the_budget_the_oldest_entries_go_and_expired_ones_are_never_served() {
        let signing = SigningKey::generate("k");
        let key = Arc::new(crate::keys::parse_key(&signing.jwk(), &[Algorithm::RS256]).unwrap());
        let budget = 8 * 1024;
        let cache = TokenCache::new(budget);
        let tokens: Vec<String> = (0..200).map(|i| format!("token-{i:04}.{i:x}")).collect();
        for token in &tokens {
            cache_twice(&cache, &key, token, 3600);
            assert!(cache.get(token, |_| ()).is_some(), "the newest is held");
            assert!(cache.weighed_bytes() <= budget, "{}", cache.weighed_bytes());
        }
        let held = cache.len();
        assert!((2..200).contains(&held), "{held}");
        assert!(
            cache.get(&tokens[0], |_| ()).is_none(),
            "the oldest went first"
        );
        // An entry past its lifetime is not served, nor counted.
        let short = TokenCache::new(budget);
        cache_twice(&short, &key, "short-lived", 1);
        assert_eq!(short.len(), 1);
        std::thread::sleep(Duration::from_millis(1100));
        assert!(short.get("short-lived", |_| ()).is_none());
        assert_eq!((short.len(), short.weighed_bytes()), (0, 0));
    }
}
