//! Fetching the key set: discovery of its URL from the issuer's metadata, and a GET under
//! the limits (allowed URLs only, a total timeout, an answer from the origin asked, JSON
//! only, a body cap enforced while reading). Nothing here is cached but the discovered URL.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use headers::{CacheControl, HeaderMapExt};
use reqwest::Url;
use serde::Deserialize;
use tracing::Instrument;

use super::stats::{Counters, Event};
use crate::keys::KeySetRejected;
use crate::transport::{is_allowed_discovered_url, is_allowed_url};

/// Where the key set comes from.
#[derive(Debug, Clone)]
pub(crate) enum JwksLocation {
    /// Found through the issuer's metadata (OIDC discovery, then RFC 8414, then
    /// `{issuer}/.well-known/jwks.json`).
    Discover { issuer: String },
    /// A `jwks_uri` given in the configuration.
    Uri(Url),
}

/// The limits of every request to the issuer.
#[derive(Debug, Clone)]
pub(crate) struct FetchLimits {
    pub(crate) timeout: Duration,
    pub(crate) max_body_bytes: usize,
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

/// Fetches the key set document from where it lives, discovering that place when needed.
pub(crate) struct Fetcher {
    location: JwksLocation,
    client: reqwest::Client,
    limits: FetchLimits,
    discovered_uri: ArcSwapOption<Url>,
}

/// What one GET brought back.
pub(crate) struct Fetched {
    /// `None` for a 304 to a conditional request.
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) cache_control: Option<CacheControl>,
    pub(crate) etag: Option<String>,
    /// The key set URL that answered.
    pub(crate) url: Url,
}

impl Fetcher {
    pub(crate) fn new(
        location: JwksLocation,
        client: reqwest::Client,
        limits: FetchLimits,
    ) -> Self {
        Fetcher {
            location,
            client,
            limits,
            discovered_uri: ArcSwapOption::empty(),
        }
    }

    /// GETs the key set, conditionally on `etag`; a failure at a discovered URL makes the
    /// next fetch discover again (the key set may have moved).
    pub(crate) async fn key_set(
        &self,
        etag: Option<&str>,
        counters: &Counters,
    ) -> Result<Fetched, KeyFetchError> {
        let uri = self.jwks_uri(counters).await?;
        counters.count(Event::JwksFetch);
        let span = tracing::debug_span!("bearer_guard.jwks_fetch", url = %uri);
        let fetched = self.get(&uri, etag).instrument(span).await;
        if fetched.is_err() && matches!(self.location, JwksLocation::Discover { .. }) {
            self.discovered_uri.store(None);
        }
        fetched
    }

    async fn jwks_uri(&self, counters: &Counters) -> Result<Url, KeyFetchError> {
        match &self.location {
            JwksLocation::Uri(uri) => Ok(uri.clone()),
            JwksLocation::Discover { issuer } => {
                if let Some(uri) = self.discovered_uri.load_full() {
                    return Ok((*uri).clone());
                }
                let uri = self.discover(issuer, counters).await?;
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
    async fn discover(&self, issuer: &str, counters: &Counters) -> Result<Url, KeyFetchError> {
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            jwks_uri: String,
        }
        let issuer_url = Url::parse(issuer).map_err(|_| KeyFetchError::BadMetadata)?;
        for metadata_url in metadata_urls(issuer)? {
            counters.count(Event::DiscoveryFetch);
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
        let limit = self.limits.max_body_bytes;
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
                    url: url.clone(),
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
                url: url.clone(),
            })
        };
        tokio::time::timeout(self.limits.timeout, request)
            .await
            .map_err(|_| KeyFetchError::Timeout(self.limits.timeout))?
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
}
