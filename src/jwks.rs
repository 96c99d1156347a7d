//! The issuer's key set: discovery, fetching under limits, and a lock-free snapshot cache
//! that refreshes ahead of expiry, survives outages and resists hostile responses.
//!
//! Requests read the current [`Snapshot`] through an `ArcSwap` and never take a lock. A fetch
//! runs in its own task (so a cancelled request cannot cancel it) and is shared: every
//! request that needs it awaits the same one. A background task refreshes the key set before
//! its TTL ends; it holds only a weak reference and stops when the last `Validator` clone is
//! dropped. Bookkeeping sits behind a short `std` mutex that is never held across an `.await`.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use headers::{CacheControl, HeaderMapExt};
use jsonwebtoken::Algorithm;
use reqwest::Url;
use serde::Deserialize;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::keys::{KeySet, KeySetRejected};
use crate::telemetry;

/// Where the key set comes from.
#[derive(Debug, Clone)]
pub(crate) enum JwksLocation {
    /// Found through the issuer's metadata (OIDC discovery, then RFC 8414, then
    /// `{issuer}/.well-known/jwks.json`).
    Discover { issuer: String },
    /// A `jwks_uri` given in the configuration.
    Uri(Url),
}

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
    pub(crate) timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_keys: usize,
}

/// The longest wait between two retries of a failing refresh.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(300);
/// The refresh task fetches at 75-90 % of the freshness; a key set still not refreshed
/// past this fraction means the task is gone (its runtime shut down).
const REFRESH_OVERDUE_FRACTION: f64 = 0.95;

/// One fetched key set and its freshness.
pub(crate) struct Snapshot {
    pub(crate) keys: Arc<KeySet>,
    fetched_at: Instant,
    fresh_until: Instant,
    /// When the refresh task should long have refreshed it.
    refresh_overdue_at: Instant,
    usable_until: Instant,
    ttl: Duration,
    etag: Option<String>,
}

/// Why a discovery or key set fetch failed. The previous key set, if any, stays in use.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFetchError {
    /// The URL is neither https nor http to a loopback host.
    #[error("{0} is neither https nor a loopback http URL")]
    InsecureUrl(Url),
    /// Connection, TLS or protocol failure.
    #[error("request failed: {0}")]
    Transport(String),
    /// No complete answer within the fetch timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A status other than 2xx (or 304 to a conditional request).
    #[error("HTTP status {0}")]
    Status(u16),
    /// A `Content-Type` that is not JSON.
    #[error("content type {0:?} is not JSON")]
    NotJson(String),
    /// A body over the size cap.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// Issuer metadata without `issuer` and `jwks_uri`.
    #[error("metadata is not a JSON object with `issuer` and `jwks_uri`")]
    BadMetadata,
    /// Issuer metadata naming another issuer (someone else's metadata).
    #[error("metadata names issuer {found:?}, not the configured one")]
    IssuerMismatch {
        /// The `issuer` the document names.
        found: String,
    },
    /// Not a JWK set, or too many keys.
    #[error("{0}")]
    KeySet(String),
    /// A JWK set in which no key passed the key policy. The set is installed all the same
    /// (a well-formed key set is authoritative): tokens are refused until it has a usable key.
    #[error("the key set has no usable key")]
    NoUsableKeys,
    /// The answer came from another origin than the URL asked, or from a URL that is neither
    /// https nor loopback http (a custom `http_client` followed a redirect).
    #[error("the answer came from {0}, not the origin that was asked")]
    CrossOriginRedirect(Url),
    /// The fetch never finished: the runtime that ran it shut down. The next request retries.
    #[error("the fetch was interrupted (its runtime shut down)")]
    Interrupted,
}

impl From<KeySetRejected> for KeyFetchError {
    fn from(rejected: KeySetRejected) -> Self {
        KeyFetchError::KeySet(rejected.to_string())
    }
}

type SharedFetch = Shared<BoxFuture<'static, Result<Arc<Snapshot>, KeyFetchError>>>;

/// Counters of what the key set cache did, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStats {
    /// Requests for the key set document.
    pub jwks_fetches: u64,
    /// Requests for issuer metadata (OIDC discovery and RFC 8414).
    pub discovery_fetches: u64,
    /// Key set refreshes that failed (the previous key set stayed in use).
    pub failed_refreshes: u64,
    /// Revalidations answered `304 Not Modified`.
    pub not_modified: u64,
    /// Refreshes started because a token named an unknown `kid`.
    pub unknown_kid_refetches: u64,
    /// Requests that had to wait for a fetch (cold start or unknown `kid`).
    pub requests_waited: u64,
    /// Requests verified with a key set past its freshness (issuer unreachable).
    pub stale_serves: u64,
}

impl KeyStats {
    /// The sum of two counters, for several issuers.
    pub(crate) fn add(self, other: KeyStats) -> KeyStats {
        KeyStats {
            jwks_fetches: self.jwks_fetches + other.jwks_fetches,
            discovery_fetches: self.discovery_fetches + other.discovery_fetches,
            failed_refreshes: self.failed_refreshes + other.failed_refreshes,
            not_modified: self.not_modified + other.not_modified,
            unknown_kid_refetches: self.unknown_kid_refetches + other.unknown_kid_refetches,
            requests_waited: self.requests_waited + other.requests_waited,
            stale_serves: self.stale_serves + other.stale_serves,
        }
    }
}

/// What the cache counts; each event also goes to the `metrics` facade (feature `metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    JwksFetch,
    DiscoveryFetch,
    FailedRefresh,
    NotModified,
    UnknownKidRefetch,
    RequestWaited,
    StaleServe,
}

struct Counters {
    /// The issuer, as the `issuer` label of the metrics.
    issuer: Arc<str>,
    jwks_fetches: AtomicU64,
    discovery_fetches: AtomicU64,
    failed_refreshes: AtomicU64,
    not_modified: AtomicU64,
    unknown_kid_refetches: AtomicU64,
    requests_waited: AtomicU64,
    stale_serves: AtomicU64,
}

impl Counters {
    fn new(issuer: &str) -> Self {
        Counters {
            issuer: issuer.into(),
            jwks_fetches: AtomicU64::new(0),
            discovery_fetches: AtomicU64::new(0),
            failed_refreshes: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            unknown_kid_refetches: AtomicU64::new(0),
            requests_waited: AtomicU64::new(0),
            stale_serves: AtomicU64::new(0),
        }
    }

    fn count(&self, event: Event) {
        let counter = match event {
            Event::JwksFetch => &self.jwks_fetches,
            Event::DiscoveryFetch => &self.discovery_fetches,
            Event::FailedRefresh => &self.failed_refreshes,
            Event::NotModified => &self.not_modified,
            Event::UnknownKidRefetch => &self.unknown_kid_refetches,
            Event::RequestWaited => &self.requests_waited,
            Event::StaleServe => &self.stale_serves,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match event {
            Event::JwksFetch => telemetry::issuer_request(&self.issuer, "jwks"),
            Event::DiscoveryFetch => telemetry::issuer_request(&self.issuer, "discovery"),
            Event::StaleServe => telemetry::stale_serve(&self.issuer),
            Event::FailedRefresh
            | Event::NotModified
            | Event::UnknownKidRefetch
            | Event::RequestWaited => {}
        }
    }

    fn snapshot(&self) -> KeyStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        KeyStats {
            jwks_fetches: read(&self.jwks_fetches),
            discovery_fetches: read(&self.discovery_fetches),
            failed_refreshes: read(&self.failed_refreshes),
            not_modified: read(&self.not_modified),
            unknown_kid_refetches: read(&self.unknown_kid_refetches),
            requests_waited: read(&self.requests_waited),
            stale_serves: read(&self.stale_serves),
        }
    }
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

struct Bookkeeping {
    /// The fetch in flight, with the generation that tells it apart from later ones.
    inflight: Option<(u64, SharedFetch)>,
    generations: u64,
    last_attempt: Option<Instant>,
    /// Dropping it tells the refresh task to end (it is dropped with the cache).
    stop_refresher: Option<oneshot::Sender<()>>,
}

/// Why a refresh is wanted: it decides whether the cooldown applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshReason {
    /// No usable key set.
    Cold,
    /// A token names a `kid` the snapshot lacks.
    UnknownKid,
    /// The refresh task's schedule, or an explicit warm-up.
    Scheduled,
}

pub(crate) struct JwksCache {
    location: JwksLocation,
    client: reqwest::Client,
    settings: CacheSettings,
    accepted_algs: Vec<Algorithm>,
    current: ArcSwapOption<Snapshot>,
    discovered_uri: ArcSwapOption<Url>,
    bookkeeping: Mutex<Bookkeeping>,
    counters: Counters,
    /// Whether a refresh task is running; cleared by the task itself when it ends or its
    /// runtime drops it, so that the next request starts another.
    refresher_alive: Arc<AtomicBool>,
}

impl JwksCache {
    pub(crate) fn new(
        issuer: &str,
        location: JwksLocation,
        client: reqwest::Client,
        settings: CacheSettings,
        accepted_algs: Vec<Algorithm>,
    ) -> Self {
        JwksCache {
            location,
            client,
            settings,
            accepted_algs,
            current: ArcSwapOption::empty(),
            discovered_uri: ArcSwapOption::empty(),
            bookkeeping: Mutex::new(Bookkeeping {
                inflight: None,
                generations: 0,
                last_attempt: None,
                stop_refresher: None,
            }),
            counters: Counters::new(issuer),
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

    fn book(&self) -> MutexGuard<'_, Bookkeeping> {
        self.bookkeeping
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the fetch in flight, or starts one if the cooldown allows; (re)starts the
    /// refresh task when none is running.
    fn start_refresh(self: &Arc<Self>, reason: RefreshReason) -> Option<SharedFetch> {
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

    /// When the refresh task should next fetch: at 75-90 % of the freshness of a good key
    /// set, or after an exponential backoff while refreshes fail.
    fn next_refresh_in(&self, failures: u32) -> Duration {
        let jitter = random_fraction();
        if failures > 0 {
            let backoff = Duration::from_secs(1u64 << failures.min(16)) / 2;
            return backoff.min(MAX_RETRY_BACKOFF).mul_f64(0.8 + 0.4 * jitter);
        }
        match self.current.load_full() {
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

    pub(crate) fn stats(&self) -> KeyStats {
        self.counters.snapshot()
    }

    async fn fetch(&self) -> Result<Arc<Snapshot>, KeyFetchError> {
        let uri = self.jwks_uri().await?;
        let fetched = self.fetch_key_set(&uri).await;
        if fetched.is_err() && matches!(self.location, JwksLocation::Discover { .. }) {
            // The key set may have moved: the next fetch asks the issuer's metadata again.
            self.discovered_uri.store(None);
        }
        fetched
    }

    async fn fetch_key_set(&self, uri: &Url) -> Result<Arc<Snapshot>, KeyFetchError> {
        let previous = self.current.load_full();
        let etag = previous.as_ref().and_then(|p| p.etag.clone());
        self.counters.count(Event::JwksFetch);
        let started = Instant::now();
        let span = tracing::debug_span!("bearer_guard.jwks_fetch", url = %uri);
        let fetched = self.get(uri, etag.as_deref()).instrument(span).await?;
        let ttl = self.freshness(fetched.cache_control.as_ref());
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

    /// The issuer's `max-age` within the configured bounds, else the default TTL.
    fn freshness(&self, cache_control: Option<&CacheControl>) -> Duration {
        let settings = &self.settings;
        match cache_control {
            Some(cc) if cc.no_store() || cc.no_cache() => settings.min_ttl,
            Some(cc) => cc.max_age().map_or(settings.ttl, |max_age| {
                max_age.clamp(settings.min_ttl, settings.max_ttl)
            }),
            None => settings.ttl,
        }
    }

    async fn jwks_uri(&self) -> Result<Url, KeyFetchError> {
        match &self.location {
            JwksLocation::Uri(uri) => Ok(uri.clone()),
            JwksLocation::Discover { issuer } => {
                if let Some(uri) = self.discovered_uri.load_full() {
                    return Ok((*uri).clone());
                }
                let uri = self.discover(issuer).await?;
                self.discovered_uri.store(Some(Arc::new(uri.clone())));
                Ok(uri)
            }
        }
    }

    /// OIDC discovery, then RFC 8414, then Auth0's `{issuer}/.well-known/jwks.json`. The
    /// fallback is taken only when the issuer said that neither metadata document exists
    /// (404 or 410 for both); any other failure (5xx, 429, HTML, a timeout) fails this fetch
    /// and is never remembered. A metadata document naming another issuer is an error (it is
    /// someone else's metadata), and so is one pointing a non-loopback issuer's key set at
    /// plain http.
    async fn discover(&self, issuer: &str) -> Result<Url, KeyFetchError> {
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            jwks_uri: String,
        }
        let issuer_url = Url::parse(issuer).map_err(|_| KeyFetchError::BadMetadata)?;
        for metadata_url in metadata_urls(issuer)? {
            self.counters.count(Event::DiscoveryFetch);
            match self.get(&metadata_url, None).await {
                Ok(Fetched {
                    body: Some(body), ..
                }) => {
                    let metadata: Metadata =
                        serde_json::from_slice(&body).map_err(|_| KeyFetchError::BadMetadata)?;
                    if metadata.issuer != issuer {
                        return Err(KeyFetchError::IssuerMismatch {
                            found: metadata.issuer,
                        });
                    }
                    let uri =
                        Url::parse(&metadata.jwks_uri).map_err(|_| KeyFetchError::BadMetadata)?;
                    if !is_allowed_discovered_url(&issuer_url, &uri) {
                        return Err(KeyFetchError::InsecureUrl(uri));
                    }
                    tracing::debug!(%metadata_url, jwks_uri = %uri, "bearer-guard: discovered the key set");
                    return Ok(uri);
                }
                Err(KeyFetchError::Status(404 | 410)) => continue,
                Ok(_) => return Err(KeyFetchError::BadMetadata),
                Err(other) => return Err(other),
            }
        }
        let base = issuer.trim_end_matches('/');
        Url::parse(&format!("{base}/.well-known/jwks.json")).map_err(|_| KeyFetchError::BadMetadata)
    }

    /// GET under the limits: an allowed URL, a total timeout, an answer from the origin that
    /// was asked, 2xx JSON only (or 304 to a conditional request), a body cap enforced while
    /// reading.
    async fn get(&self, url: &Url, etag: Option<&str>) -> Result<Fetched, KeyFetchError> {
        if !is_allowed_url(url) {
            return Err(KeyFetchError::InsecureUrl(url.clone()));
        }
        let limit = self.settings.max_body_bytes;
        let request = async {
            let transport =
                |e: reqwest::Error| KeyFetchError::Transport(e.without_url().to_string());
            let mut request = self
                .client
                .get(url.clone())
                .header(http::header::ACCEPT, "application/json");
            if let Some(etag) = etag {
                request = request.header(http::header::IF_NONE_MATCH, etag);
            }
            let mut response = request.send().await.map_err(transport)?;
            // The default client follows same-origin redirects only; a custom one may follow
            // any, so the origin of the answer is checked here for every client.
            let answered_from = response.url();
            if answered_from.origin() != url.origin() || !is_allowed_url(answered_from) {
                return Err(KeyFetchError::CrossOriginRedirect(answered_from.clone()));
            }
            let status = response.status();
            tracing::debug!(%url, status = status.as_u16(), "bearer-guard: issuer answered");
            let headers = response.headers();
            let cache_control = headers.typed_get::<CacheControl>();
            let etag_seen = headers
                .get(http::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if status == http::StatusCode::NOT_MODIFIED && etag.is_some() {
                return Ok(Fetched {
                    body: None,
                    cache_control,
                    etag: etag_seen,
                });
            }
            if !status.is_success() {
                return Err(KeyFetchError::Status(status.as_u16()));
            }
            if let Some(content_type) = headers.get(http::header::CONTENT_TYPE) {
                let essence = content_type
                    .to_str()
                    .unwrap_or("")
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if essence != "application/json" && !essence.ends_with("+json") {
                    return Err(KeyFetchError::NotJson(essence.chars().take(64).collect()));
                }
            }
            if response
                .content_length()
                .is_some_and(|len| len > limit as u64)
            {
                return Err(KeyFetchError::TooLarge(limit));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                if body.len() + chunk.len() > limit {
                    return Err(KeyFetchError::TooLarge(limit));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Fetched {
                body: Some(body),
                cache_control,
                etag: etag_seen,
            })
        };
        tokio::time::timeout(self.settings.timeout, request)
            .await
            .map_err(|_| KeyFetchError::Timeout(self.settings.timeout))?
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

/// What one GET brought back.
struct Fetched {
    /// `None` for a 304 to a conditional request.
    body: Option<Vec<u8>>,
    cache_control: Option<CacheControl>,
    etag: Option<String>,
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
        let Some(delay) = cache.upgrade().map(|c| c.next_refresh_in(failures)) else {
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

/// `start + duration`, saturating far in the future instead of overflowing.
fn later(start: Instant, duration: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    start.checked_add(duration.min(CENTURY)).unwrap_or(start)
}

/// A number in `[0, 1)` for jitter, from the standard library's randomly keyed hasher.
fn random_fraction() -> f64 {
    (RandomState::new().hash_one(0u8) >> 11) as f64 / (1u64 << 53) as f64
}

/// `https`, or `http` to a loopback host (for local issuers and tests).
pub(crate) fn is_allowed_url(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => is_loopback(url),
        _ => false,
    }
}

/// A key set URL found in the issuer's metadata: allowed like any URL, and plain http only
/// when the issuer itself is on a loopback host (an https issuer's metadata must not point
/// the server at a local plain-http port).
fn is_allowed_discovered_url(issuer: &Url, jwks_uri: &Url) -> bool {
    is_allowed_url(jwks_uri) && (jwks_uri.scheme() == "https" || is_loopback(issuer))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The OIDC discovery URL and the RFC 8414 one (which puts the issuer's path after the
/// well-known segment).
fn metadata_urls(issuer: &str) -> Result<[Url; 2], KeyFetchError> {
    let parsed = Url::parse(issuer).map_err(|_| KeyFetchError::BadMetadata)?;
    let base = issuer.trim_end_matches('/');
    let oidc = Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .map_err(|_| KeyFetchError::BadMetadata)?;
    let path = parsed.path().trim_end_matches('/');
    let mut rfc8414 = parsed.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    Ok([oidc, rfc8414])
}

/// Redirects only within the origin that was asked, and at most a few.
pub(crate) fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > 3 || !same_origin {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_oidc_and_rfc8414() {
        let [oidc, rfc] = metadata_urls("https://tenant.auth0.com/").unwrap();
        assert_eq!(
            oidc.as_str(),
            "https://tenant.auth0.com/.well-known/openid-configuration"
        );
        assert_eq!(
            rfc.as_str(),
            "https://tenant.auth0.com/.well-known/oauth-authorization-server"
        );
        let [oidc, rfc] = metadata_urls("https://idp.example/realms/main").unwrap();
        assert_eq!(
            oidc.as_str(),
            "https://idp.example/realms/main/.well-known/openid-configuration"
        );
        assert_eq!(
            rfc.as_str(),
            "https://idp.example/.well-known/oauth-authorization-server/realms/main"
        );
    }

    #[test]
    fn only_https_or_loopback_http() {
        let allowed = |u: &str| is_allowed_url(&Url::parse(u).unwrap());
        assert!(allowed("https://issuer.example/jwks"));
        assert!(allowed("http://127.0.0.1:8080/jwks"));
        assert!(allowed("http://localhost/jwks"));
        assert!(allowed("http://[::1]/jwks"));
        assert!(!allowed("http://issuer.example/jwks"));
        assert!(!allowed("http://127.0.0.1.nip.io/jwks"));
        assert!(!allowed("file:///etc/passwd"));
    }

    #[test]
    fn a_discovered_key_set_is_plain_http_only_for_a_loopback_issuer() {
        let url = |u: &str| Url::parse(u).unwrap();
        let https_issuer = url("https://tenant.example/");
        let loopback_issuer = url("http://127.0.0.1:8080/");
        let local_http = url("http://127.0.0.1:9000/keys");
        assert!(!is_allowed_discovered_url(&https_issuer, &local_http));
        assert!(is_allowed_discovered_url(&loopback_issuer, &local_http));
        assert!(is_allowed_discovered_url(
            &https_issuer,
            &url("https://keys.example/jwks")
        ));
        assert!(!is_allowed_discovered_url(
            &loopback_issuer,
            &url("http://keys.example/jwks")
        ));
    }

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
