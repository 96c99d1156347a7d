//! The transport policy of every request to the issuer: which URLs may be fetched, which
//! redirects followed, the default HTTP client, and [`send_bounded`], the one way a request
//! to the issuer is sent and its answer read under the limits. `config` checks configured
//! URLs with it; the key set fetch, discovery and token introspection send through it.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use reqwest::Url;

/// Why a discovery, key set or introspection request failed. For a key set, the previous
/// one, if any, stays in use. (Defined with the transport policy that produces most of
/// them; named [`jwks::KeyFetchError`](crate::jwks::KeyFetchError) in the public API.)
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
    /// Token introspection is configured without an endpoint, and the issuer's metadata
    /// names none (`introspection_endpoint`).
    #[error("the issuer's metadata names no introspection_endpoint")]
    NoIntrospectionEndpoint,
    /// The fetch never finished: the runtime that ran it shut down. The next request retries.
    #[error("the fetch was interrupted (its runtime shut down)")]
    Interrupted,
}

/// The limits of every request to the issuer.
#[derive(Debug, Clone)]
pub(crate) struct FetchLimits {
    pub(crate) timeout: Duration,
    pub(crate) max_body_bytes: usize,
}

/// A 2xx answer read whole under the limits (or a 304 to a conditional request).
pub(crate) struct Answer {
    pub(crate) headers: HeaderMap,
    /// The media type without parameters, in lower case (empty when none was sent).
    pub(crate) media_type: String,
    /// `None` for a 304 to a conditional request.
    pub(crate) body: Option<Vec<u8>>,
}

/// `application/json` or any `+json` media type.
pub(crate) fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// Sends `request` (to `url`) under the limits: an allowed URL, a total timeout, an answer
/// from the origin that was asked, a 2xx status (or 304 when `conditional`), a media type
/// that `accepts` takes (an answer without `Content-Type` is taken), and a body cap enforced
/// while reading.
pub(crate) async fn send_bounded(
    request: reqwest::RequestBuilder,
    url: &Url,
    limits: &FetchLimits,
    conditional: bool,
    accepts: fn(&str) -> bool,
) -> Result<Answer, KeyFetchError> {
    if !is_allowed_url(url) {
        return Err(KeyFetchError::InsecureUrl(url.clone()));
    }
    let limit = limits.max_body_bytes;
    let exchange = async {
        let transport = |e: reqwest::Error| KeyFetchError::Transport(e.without_url().to_string());
        let mut response = request.send().await.map_err(transport)?;
        // The default client follows same-origin redirects only; a custom one may follow
        // any, so the origin of the answer is checked here for every client.
        let answered_from = response.url();
        if answered_from.origin() != url.origin() || !is_allowed_url(answered_from) {
            return Err(KeyFetchError::CrossOriginRedirect(answered_from.clone()));
        }
        let status = response.status();
        tracing::debug!(%url, status = status.as_u16(), "bearer-guard: issuer answered");
        let headers = std::mem::take(response.headers_mut());
        if status == StatusCode::NOT_MODIFIED && conditional {
            return Ok(Answer {
                headers,
                media_type: String::new(),
                body: None,
            });
        }
        if !status.is_success() {
            return Err(KeyFetchError::Status(status.as_u16()));
        }
        let media_type = headers
            .get(http::header::CONTENT_TYPE)
            .map(|value| {
                value
                    .to_str()
                    .unwrap_or("")
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        if headers.contains_key(http::header::CONTENT_TYPE) && !accepts(&media_type) {
            return Err(KeyFetchError::NotJson(
                media_type.chars().take(64).collect(),
            ));
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
        Ok(Answer {
            headers,
            media_type,
            body: Some(body),
        })
    };
    tokio::time::timeout(limits.timeout, exchange)
        .await
        .map_err(|_| KeyFetchError::Timeout(limits.timeout))?
}

/// The body of a request that carries secrets (the token, the API's client credentials),
/// as one that can be sent only once. The redirect policy of a client given to
/// `http_client(...)` is out of the crate's sight (reqwest's `Client` does not expose it,
/// and a request cannot override it), and a 307 or 308 makes a following client re-send
/// the body to wherever `Location` points. A body the client cannot clone is never re-sent:
/// the client hands back the 307/308 itself, which is refused like any non-2xx answer.
/// (301, 302 and 303 turn the request into a GET without a body, and reqwest drops
/// `Authorization` when the origin changes; the answer of another origin is refused by
/// [`send_bounded`].)
pub(crate) fn one_shot_body(content: String) -> reqwest::Body {
    reqwest::Body::wrap(http_body_util::Full::new(bytes::Bytes::from(content)))
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
pub(crate) fn is_allowed_discovered_url(issuer: &Url, jwks_uri: &Url) -> bool {
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

/// Redirects only within the origin that was asked, and at most a few.
fn same_origin_redirects() -> reqwest::redirect::Policy {
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

/// The default HTTP client: same-origin redirects only, connect and total timeouts.
pub(crate) fn default_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(same_origin_redirects())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("bearer-guard/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
