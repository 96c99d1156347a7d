//! The issuer's key set: discovery, fetching under limits, and a lock-free snapshot cache
//! that refreshes ahead of expiry, survives outages and resists hostile responses.
//!
//! Requests read the current [`Snapshot`] through an `ArcSwap` and never take a lock. A fetch
//! runs in its own task (so a cancelled request cannot cancel it) and is shared: every
//! request that needs it awaits the same one. A background task refreshes the key set before
//! its TTL ends; it holds only a weak reference and stops when the last `Validator` clone is
//! dropped. Bookkeeping sits behind a short `std` mutex that is never held across an `.await`.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
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
/// How many unknown `kid`s are remembered between key set changes.
const UNKNOWN_KID_MEMORY: usize = 1024;

/// One fetched key set and its freshness.
pub(crate) struct Snapshot {
    pub(crate) keys: Arc<KeySet>,
    fetched_at: Instant,
    fresh_until: Instant,
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
    /// A JWK set in which no key passed the key policy.
    #[error("the key set has no usable key")]
    NoUsableKeys,
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

#[derive(Default)]
struct Counters {
    jwks_fetches: AtomicU64,
    discovery_fetches: AtomicU64,
    failed_refreshes: AtomicU64,
    not_modified: AtomicU64,
    unknown_kid_refetches: AtomicU64,
    requests_waited: AtomicU64,
    stale_serves: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
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
    inflight: Option<SharedFetch>,
    last_attempt: Option<Instant>,
    /// Handed to the refresh task when it starts.
    refresher_stop: Option<oneshot::Receiver<()>>,
    /// `kid`s that were still unknown after the last refetch allowed, with when.
    unknown_kids: HashMap<Box<str>, Instant>,
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
    /// Dropped with the cache, which tells the refresh task to end.
    _stop_refresher: oneshot::Sender<()>,
}

impl JwksCache {
    pub(crate) fn new(
        location: JwksLocation,
        client: reqwest::Client,
        settings: CacheSettings,
        accepted_algs: Vec<Algorithm>,
    ) -> Self {
        let (stop, stopped) = oneshot::channel();
        JwksCache {
            location,
            client,
            settings,
            accepted_algs,
            current: ArcSwapOption::empty(),
            discovered_uri: ArcSwapOption::empty(),
            bookkeeping: Mutex::new(Bookkeeping {
                inflight: None,
                last_attempt: None,
                refresher_stop: Some(stopped),
                unknown_kids: HashMap::new(),
            }),
            counters: Counters::default(),
            _stop_refresher: stop,
        }
    }

    /// Runs `use_keys` on the current key set if it is still usable; never locks or waits.
    pub(crate) fn with_current<R>(&self, use_keys: impl FnOnce(&KeySet) -> R) -> Option<R> {
        let guard = self.current.load();
        let snapshot = guard.as_ref()?;
        let now = Instant::now();
        if now >= snapshot.usable_until {
            return None;
        }
        if now >= snapshot.fresh_until {
            bump(&self.counters.stale_serves);
        }
        Some(use_keys(&snapshot.keys))
    }

    fn usable_snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current
            .load_full()
            .filter(|snapshot| Instant::now() < snapshot.usable_until)
    }

    /// The freshest usable key set this cache can offer a request that could not be decided
    /// with the current one: no usable key set yet, or `unknown_kid` missing from it. A fetch
    /// is joined or started when the cooldown allows; otherwise the current set is returned.
    /// `Err` holds how long until a fetch may be tried again, when there is no key set.
    pub(crate) async fn refreshed(
        self: &Arc<Self>,
        unknown_kid: Option<&str>,
    ) -> Result<Arc<Snapshot>, Duration> {
        bump(&self.counters.requests_waited);
        let current = self.usable_snapshot();
        let reason = if current.is_some() {
            RefreshReason::UnknownKid
        } else {
            RefreshReason::Cold
        };
        let remembered = unknown_kid.is_some_and(|kid| self.recently_unknown(kid));
        if !(remembered && current.is_some()) {
            if let Some(fetch) = self.start_refresh(reason) {
                if let Ok(snapshot) = fetch.await {
                    return Ok(snapshot);
                }
            }
        }
        self.usable_snapshot().ok_or_else(|| self.retry_after())
    }

    /// Remembers that `kid` is not in the current key set, so that until the cooldown has
    /// passed or the key set changes, it costs no bookkeeping beyond a lookup.
    pub(crate) fn remember_unknown(&self, kid: &str) {
        let mut book = self.book();
        if book.unknown_kids.len() < UNKNOWN_KID_MEMORY {
            book.unknown_kids.insert(kid.into(), Instant::now());
        }
    }

    fn recently_unknown(&self, kid: &str) -> bool {
        let cooldown = self.settings.refetch_cooldown;
        self.book()
            .unknown_kids
            .get(kid)
            .is_some_and(|since| since.elapsed() < cooldown)
    }

    /// Fetches now (ignoring the cooldown) unless a fetch is already running, and waits.
    pub(crate) async fn warm_up(self: &Arc<Self>) -> Result<KeySetStatus, KeyFetchError> {
        if let Some(fetch) = self.start_refresh(RefreshReason::Scheduled) {
            fetch.await?;
        }
        self.status().ok_or(KeyFetchError::NoUsableKeys)
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

    /// Joins the fetch in flight, or starts one if the cooldown allows.
    fn start_refresh(self: &Arc<Self>, reason: RefreshReason) -> Option<SharedFetch> {
        let mut book = self.book();
        if let Some(fetch) = &book.inflight {
            return Some(fetch.clone());
        }
        let now = Instant::now();
        let cooling = book
            .last_attempt
            .is_some_and(|last| now.duration_since(last) < self.settings.refetch_cooldown);
        if cooling && reason != RefreshReason::Scheduled {
            tracing::debug!(?reason, "bearer-guard: refetch skipped, cooldown in effect");
            return None;
        }
        if reason == RefreshReason::UnknownKid {
            bump(&self.counters.unknown_kid_refetches);
        }
        book.last_attempt = Some(now);
        let cache = Arc::clone(self);
        let task = tokio::spawn(async move {
            let result = cache.fetch().await;
            if let Err(error) = &result {
                bump(&cache.counters.failed_refreshes);
                let stale = cache.current.load().is_some();
                tracing::warn!(%error, ?reason, keeping_previous = stale, "bearer-guard: key set refresh failed");
            }
            cache.book().inflight = None;
            result
        });
        let fetch = async move {
            task.await
                .unwrap_or_else(|_| Err(KeyFetchError::Transport("fetch task ended".into())))
        }
        .boxed()
        .shared();
        book.inflight = Some(fetch.clone());
        if let Some(stopped) = book.refresher_stop.take() {
            tokio::spawn(refresh_ahead(Arc::downgrade(self), stopped, fetch.clone()));
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
                let due = snapshot.fetched_at + snapshot.ttl.mul_f64(0.75 + 0.15 * jitter);
                due.saturating_duration_since(Instant::now())
            }
        }
    }

    pub(crate) fn stats(&self) -> KeyStats {
        let c = &self.counters;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        KeyStats {
            jwks_fetches: read(&c.jwks_fetches),
            discovery_fetches: read(&c.discovery_fetches),
            failed_refreshes: read(&c.failed_refreshes),
            not_modified: read(&c.not_modified),
            unknown_kid_refetches: read(&c.unknown_kid_refetches),
            requests_waited: read(&c.requests_waited),
            stale_serves: read(&c.stale_serves),
        }
    }

    async fn fetch(&self) -> Result<Arc<Snapshot>, KeyFetchError> {
        let uri = self.jwks_uri().await?;
        let previous = self.current.load_full();
        let etag = previous.as_ref().and_then(|p| p.etag.clone());
        bump(&self.counters.jwks_fetches);
        let started = Instant::now();
        let span = tracing::debug_span!("bearer_guard.jwks_fetch", url = %uri);
        let fetched = self.get(&uri, etag.as_deref()).instrument(span).await?;
        let ttl = self.freshness(fetched.cache_control.as_ref());
        let (keys, decision) = match (fetched.body, &previous) {
            (None, Some(previous)) => {
                bump(&self.counters.not_modified);
                (Arc::clone(&previous.keys), "not modified")
            }
            (None, None) => return Err(KeyFetchError::Status(304)),
            (Some(body), _) => {
                let (keys, skipped) =
                    KeySet::parse(&body, &self.accepted_algs, self.settings.max_keys)?;
                for (kid, reason) in &skipped {
                    tracing::warn!(kid = kid.as_deref().unwrap_or("-"), %reason, url = %uri, "bearer-guard: skipped a key of the key set");
                }
                if keys.len() == 0 {
                    return Err(KeyFetchError::NoUsableKeys);
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
            usable_until: later(fresh_until, self.settings.stale_if_error),
            ttl,
            etag: fetched.etag.or(etag),
        });
        self.current.store(Some(Arc::clone(&snapshot)));
        self.book().unknown_kids.clear();
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

    /// OIDC discovery, then RFC 8414, then Auth0's `{issuer}/.well-known/jwks.json`. A
    /// metadata document naming another issuer is an error (it is someone else's metadata);
    /// the fallback is taken only when both metadata URLs answered with an HTTP error.
    async fn discover(&self, issuer: &str) -> Result<Url, KeyFetchError> {
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            jwks_uri: String,
        }
        for metadata_url in metadata_urls(issuer)? {
            bump(&self.counters.discovery_fetches);
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
                    tracing::debug!(%metadata_url, jwks_uri = %uri, "bearer-guard: discovered the key set");
                    return Ok(uri);
                }
                Ok(_) | Err(KeyFetchError::Status(_) | KeyFetchError::NotJson(_)) => continue,
                Err(other) => return Err(other),
            }
        }
        let base = issuer.trim_end_matches('/');
        Url::parse(&format!("{base}/.well-known/jwks.json")).map_err(|_| KeyFetchError::BadMetadata)
    }

    /// GET under the limits: an allowed URL, a total timeout, 2xx JSON only (or 304 to a
    /// conditional request), a body cap enforced while reading.
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

/// What one GET brought back.
struct Fetched {
    /// `None` for a 304 to a conditional request.
    body: Option<Vec<u8>>,
    cache_control: Option<CacheControl>,
    etag: Option<String>,
}

/// Refreshes the key set ahead of its expiry until the cache is dropped. Starts with the
/// first fetch, so that its schedule follows from that fetch's outcome.
async fn refresh_ahead(
    cache: Weak<JwksCache>,
    mut stopped: oneshot::Receiver<()>,
    first: SharedFetch,
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
