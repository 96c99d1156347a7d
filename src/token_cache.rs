//! The verified-token cache: a token whose signature and claims verified is served from
//! memory on later requests until it expires, skipping the signature check.
//!
//! Only tokens that passed every check enter it, so it cannot be filled without valid tokens.
//! A hit is still checked: its time claims against the clock, and its key against the
//! current key set (an entry whose key left the set is not used).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use moka::Expiry;
use moka::sync::Cache;

use crate::claims::VerifiedClaims;
use crate::keys::{KeySet, VerificationKey};

/// The longest an entry is kept, whatever the token's `exp` says.
const MAX_ENTRY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A verified token and what a hit must recheck.
pub(crate) struct Entry {
    pub(crate) claims: VerifiedClaims,
    pub(crate) key: Arc<VerificationKey>,
    pub(crate) kid: Option<Box<str>>,
    pub(crate) alg: Algorithm,
    pub(crate) not_before: Option<i64>,
    /// How long moka keeps it: until `exp` plus the leeway.
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

/// Bounded by a number of entries; each costs the token's length plus its decoded claims
/// (about 2-3 KiB for a typical 1 KiB access token). Clones share the entries.
#[derive(Clone)]
pub(crate) struct TokenCache {
    entries: Cache<Box<str>, Arc<Entry>>,
}

impl TokenCache {
    pub(crate) fn new(capacity: u64) -> Self {
        TokenCache {
            entries: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build(),
        }
    }

    pub(crate) fn get(&self, token: &str) -> Option<Arc<Entry>> {
        self.entries.get(token)
    }

    pub(crate) fn insert(&self, token: &str, entry: Entry) {
        if !entry.lifetime.is_zero() {
            self.entries.insert(token.into(), Arc::new(entry));
        }
    }

    /// Entries currently held (after pending maintenance).
    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}
