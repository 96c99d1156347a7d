//! The API's side of RFC 7662: where the introspection endpoint is (given, or the issuer's
//! `introspection_endpoint`), how the API authenticates to it, and one POST under the same
//! limits as every request to the issuer (https except loopback, timeout, body cap, an
//! answer from the origin asked).

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use serde_json::{Map, Value};
use tracing::Instrument;

use super::response::{self, JWT_MEDIA_TYPE, ResponseKeys, Unreadable};
use crate::jwks::{Counters, Fetcher, KeyFetchError};
use crate::transport::{is_json, one_shot_body, send_bounded};
use crate::validate::{Rules, unix_now};

/// How the API authenticates to the introspection endpoint with its own client credentials
/// (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntrospectionAuth {
    /// HTTP Basic with the form-urlencoded client id and secret (`client_secret_basic`,
    /// the default; every server must support it).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    ClientSecretPost,
}

/// The API's own client credentials at the issuer. The secret never appears in `Debug`.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// Why an introspection call decided nothing (the request gets a 503; nothing is cached).
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CallFailed {
    /// Discovery, the transport, a timeout, a 5xx or another refused status, a body over
    /// the cap, a media type that is neither JSON nor a signed response.
    #[error("{0}")]
    Endpoint(KeyFetchError),
    /// 401 or 403: the endpoint refused the API's own credentials.
    #[error(
        "the introspection endpoint refused the API's own client credentials (HTTP {0}): \
         check the introspection client id and secret and the authentication method"
    )]
    CredentialsRefused(u16),
    #[error("{0}")]
    Unreadable(Unreadable),
    /// Too many tokens are being introspected at once.
    #[error("too many introspection calls are in flight")]
    Busy,
    /// The call never finished: its runtime shut down.
    #[error("the introspection call was interrupted")]
    Interrupted,
}

/// Where the endpoint is.
pub(crate) enum Endpoint {
    Given(Url),
    /// The issuer's metadata names it.
    Discovered,
}

/// Introspects tokens at one issuer.
pub(crate) struct Client {
    pub(crate) endpoint: Endpoint,
    pub(crate) credentials: Credentials,
    pub(crate) auth: IntrospectionAuth,
    /// The HTTP client, the limits and the issuer's metadata (shared with the key set).
    pub(crate) fetcher: Arc<Fetcher>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) keys: ResponseKeys,
    pub(crate) rules: Rules,
    /// Signed answers asked for, and required.
    pub(crate) signed_answers: bool,
}

impl Client {
    /// Asks the endpoint about `token` (`token_type_hint=access_token`); the response object,
    /// from a plain JSON answer or from a verified signed one.
    pub(crate) async fn introspect(&self, token: &str) -> Result<Map<String, Value>, CallFailed> {
        let url = self.endpoint().await.map_err(CallFailed::Endpoint)?;
        let signed = self.signed_answers;
        let (http, limits) = self.fetcher.client();
        let accept = if signed {
            JWT_MEDIA_TYPE
        } else {
            "application/json"
        };
        let mut request = http
            .post(url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, accept);
        let Credentials {
            client_id,
            client_secret,
        } = &self.credentials;
        let in_body = match self.auth {
            IntrospectionAuth::ClientSecretBasic => {
                request = request.header(AUTHORIZATION, basic(client_id, client_secret));
                None
            }
            IntrospectionAuth::ClientSecretPost => {
                Some((client_id.as_str(), client_secret.as_str()))
            }
        };
        let request = request.body(one_shot_body(form(token, in_body)));
        let span = tracing::debug_span!("bearer_guard.introspection", url = %url);
        let accepts = |media: &str| is_json(media) || media == JWT_MEDIA_TYPE;
        let answer = send_bounded(request, &url, limits, false, accepts)
            .instrument(span)
            .await
            .map_err(|error| match error {
                KeyFetchError::Status(code @ (401 | 403)) => CallFailed::CredentialsRefused(code),
                other => {
                    if matches!(self.endpoint, Endpoint::Discovered) {
                        // The endpoint may have moved: discover again next time.
                        self.fetcher.forget_metadata();
                    }
                    CallFailed::Endpoint(other)
                }
            })?;
        let body = answer.body.unwrap_or_default();
        let signed_media = answer.media_type == JWT_MEDIA_TYPE;
        let (keys, rules) = (&self.keys, &self.rules);
        response::read(
            &body,
            signed_media,
            signed,
            keys,
            rules,
            client_id,
            unix_now(),
        )
        .await
        .map_err(CallFailed::Unreadable)
    }

    /// The endpoint. (Whether to ask for signed answers is the API's setting, not the
    /// metadata's: an issuer that advertises them may still answer a client plain JSON, and
    /// an answer that may be plain protects nothing against whoever could strip a signature.)
    async fn endpoint(&self) -> Result<Url, KeyFetchError> {
        match &self.endpoint {
            Endpoint::Given(url) => Ok(url.clone()),
            Endpoint::Discovered => {
                let metadata = self.fetcher.metadata(&self.counters).await?;
                metadata
                    .introspection_endpoint
                    .clone()
                    .ok_or(KeyFetchError::NoIntrospectionEndpoint)
            }
        }
    }
}

/// The form body: the token, the hint, and the credentials for `client_secret_post`.
fn form(token: &str, credentials: Option<(&str, &str)>) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token);
    form.append_pair("token_type_hint", "access_token");
    if let Some((client_id, client_secret)) = credentials {
        form.append_pair("client_id", client_id);
        form.append_pair("client_secret", client_secret);
    }
    form.finish()
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1), marked sensitive
/// so that no HTTP debug output shows it.
fn basic(client_id: &str, client_secret: &str) -> HeaderValue {
    use base64::Engine;
    let encode =
        |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let pair: String = [encode(client_id), encode(client_secret)].join(":");
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value =
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap_or(HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_urlencoded_then_base64() {
        use base64::Engine;
        let value = basic("my client", "s+cr t:");
        let encoded = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, b"my+client:s%2Bcr+t%3A");
        assert!(value.is_sensitive());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let credentials = Credentials {
            client_id: "api".into(),
            client_secret: "s3cr3t".into(),
        };
        assert!(!format!("{credentials:?}").contains("s3cr3t"));
    }
}
