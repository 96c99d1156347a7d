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

/// The wait before retrying a refresh that failed once; each further failure doubles it.
const FIRST_RETRY_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two retries of a failing refresh.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(300);
/// How far a backoff is jittered either way (20 %), so that replicas that failed together
/// do not all retry together.
const RETRY_JITTER: f64 = 0.2;

/// When the refresh task should next fetch: at 75-90 % of the freshness of a good key
/// set, or after an exponential backoff while refreshes fail.
pub(super) fn next_refresh_delay(current: Option<&Snapshot>, failures: u32) -> Duration {
    let jitter = random_fraction();
    if failures > 0 {
        return retry_backoff(failures, jitter);
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

/// The wait after `failures` (at least 1) failed refreshes in a row: 1 s doubling to 5 min,
/// scaled by `1 ± RETRY_JITTER` as `jitter` goes from 0 to 1.
fn retry_backoff(failures: u32, jitter: f64) -> Duration {
    // 2^16 s is past the cap already: the shift never overflows.
    let doublings = failures.saturating_sub(1).min(16);
    let backoff = FIRST_RETRY_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_BACKOFF);
    backoff.mul_f64(1.0 - RETRY_JITTER + 2.0 * RETRY_JITTER * jitter)
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
    fn retries_back_off_from_1_s_doubling_to_5_min_with_20_percent_jitter() {
        // The un-jittered schedule, then the cap for every later failure.
        let schedule = [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300];
        let failures = (1..=64).chain([1_000, u32::MAX - 1, u32::MAX]);
        for failures in failures {
            let index = usize::try_from(failures - 1).map_or(10, |i| i.min(10));
            let base = Duration::from_secs(schedule[index]);
            assert_eq!(retry_backoff(failures, 0.5), base, "failure {failures}");
            assert_eq!(
                retry_backoff(failures, 0.0),
                base.mul_f64(0.8),
                "failure {failures}"
            );
            let highest = retry_backoff(failures, 1.0 - f64::EPSILON);
            assert!(
                highest <= base.mul_f64(1.2) && highest > base.mul_f64(1.19),
                "failure {failures}: {highest:?}"
            );
        }
    }

    #[test]
    fn failed_refreshes_wait_a_jittered_backoff() {
        let delays: Vec<Duration> = (0..200).map(|_| next_refresh_delay(None, 3)).collect();
        for delay in &delays {
            let secs = delay.as_secs_f64();
            assert!((3.2..4.8).contains(&secs), "{delay:?}");
        }
        // Spread out, not one value: 200 draws all within 0.4 s of each other would mean
        // the jitter is gone (a chance of about 0.25^199 with it).
        let spread =
            delays.iter().max().unwrap().as_secs_f64() - delays.iter().min().unwrap().as_secs_f64();
        assert!(spread > 0.4, "{spread}");
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
