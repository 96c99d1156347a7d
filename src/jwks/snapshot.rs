//! One fetched key set and its freshness: when it is fresh, when it should be refreshed,
//! how long it may serve while the issuer fails, and when the refresh task fetches next.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use headers::CacheControl;

use crate::keys::KeySet;

/// Freshness and limits of the cache.
#[derive(Debug, Clone)]
pub(crate) struct CacheSettings {
    /// Freshness when the issuer sends no `Cache-Control: max-age`.
    pub(crate) ttl: Duration,
    /// The bounds a `max-age` is clamped to.
    pub(crate) min_ttl: Duration,
    pub(crate) max_ttl: Duration,
    /// How long past its freshness the last good key set keeps serving while fetches fail.
    pub(crate) stale_if_error: Duration,
    pub(crate) refetch_cooldown: Duration,
    pub(crate) max_keys: usize,
}

/// The refresh task fetches at 75-90 % of the freshness; a key set still not refreshed
/// past this fraction means the task is gone (its runtime shut down).
pub(super) const REFRESH_OVERDUE_FRACTION: f64 = 0.95;

impl CacheSettings {
    /// The issuer's `max-age` within the configured bounds, else the default TTL.
    pub(super) fn freshness(&self, cache_control: Option<&CacheControl>) -> Duration {
        let settings = self;
        match cache_control {
            Some(cc) if cc.no_store() || cc.no_cache() => settings.min_ttl,
            Some(cc) => cc.max_age().map_or(settings.ttl, |max_age| {
                max_age.clamp(settings.min_ttl, settings.max_ttl)
            }),
            None => settings.ttl,
        }
    }
}

/// One fetched key set and its freshness.
pub(crate) struct Snapshot {
    pub(crate) keys: Arc<KeySet>,
    pub(super) fetched_at: Instant,
    pub(super) fresh_until: Instant,
    /// When the refresh task should long have refreshed it.
    pub(super) refresh_overdue_at: Instant,
    pub(super) usable_until: Instant,
    pub(super) ttl: Duration,
    pub(super) etag: Option<String>,
}

/// The state of the cached key set, for health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeySetStatus {
    /// Usable keys in the set.
    pub keys: usize,
    /// Time since it was fetched (or revalidated).
    pub age: Duration,
    /// The freshness applied to it (`max-age` within bounds, or the default TTL).
    pub ttl: Duration,
    /// Whether it is past its freshness and kept only because refreshes fail.
    pub stale: bool,
}

/// The longest wait between two retries of a failing refresh.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(300);

/// When the refresh task should next fetch: at 75-90 % of the freshness of a good key
/// set, or after an exponential backoff while refreshes fail.
pub(super) fn next_refresh_delay(current: Option<&Snapshot>, failures: u32) -> Duration {
    let jitter = random_fraction();
    if failures > 0 {
        let backoff = Duration::from_secs(1u64 << failures.min(16)) / 2;
        return backoff.min(MAX_RETRY_BACKOFF).mul_f64(0.8 + 0.4 * jitter);
    }
    match current {
        None => Duration::from_secs(1),
        Some(snapshot) => {
            let due = later(
                snapshot.fetched_at,
                snapshot.ttl.mul_f64(0.75 + 0.15 * jitter),
            );
            due.saturating_duration_since(Instant::now())
        }
    }
}

/// `start + duration`, saturating far in the future instead of overflowing.
pub(super) fn later(start: Instant, duration: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    start.checked_add(duration.min(CENTURY)).unwrap_or(start)
}

/// A number in `[0, 1)` for jitter, from the standard library's randomly keyed hasher.
fn random_fraction() -> f64 {
    (RandomState::new().hash_one(0u8) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_the_unit_interval() {
        for _ in 0..1000 {
            let f = random_fraction();
            assert!((0.0..1.0).contains(&f), "{f}");
        }
    }

    #[test]
    fn later_saturates() {
        let now = Instant::now();
        assert!(later(now, Duration::MAX) > now);
        assert_eq!(
            later(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }
}
