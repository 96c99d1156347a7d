//! The key set cache: a lock-free snapshot that requests read, one shared fetch at a time,
//! refresh ahead of expiry, and what survives an outage.
//!
//! Requests read the current [`Snapshot`] through an `ArcSwap` and never take a lock. A fetch
//! runs in its own task (so a cancelled request cannot cancel it) and is shared: every
//! request that needs it awaits the same one. A background task refreshes the key set before
//! its TTL ends; it holds only a weak reference and stops when the last `Validator` clone is
//! dropped. Bookkeeping sits behind a short `std` mutex that is never held across an `.await`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use jsonwebtoken::Algorithm;
use tokio::sync::oneshot;

use super::fetch::{Fetcher, KeyFetchError};
pub use super::snapshot::KeySetStatus;
pub(crate) use super::snapshot::{CacheSettings, Snapshot};
use super::snapshot::{REFRESH_OVERDUE_FRACTION, later, next_refresh_delay};
use super::stats::{Counters, Event, KeyStats};
use crate::keys::KeySet;
use crate::telemetry;

pub(super) type SharedFetch = Shared<BoxFuture<'static, Result<Arc<Snapshot>, KeyFetchError>>>;

pub(super) struct Bookkeeping {
    /// The fetch in flight, with the generation that tells it apart from later ones.
    pub(super) inflight: Option<(u64, SharedFetch)>,
    generations: u64,
    pub(super) last_attempt: Option<Instant>,
    /// Dropping it tells the refresh task to end (it is dropped with the cache).
    stop_refresher: Option<oneshot::Sender<()>>,
}

/// Why a refresh is wanted: it decides whether the cooldown applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RefreshReason {
    /// No usable key set.
    Cold,
    /// A token names a `kid` the snapshot lacks.
    UnknownKid,
    /// The refresh task's schedule, or an explicit warm-up.
    Scheduled,
}

pub(crate) struct JwksCache {
    fetcher: Arc<Fetcher>,
    settings: CacheSettings,
    accepted_algs: Vec<Algorithm>,
    pub(super) current: ArcSwapOption<Snapshot>,
    bookkeeping: Mutex<Bookkeeping>,
    pub(super) counters: Arc<Counters>,
    /// Whether a refresh task is running; cleared by the task itself when it ends or its
    /// runtime drops it, so that the next request starts another.
    refresher_alive: Arc<AtomicBool>,
}

impl JwksCache {
    /// A cache fetching with `fetcher` (which introspection may share) and counting into
    /// `counters`.
    pub(crate) fn new(
        fetcher: Arc<Fetcher>,
        counters: Arc<Counters>,
        settings: CacheSettings,
        accepted_algs: Vec<Algorithm>,
    ) -> Self {
        JwksCache {
            fetcher,
            settings,
            accepted_algs,
            current: ArcSwapOption::empty(),
            bookkeeping: Mutex::new(Bookkeeping {
                inflight: None,
                generations: 0,
                last_attempt: None,
                stop_refresher: None,
            }),
            counters,
            refresher_alive: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Runs `use_keys` on the current key set if it is still usable; never locks or waits.
    pub(crate) fn with_current<R>(
        self: &Arc<Self>,
        use_keys: impl FnOnce(&KeySet) -> R,
    ) -> Option<R> {
        let guard = self.current.load();
        let snapshot = guard.as_ref()?;
        let now = Instant::now();
        if now >= snapshot.usable_until {
            return None;
        }
        if now >= snapshot.refresh_overdue_at {
            self.revive_refresher();
        }
        if now >= snapshot.fresh_until {
            self.counters.count(Event::StaleServe);
        }
        Some(use_keys(&snapshot.keys))
    }

    /// Starts refreshing again when the refresh task is gone (its runtime shut down) and the
    /// key set is past the time it should have been refreshed.
    fn revive_refresher(self: &Arc<Self>) {
        if !self.refresher_alive.load(Ordering::Acquire)
            && tokio::runtime::Handle::try_current().is_ok()
        {
            self.start_refresh(RefreshReason::Scheduled);
        }
    }

    fn usable_snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current
            .load_full()
            .filter(|snapshot| Instant::now() < snapshot.usable_until)
    }

    /// The freshest usable key set this cache can offer a request that could not be decided
    /// with the current one (no usable key set yet, or a `kid` missing from it). A fetch is
    /// joined, or started when the cooldown since the last attempt has passed; otherwise the
    /// current set is returned. `Err` holds how long until a fetch may be tried again, when
    /// there is no key set.
    pub(crate) async fn refreshed(self: &Arc<Self>) -> Result<Arc<Snapshot>, Duration> {
        self.counters.count(Event::RequestWaited);
        let reason = if self.usable_snapshot().is_some() {
            RefreshReason::UnknownKid
        } else {
            RefreshReason::Cold
        };
        // A fetch interrupted by its runtime's shutdown is retried once, at once.
        for _ in 0..2 {
            let Some(fetch) = self.start_refresh(reason) else {
                break;
            };
            match fetch.await {
                Ok(snapshot) => return Ok(snapshot),
                Err(KeyFetchError::Interrupted) => continue,
                Err(_) => break,
            }
        }
        self.usable_snapshot().ok_or_else(|| self.retry_after())
    }

    /// Fetches now (ignoring the cooldown) unless a fetch is already running, and waits.
    /// A key set without a usable key is installed, and reported as
    /// [`KeyFetchError::NoUsableKeys`].
    pub(crate) async fn warm_up(self: &Arc<Self>) -> Result<KeySetStatus, KeyFetchError> {
        if let Some(fetch) = self.start_refresh(RefreshReason::Scheduled) {
            fetch.await?;
        }
        match self.status() {
            Some(status) if status.keys > 0 => Ok(status),
            _ => Err(KeyFetchError::NoUsableKeys),
        }
    }

    pub(crate) fn status(&self) -> Option<KeySetStatus> {
        let snapshot = self.usable_snapshot()?;
        let now = Instant::now();
        Some(KeySetStatus {
            keys: snapshot.keys.len(),
            age: now.saturating_duration_since(snapshot.fetched_at),
            ttl: snapshot.ttl,
            stale: now >= snapshot.fresh_until,
        })
    }

    pub(super) fn book(&self) -> MutexGuard<'_, Bookkeeping> {
        self.bookkeeping
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the fetch in flight, or starts one if the cooldown allows; (re)starts the
    /// refresh task when none is running.
    pub(super) fn start_refresh(self: &Arc<Self>, reason: RefreshReason) -> Option<SharedFetch> {
        let mut book = self.book();
        let mut started = None;
        let fetch = match &book.inflight {
            Some((_, fetch)) => fetch.clone(),
            None => {
                let now = Instant::now();
                let cooling = book
                    .last_attempt
                    .is_some_and(|last| now.duration_since(last) < self.settings.refetch_cooldown);
                if cooling && reason != RefreshReason::Scheduled {
                    tracing::debug!(?reason, "bearer-guard: refetch skipped, cooldown in effect");
                    return None;
                }
                if reason == RefreshReason::UnknownKid {
                    self.counters.count(Event::UnknownKidRefetch);
                }
                book.generations += 1;
                let (reply, outcome) = oneshot::channel();
                let fetch = async move { outcome.await.unwrap_or(Err(KeyFetchError::Interrupted)) }
                    .boxed()
                    .shared();
                book.inflight = Some((book.generations, fetch.clone()));
                started = Some(FetchInFlight {
                    cache: Arc::clone(self),
                    generation: book.generations,
                    previous_attempt: book.last_attempt.replace(now),
                    reply: Some(reply),
                });
                fetch
            }
        };
        let refresher_stopped = (!self.refresher_alive.load(Ordering::Acquire)).then(|| {
            self.refresher_alive.store(true, Ordering::Release);
            let (stop, stopped) = oneshot::channel();
            book.stop_refresher = Some(stop);
            stopped
        });
        // Tasks are spawned with the lock released: a runtime that is shutting down drops a
        // task at once, and dropping one takes the lock.
        drop(book);
        if let Some(in_flight) = started {
            tokio::spawn(in_flight.run(reason));
        }
        if let Some(stopped) = refresher_stopped {
            let alive = AliveFlag(Arc::clone(&self.refresher_alive));
            tokio::spawn(refresh_ahead(
                Arc::downgrade(self),
                stopped,
                fetch.clone(),
                alive,
            ));
        }
        Some(fetch)
    }

    /// How long until the cooldown lets another fetch start.
    fn retry_after(&self) -> Duration {
        let elapsed = self
            .book()
            .last_attempt
            .map_or(Duration::MAX, |l| l.elapsed());
        self.settings
            .refetch_cooldown
            .saturating_sub(elapsed)
            .max(Duration::from_secs(1))
    }

    pub(crate) fn stats(&self) -> KeyStats {
        self.counters.snapshot()
    }

    /// Fetches the key set and installs it: a well-formed one replaces the current set, a
    /// `304` renews the current set's freshness.
    pub(super) async fn fetch(&self) -> Result<Arc<Snapshot>, KeyFetchError> {
        let previous = self.current.load_full();
        let etag = previous.as_ref().and_then(|p| p.etag.clone());
        let started = Instant::now();
        let fetched = self
            .fetcher
            .key_set(etag.as_deref(), &self.counters)
            .await?;
        let uri = &fetched.url;
        let ttl = self.settings.freshness(fetched.cache_control.as_ref());
        let (keys, decision) = match (fetched.body, &previous) {
            (None, Some(previous)) => {
                self.counters.count(Event::NotModified);
                (Arc::clone(&previous.keys), "not_modified")
            }
            (None, None) => return Err(KeyFetchError::Status(304)),
            (Some(body), _) => {
                let (keys, skipped) =
                    KeySet::parse(&body, &self.accepted_algs, self.settings.max_keys)?;
                for (kid, reason) in &skipped {
                    tracing::warn!(kid = kid.as_deref().unwrap_or("-"), %reason, url = %uri, "bearer-guard: skipped a key of the key set");
                }
                if keys.len() == 0 {
                    // Authoritative all the same: an issuer that empties its set, or moves
                    // to algorithms this API refuses, means its old keys must stop verifying.
                    tracing::warn!(url = %uri, skipped = skipped.len(), "bearer-guard: the key set has no usable key; every token is refused until it has one");
                }
                (Arc::new(keys), "replaced")
            }
        };
        let now = Instant::now();
        let fresh_until = later(now, ttl);
        let snapshot = Arc::new(Snapshot {
            keys,
            fetched_at: now,
            fresh_until,
            refresh_overdue_at: later(now, ttl.mul_f64(REFRESH_OVERDUE_FRACTION)),
            usable_until: later(fresh_until, self.settings.stale_if_error),
            ttl,
            etag: fetched.etag.or(etag),
        });
        self.current.store(Some(Arc::clone(&snapshot)));
        telemetry::key_set_fetch(&self.counters.issuer, decision, Some(Duration::ZERO));
        telemetry::key_set_installed(&self.counters.issuer, snapshot.keys.len());
        tracing::info!(
            url = %uri,
            keys = snapshot.keys.len(),
            elapsed = ?started.elapsed(),
            ttl = ?ttl,
            decision,
            "bearer-guard: key set fetched"
        );
        Ok(snapshot)
    }
}

/// One fetch, run in its own task so that a cancelled request cannot cancel it; every
/// request that joins it shares its outcome.
///
/// Dropped unfinished (its runtime shut down), it leaves the in-flight slot and does not
/// count toward the cooldown, so the next request starts another at once.
struct FetchInFlight {
    cache: Arc<JwksCache>,
    generation: u64,
    previous_attempt: Option<Instant>,
    /// Taken when the outcome is sent.
    reply: Option<oneshot::Sender<Result<Arc<Snapshot>, KeyFetchError>>>,
}

impl FetchInFlight {
    async fn run(mut self, reason: RefreshReason) {
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
struct AliveFlag(Arc<AtomicBool>);

impl Drop for AliveFlag {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Refreshes the key set ahead of its expiry until the cache is dropped. Starts with the
/// fetch it was started beside, so that its schedule follows from that fetch's outcome.
async fn refresh_ahead(
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
        let Some(delay) = cache
            .upgrade()
            .map(|c| next_refresh_delay(c.current.load_full().as_deref(), failures))
        else {
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
