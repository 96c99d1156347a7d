//! The verified-token cache: a token whose signature and claims verified is served from
//! memory on later requests until it expires, skipping the signature check.
//!
//! Only tokens that passed every check enter it, so it cannot be filled without valid tokens.
//! A hit is still checked: its time claims against the clock, and its key against the
//! current key set (an entry whose key left the set is not used).

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use foldhash::quality::RandomState;
use jsonwebtoken::Algorithm;
use moka::Expiry;
use moka::sync::Cache;

use crate::claims::VerifiedClaims;
use crate::keys::{KeySet, VerificationKey};

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
    /// How long moka keeps it: until `exp` plus the leeway.
    lifetime: Duration,
    /// What it weighs against the cache's byte budget; set when it is inserted.
    weight: u32,
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
        let not_before = claims
            .get("nbf")
            .and_then(serde_json::Value::as_f64)
            .map(|s| s.floor() as i64);
        Entry {
            claims,
            key,
            kid: kid.map(Box::from),
            alg,
            not_before,
            lifetime,
            weight: 0,
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
    hasher: TokenTailHash,
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
            hasher: TokenTailHash::default(),
        }
    }

    /// Whether `token` was recorded before; records it.
    fn seen_before(&self, token: &str) -> bool {
        let (slot, hash) = self.slot(token);
        slot.swap(hash, Ordering::Relaxed) == hash
    }

    /// Whether `token` is recorded now. A cached token whose slot another token took is
    /// verified again and recorded anew: slower once, never wrong.
    fn recorded(&self, token: &str) -> bool {
        let (slot, hash) = self.slot(token);
        slot.load(Ordering::Relaxed) == hash
    }

    fn slot(&self, token: &str) -> (&AtomicU64, u64) {
        let hash = self.hasher.hash_one(token) | 1;
        (&self.slots[(hash % self.slots.len() as u64) as usize], hash)
    }
}

/// An entry's weight against the byte budget.
#[allow(clippy::borrowed_box)] // moka's weigher signature.
fn weigh(_token: &Box<str>, entry: &Arc<Entry>) -> u32 {
    entry.weight
}

struct UntilExpiry;

impl Expiry<Box<str>, Arc<Entry>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _token: &Box<str>,
        entry: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.lifetime)
    }
}

/// Bounded by a byte budget: each entry weighs the token's length plus an estimate of its
/// decoded claims (`VerifiedClaims::approximate_heap_bytes`), about 2.5 KiB for a typical
/// 800-byte access token (measured in `tests/memory.rs`), and far more for a token of many
/// small values. Clones share the entries.
///
/// A token enters only the second time it verifies: one used once (a client that fetches a
/// token per request) never pays for an insert, which costs about as much as an HS256 check.
#[derive(Clone)]
pub(crate) struct TokenCache {
    entries: Cache<Box<str>, Arc<Entry>, TokenTailHash>,
    doorkeeper: Arc<Doorkeeper>,
}

impl TokenCache {
    pub(crate) fn new(max_bytes: u64) -> Self {
        TokenCache {
            entries: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(weigh)
                .expire_after(UntilExpiry)
                .build_with_hasher(TokenTailHash::default()),
            doorkeeper: Arc::new(Doorkeeper::new(max_bytes)),
        }
    }

    /// The entry of a token. A token the doorkeeper has not recorded skips the cache lookup
    /// altogether: a first-seen token pays one hash, not a miss of the cache.
    pub(crate) fn get(&self, token: &str) -> Option<Arc<Entry>> {
        if !self.doorkeeper.recorded(token) {
            return None;
        }
        self.entries.get(token)
    }

    /// Caches a verified token, if it was verified before.
    pub(crate) fn insert(&self, token: &str, mut entry: Entry) {
        if !entry.lifetime.is_zero() && self.doorkeeper.seen_before(token) {
            let bytes = token.len() + entry.claims.approximate_heap_bytes() + ENTRY_OVERHEAD_BYTES;
            entry.weight = u32::try_from(bytes).unwrap_or(u32::MAX);
            self.entries.insert(token.into(), Arc::new(entry));
        }
    }

    /// Entries currently held (after pending maintenance).
    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// The weight of the entries held, in estimated bytes (after pending maintenance).
    pub(crate) fn weighed_bytes(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }
}
