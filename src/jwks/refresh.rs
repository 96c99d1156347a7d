//! The background work of the key set cache: one fetch in its own task, shared by every
//! request that needs it, and the task that refreshes the key set ahead of its expiry. Both
//! end cleanly however their runtime ends.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::cache::{JwksCache, RefreshReason, SharedFetch, Snapshot, later};
use super::fetch::KeyFetchError;
use super::stats::Event;
use crate::telemetry;

/// The longest wait between two retries of a failing refresh.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(300);

/// One fetch, run in its own task so that a cancelled request cannot cancel it; every
/// request that joins it shares its outcome.
///
/// Dropped unfinished (its runtime shut down), it leaves the in-flight slot and does not
/// count toward the cooldown, so the next request starts another at once.
pub(super) struct FetchInFlight {
    pub(super) cache: Arc<JwksCache>,
    pub(super) generation: u64,
    pub(super) previous_attempt: Option<Instant>,
    /// Taken when the outcome is sent.
    pub(super) reply: Option<oneshot::Sender<Result<Arc<Snapshot>, KeyFetchError>>>,
}

impl FetchInFlight {
    pub(super) async fn run(mut self, reason: RefreshReason) {
        let cache = Arc::clone(&self.cache);
        let outcome = cache.fetch().await;
        if let Err(error) = &outcome {
            cache.counters.count(Event::FailedRefresh);
            let age = cache
                .current
                .load()
                .as_ref()
                .map(|s| s.fetched_at.elapsed());
            telemetry::key_set_fetch(&cache.counters.issuer, "failed", age);
            let stale = cache.current.load().is_some();
            tracing::warn!(%error, ?reason, keeping_previous = stale, "bearer-guard: key set refresh failed");
        }
        // The slot is freed before the outcome is told, so that a request retrying after it
        // starts a new fetch instead of joining this one.
        self.leave_slot(true);
        if let Some(reply) = self.reply.take() {
            // Nobody waiting is fine: the outcome is in the cache already.
            let _ = reply.send(outcome);
        }
    }

    fn leave_slot(&self, finished: bool) {
        let mut book = self.cache.book();
        let ours = book
            .inflight
            .as_ref()
            .is_some_and(|(generation, _)| *generation == self.generation);
        if ours {
            book.inflight = None;
            if !finished {
                book.last_attempt = self.previous_attempt;
            }
        }
    }
}

impl Drop for FetchInFlight {
    fn drop(&mut self) {
        if self.reply.is_some() {
            self.leave_slot(false);
        }
    }
}

/// Clears the "refresh task running" flag when the task ends, however it ends.
pub(super) struct AliveFlag(pub(super) Arc<AtomicBool>);

impl Drop for AliveFlag {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Refreshes the key set ahead of its expiry until the cache is dropped. Starts with the
/// fetch it was started beside, so that its schedule follows from that fetch's outcome.
pub(super) async fn refresh_ahead(
    cache: Weak<JwksCache>,
    mut stopped: oneshot::Receiver<()>,
    first: SharedFetch,
    _alive: AliveFlag,
) {
    let mut fetch = first;
    let mut failures = 0u32;
    loop {
        let succeeded = tokio::select! {
            _ = &mut stopped => return,
            outcome = fetch => outcome.is_ok(),
        };
        failures = if succeeded {
            0
        } else {
            failures.saturating_add(1)
        };
        let Some(delay) = cache.upgrade().map(|c| next_refresh_in(&c, failures)) else {
            return;
        };
        tokio::select! {
            _ = &mut stopped => return,
            () = tokio::time::sleep(delay) => {}
        }
        let Some(next) = cache
            .upgrade()
            .and_then(|c| c.start_refresh(RefreshReason::Scheduled))
        else {
            return;
        };
        fetch = next;
    }
}

/// When the refresh task should next fetch: at 75-90 % of the freshness of a good key
/// set, or after an exponential backoff while refreshes fail.
fn next_refresh_in(cache: &JwksCache, failures: u32) -> Duration {
    let jitter = random_fraction();
    if failures > 0 {
        let backoff = Duration::from_secs(1u64 << failures.min(16)) / 2;
        return backoff.min(MAX_RETRY_BACKOFF).mul_f64(0.8 + 0.4 * jitter);
    }
    match cache.current.load_full() {
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
}
