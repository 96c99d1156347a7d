//! Fetching the key set: discovery of its URL (and of the introspection endpoint) from the
//! issuer's metadata, and a GET under the limits (allowed URLs only, a total timeout, an
//! answer from the origin asked, JSON only, a body cap enforced while reading). Nothing here
//! is cached but the discovered metadata.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use headers::{CacheControl, HeaderMapExt};
use reqwest::Url;
use serde::Deserialize;
use tracing::Instrument;

use super::stats::{Counters, Event};
use crate::keys::KeySetRejected;
pub(crate) use crate::transport::FetchLimits;
pub use crate::transport::KeyFetchError;
use crate::transport::{is_allowed_discovered_url, is_json, send_bounded};

/// Where the key set comes from.
#[derive(Debug, Clone)]
pub(crate) enum JwksLocation {
    /// Found through the issuer's metadata (OIDC discovery, then RFC 8414, then
    /// `{issuer}/.well-known/jwks.json`).
    Discover,
    /// A `jwks_uri` given in the configuration.
    Uri(Url),
}

impl From<KeySetRejected> for KeyFetchError {
    fn from(rejected: KeySetRejected) -> Self {
        KeyFetchError::KeySet(rejected.to_string())
    }
}

/// Fetches the key set document from where it lives, discovering that place when needed;
/// and the issuer's metadata, which also names its introspection endpoint.
pub(crate) struct Fetcher {
    issuer: String,
    location: JwksLocation,
    client: reqwest::Client,
    limits: FetchLimits,
    discovered: ArcSwapOption<Discovered>,
    /// Held while discovering, so that concurrent requests share one discovery.
    discovering: tokio::sync::Mutex<()>,
}

/// What the issuer's metadata says (or the Auth0 fallback, when it has none).
#[derive(Debug)]
pub(crate) struct Discovered {
    /// `jwks_uri` (`None`: the metadata names no key set).
    jwks_uri: Option<Url>,
    /// `introspection_endpoint` (RFC 8414).
    pub(crate) introspection_endpoint: Option<Url>,
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
        issuer: &str,
        location: JwksLocation,
        client: reqwest::Client,
        limits: FetchLimits,
    ) -> Self {
        Fetcher {
            issuer: issuer.to_owned(),
            location,
            client,
            limits,
            discovered: ArcSwapOption::empty(),
            discovering: tokio::sync::Mutex::new(()),
        }
    }

    /// The HTTP client and the limits of every request to the issuer.
    pub(crate) fn client(&self) -> (&reqwest::Client, &FetchLimits) {
        (&self.client, &self.limits)
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
        if fetched.is_err() && matches!(self.location, JwksLocation::Discover) {
            self.forget_metadata();
        }
        fetched
    }

    async fn jwks_uri(&self, counters: &Counters) -> Result<Url, KeyFetchError> {
        match &self.location {
            JwksLocation::Uri(uri) => Ok(uri.clone()),
            JwksLocation::Discover => self
                .metadata(counters)
                .await?
                .jwks_uri
                .clone()
                .ok_or(KeyFetchError::BadMetadata),
        }
    }

    /// The issuer's metadata, discovered once and then remembered until a request to an
    /// endpoint it named fails.
    pub(crate) async fn metadata(
        &self,
        counters: &Counters,
    ) -> Result<Arc<Discovered>, KeyFetchError> {
        if let Some(known) = self.discovered.load_full() {
            return Ok(known);
        }
        let _discovering = self.discovering.lock().await;
        if let Some(known) = self.discovered.load_full() {
            return Ok(known);
        }
        let discovered = Arc::new(self.discover(&self.issuer, counters).await?);
        self.discovered.store(Some(Arc::clone(&discovered)));
        Ok(discovered)
    }

    /// Forgets the discovered metadata: the next request discovers again.
    pub(crate) fn forget_metadata(&self) {
        self.discovered.store(None);
    }

    /// OIDC discovery, then RFC 8414, then Auth0's `{issuer}/.well-known/jwks.json`. The
    /// fallback is taken only when the issuer said that neither metadata document exists
    /// (404 or 410 for both); any other failure (5xx, 429, HTML, a timeout) fails this fetch
    /// and is never remembered. A metadata document naming another issuer is an error (it is
    /// someone else's metadata), and so is one pointing a non-loopback issuer's key set or
    /// introspection endpoint at plain http.
    async fn discover(
        &self,
        issuer: &str,
        counters: &Counters,
    ) -> Result<Discovered, KeyFetchError> {
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            jwks_uri: Option<String>,
            introspection_endpoint: Option<String>,
        }
        let issuer_url = Url::parse(issuer).map_err(|_| KeyFetchError::BadMetadata)?;
        let named = |raw: Option<String>| -> Result<Option<Url>, KeyFetchError> {
            let Some(raw) = raw else { return Ok(None) };
            let uri = Url::parse(&raw).map_err(|_| KeyFetchError::BadMetadata)?;
            if !is_allowed_discovered_url(&issuer_url, &uri) {
                return Err(KeyFetchError::InsecureUrl(uri));
            }
            Ok(Some(uri))
        };
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
                    let discovered = Discovered {
                        jwks_uri: named(metadata.jwks_uri)?,
                        introspection_endpoint: named(metadata.introspection_endpoint)?,
                    };
                    tracing::debug!(%metadata_url, ?discovered, "bearer-guard: discovered the issuer's metadata");
                    return Ok(discovered);
                }
                Err(KeyFetchError::Status(404 | 410)) => continue,
                Ok(_) => return Err(KeyFetchError::BadMetadata),
                Err(other) => return Err(other),
            }
        }
        Ok(Discovered {
            jwks_uri: Some(fallback_jwks_url(issuer)?),
            introspection_endpoint: None,
        })
    }

    /// GET under the limits ([`send_bounded`]), JSON only, conditionally on `etag`.
    async fn get(&self, url: &Url, etag: Option<&str>) -> Result<Fetched, KeyFetchError> {
        let mut request = self
            .client
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json");
        if let Some(etag) = etag {
            request = request.header(http::header::IF_NONE_MATCH, etag);
        }
        let answer = send_bounded(request, url, &self.limits, etag.is_some(), is_json).await?;
        Ok(Fetched {
            cache_control: answer.headers.typed_get::<CacheControl>(),
            etag: answer
                .headers
                .get(http::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: answer.body,
            url: url.clone(),
        })
    }
}

/// The OIDC discovery URL and the RFC 8414 one (which puts the issuer's path after the
/// well-known segment).
pub(super) fn metadata_urls(issuer: &str) -> Result<[Url; 2], KeyFetchError> {
    let parsed = Url::parse(issuer).map_err(|_| KeyFetchError::BadMetadata)?;
    let base = issuer.trim_end_matches('/');
    let oidc = Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .map_err(|_| KeyFetchError::BadMetadata)?;
    let path = parsed.path().trim_end_matches('/');
    let mut rfc8414 = parsed.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    Ok([oidc, rfc8414])
}

/// Auth0's key set URL, `{issuer}/.well-known/jwks.json`: the key set of an issuer that
/// publishes neither metadata document.
pub(super) fn fallback_jwks_url(issuer: &str) -> Result<Url, KeyFetchError> {
    let base = issuer.trim_end_matches('/');
    Url::parse(&format!("{base}/.well-known/jwks.json")).map_err(|_| KeyFetchError::BadMetadata)
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
