//! The issuer's key set: discovery, fetching under limits, and a lock-free snapshot cache.
//!
//! Requests read the current [`Snapshot`] through an `ArcSwap` and never take a lock. A
//! fetch runs in its own task (so a cancelled request cannot cancel it) and is shared:
//! every request that needs it awaits the same one. Bookkeeping sits behind a short `std`
//! mutex that is never held across an `.await`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwapOption, Guard};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use jsonwebtoken::Algorithm;
use reqwest::Url;
use serde::Deserialize;

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
    pub(crate) ttl: Duration,
    pub(crate) refetch_cooldown: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_keys: usize,
}

/// One fetched key set and when it stops being fresh.
pub(crate) struct Snapshot {
    pub(crate) keys: KeySet,
    pub(crate) expires_at: Instant,
}

/// Why a fetch failed. Logged; the previous key set, if any, stays in use.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("{0} is neither https nor a loopback http URL")]
    InsecureUrl(Url),
    #[error("request failed: {0}")]
    Transport(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("content type {0:?} is not JSON")]
    NotJson(String),
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    #[error("metadata is not a JSON object with `issuer` and `jwks_uri`")]
    BadMetadata,
    #[error("metadata names issuer {found:?}, not the configured one")]
    IssuerMismatch { found: String },
    #[error(transparent)]
    KeySet(#[from] KeySetRejected),
    #[error("the key set has no usable key")]
    NoUsableKeys,
}

type SharedFetch = Shared<BoxFuture<'static, Result<Arc<Snapshot>, FetchError>>>;

/// Counters of what the cache did, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStats {
    /// Requests for the key set document.
    pub jwks_fetches: u64,
    /// Requests for issuer metadata (OIDC discovery and RFC 8414).
    pub discovery_fetches: u64,
    /// Key set refreshes that failed.
    pub failed_refreshes: u64,
    /// Refreshes started because a token named an unknown `kid`.
    pub unknown_kid_refetches: u64,
}

#[derive(Default)]
struct Counters {
    jwks_fetches: AtomicU64,
    discovery_fetches: AtomicU64,
    failed_refreshes: AtomicU64,
    unknown_kid_refetches: AtomicU64,
}

#[derive(Default)]
struct Bookkeeping {
    inflight: Option<SharedFetch>,
    last_attempt: Option<Instant>,
}

/// Why a refresh is wanted: it decides whether the cooldown applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshReason {
    /// No key set yet.
    Cold,
    /// A token names a `kid` the snapshot lacks.
    UnknownKid,
    /// The snapshot's TTL has passed.
    Expired,
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
}

impl JwksCache {
    pub(crate) fn new(
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
            bookkeeping: Mutex::default(),
            counters: Counters::default(),
        }
    }

    /// The current snapshot, without a lock. When it has expired, a refresh starts in the
    /// background and the stale snapshot keeps serving until the new one lands.
    pub(crate) fn current(self: &Arc<Self>) -> Guard<Option<Arc<Snapshot>>> {
        let snapshot = self.current.load();
        if let Some(snapshot) = snapshot.as_ref() {
            if Instant::now() >= snapshot.expires_at {
                // The shared fetch runs in its own task; nobody needs to await it here.
                drop(self.start_refresh(RefreshReason::Expired));
            }
        }
        snapshot
    }

    /// The freshest key set this cache can offer for `reason`: a fetch is started or joined
    /// when one is allowed, otherwise the current snapshot is returned as it is. `Err` holds
    /// how long until a fetch may be tried again, when there is no key set at all.
    pub(crate) async fn refreshed(
        self: &Arc<Self>,
        reason: RefreshReason,
    ) -> Result<Arc<Snapshot>, Duration> {
        if let Some(fetch) = self.start_refresh(reason) {
            if let Ok(snapshot) = fetch.await {
                return Ok(snapshot);
            }
        }
        self.current.load_full().ok_or_else(|| self.retry_after())
    }

    /// Joins the fetch in flight, or starts one if the cooldown allows.
    fn start_refresh(self: &Arc<Self>, reason: RefreshReason) -> Option<SharedFetch> {
        let mut book = self
            .bookkeeping
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(fetch) = &book.inflight {
            return Some(fetch.clone());
        }
        let now = Instant::now();
        if let Some(last) = book.last_attempt {
            let wait = match reason {
                RefreshReason::Expired => self.settings.refetch_cooldown.min(self.settings.ttl),
                RefreshReason::Cold | RefreshReason::UnknownKid => self.settings.refetch_cooldown,
            };
            if now.duration_since(last) < wait {
                return None;
            }
        }
        if reason == RefreshReason::UnknownKid {
            self.counters
                .unknown_kid_refetches
                .fetch_add(1, Ordering::Relaxed);
        }
        book.last_attempt = Some(now);
        let cache = Arc::clone(self);
        let task = tokio::spawn(async move {
            let result = cache.fetch().await;
            if let Err(error) = &result {
                cache
                    .counters
                    .failed_refreshes
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, ?reason, "bearer-guard: key set refresh failed; keeping the previous key set");
            }
            cache
                .bookkeeping
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .inflight = None;
            result
        });
        let fetch = async move {
            task.await
                .unwrap_or_else(|_| Err(FetchError::Transport("fetch task ended".into())))
        }
        .boxed()
        .shared();
        book.inflight = Some(fetch.clone());
        Some(fetch)
    }

    /// How long until the cooldown lets another fetch start.
    fn retry_after(&self) -> Duration {
        let book = self
            .bookkeeping
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let elapsed = book.last_attempt.map_or(Duration::MAX, |last| last.elapsed());
        self.settings
            .refetch_cooldown
            .saturating_sub(elapsed)
            .max(Duration::from_secs(1))
    }

    pub(crate) fn stats(&self) -> KeyStats {
        let c = &self.counters;
        KeyStats {
            jwks_fetches: c.jwks_fetches.load(Ordering::Relaxed),
            discovery_fetches: c.discovery_fetches.load(Ordering::Relaxed),
            failed_refreshes: c.failed_refreshes.load(Ordering::Relaxed),
            unknown_kid_refetches: c.unknown_kid_refetches.load(Ordering::Relaxed),
        }
    }

    async fn fetch(&self) -> Result<Arc<Snapshot>, FetchError> {
        let uri = self.jwks_uri().await?;
        self.counters.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let body = self.get(&uri).await?;
        let (keys, skipped) = KeySet::parse(&body, &self.accepted_algs, self.settings.max_keys)?;
        for (kid, reason) in &skipped {
            tracing::warn!(kid = kid.as_deref().unwrap_or("-"), %reason, url = %uri, "bearer-guard: skipped a key of the key set");
        }
        if keys.len() == 0 {
            return Err(FetchError::NoUsableKeys);
        }
        tracing::debug!(url = %uri, keys = keys.len(), skipped = skipped.len(), elapsed = ?started.elapsed(), "bearer-guard: key set fetched");
        let snapshot = Arc::new(Snapshot {
            keys,
            expires_at: Instant::now() + self.settings.ttl,
        });
        self.current.store(Some(Arc::clone(&snapshot)));
        Ok(snapshot)
    }

    async fn jwks_uri(&self) -> Result<Url, FetchError> {
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
    async fn discover(&self, issuer: &str) -> Result<Url, FetchError> {
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            jwks_uri: String,
        }
        let invalid = |_| FetchError::BadMetadata;
        for metadata_url in metadata_urls(issuer)? {
            self.counters
                .discovery_fetches
                .fetch_add(1, Ordering::Relaxed);
            match self.get(&metadata_url).await {
                Ok(body) => {
                    let metadata: Metadata = serde_json::from_slice(&body).map_err(invalid)?;
                    if metadata.issuer != issuer {
                        return Err(FetchError::IssuerMismatch {
                            found: metadata.issuer,
                        });
                    }
                    let uri = Url::parse(&metadata.jwks_uri).map_err(|_| FetchError::BadMetadata)?;
                    tracing::debug!(%metadata_url, jwks_uri = %uri, "bearer-guard: discovered the key set");
                    return Ok(uri);
                }
                Err(FetchError::Status(_) | FetchError::NotJson(_)) => continue,
                Err(other) => return Err(other),
            }
        }
        let base = issuer.trim_end_matches('/');
        Url::parse(&format!("{base}/.well-known/jwks.json")).map_err(|_| FetchError::BadMetadata)
    }

    /// GET under the limits: an allowed URL, a total timeout, 2xx JSON only, a body cap.
    async fn get(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        if !is_allowed_url(url) {
            return Err(FetchError::InsecureUrl(url.clone()));
        }
        let limit = self.settings.max_body_bytes;
        let request = async {
            let transport = |e: reqwest::Error| FetchError::Transport(e.without_url().to_string());
            let mut response = self
                .client
                .get(url.clone())
                .header(http::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(transport)?;
            if !response.status().is_success() {
                return Err(FetchError::Status(response.status().as_u16()));
            }
            if let Some(content_type) = response.headers().get(http::header::CONTENT_TYPE) {
                let content_type = content_type.to_str().unwrap_or("");
                let essence = content_type.split(';').next().unwrap_or("").trim();
                if !(essence.eq_ignore_ascii_case("application/json")
                    || essence.to_ascii_lowercase().ends_with("+json"))
                {
                    return Err(FetchError::NotJson(essence.chars().take(64).collect()));
                }
            }
            if response.content_length().is_some_and(|len| len > limit as u64) {
                return Err(FetchError::TooLarge(limit));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                if body.len() + chunk.len() > limit {
                    return Err(FetchError::TooLarge(limit));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        tokio::time::timeout(self.settings.timeout, request)
            .await
            .map_err(|_| FetchError::Timeout(self.settings.timeout))?
    }
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
fn metadata_urls(issuer: &str) -> Result<[Url; 2], FetchError> {
    let parsed = Url::parse(issuer).map_err(|_| FetchError::BadMetadata)?;
    let base = issuer.trim_end_matches('/');
    let oidc = format!("{base}/.well-known/openid-configuration");
    let path = parsed.path().trim_end_matches('/');
    let mut rfc8414 = parsed.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    Ok([
        Url::parse(&oidc).map_err(|_| FetchError::BadMetadata)?,
        rfc8414,
    ])
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
        assert_eq!(oidc.as_str(), "https://tenant.auth0.com/.well-known/openid-configuration");
        assert_eq!(rfc.as_str(), "https://tenant.auth0.com/.well-known/oauth-authorization-server");
        let [oidc, rfc] = metadata_urls("https://idp.example/realms/main").unwrap();
        assert_eq!(oidc.as_str(), "https://idp.example/realms/main/.well-known/openid-configuration");
        assert_eq!(rfc.as_str(), "https://idp.example/.well-known/oauth-authorization-server/realms/main");
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
}
