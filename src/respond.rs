//! The one owner of "refusal -> HTTP response": the status of each [`AuthError`], its
//! RFC 6750 error code and `WWW-Authenticate` challenge (with the RFC 9728
//! `resource_metadata` parameter), `Retry-After`, the body an API may restyle
//! ([`ErrorBody`]), and the gRPC form of the same refusal. The layer, the route guards and the
//! axum extractors all answer through a [`Responder`], so they answer alike.
//!
//! `error.rs` says what went wrong; nothing here decides whether a request is refused.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

pub(crate) use crate::challenge::DpopChallenge;
use crate::error::AuthError;

impl AuthError {
    /// The HTTP status of the behaviour contract.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingToken | AuthError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            AuthError::RuleFailed {
                insufficient_scope: true,
                ..
            } => StatusCode::FORBIDDEN,
            AuthError::RuleFailed { .. } | AuthError::InsufficientUserAuthentication(_) => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::KeysUnavailable { .. }
            | AuthError::IntrospectionUnavailable { .. }
            | AuthError::ReplayStoreUnavailable { .. }
            | AuthError::NoRuntime => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::InvalidDpopProof(_) | AuthError::UseDpopNonce { .. } => {
                StatusCode::UNAUTHORIZED
            }
        }
    }

    /// The RFC 6750 error code, or `None` for a bare challenge.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingToken => None,
            AuthError::InvalidRequest(_) => Some("invalid_request"),
            AuthError::InvalidToken(_) => Some("invalid_token"),
            AuthError::InsufficientScope { .. }
            | AuthError::RuleFailed {
                insufficient_scope: true,
                ..
            } => Some("insufficient_scope"),
            AuthError::RuleFailed { .. } => Some("invalid_token"),
            AuthError::InsufficientUserAuthentication(_) => {
                Some("insufficient_user_authentication")
            }
            AuthError::KeysUnavailable { .. }
            | AuthError::IntrospectionUnavailable { .. }
            | AuthError::ReplayStoreUnavailable { .. }
            | AuthError::NoRuntime => Some("temporarily_unavailable"),
            AuthError::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            AuthError::UseDpopNonce { .. } => Some("use_dpop_nonce"),
        }
    }

    /// The response of the behaviour contract: status, challenge, `Retry-After` and a small
    /// JSON body `{"error": ..., "error_description": ...}`.
    pub fn to_response(&self) -> Response<Full<Bytes>> {
        Responder::default().respond(None, self)
    }
}

/// The body of a refusal, as an error hook makes it (see
/// [`ValidatorBuilder::error_body`](crate::ValidatorBuilder::error_body)).
#[derive(Debug, Clone)]
pub struct ErrorBody {
    content_type: HeaderValue,
    bytes: Bytes,
}

impl ErrorBody {
    /// A body of any media type.
    pub fn new(content_type: HeaderValue, bytes: impl Into<Bytes>) -> Self {
        ErrorBody {
            content_type,
            bytes: bytes.into(),
        }
    }

    /// An `application/json` body.
    pub fn json(value: &serde_json::Value) -> Self {
        Self::new(
            HeaderValue::from_static("application/json"),
            value.to_string(),
        )
    }

    /// An RFC 9457 `application/problem+json` body.
    pub fn problem_json(value: &serde_json::Value) -> Self {
        Self::new(
            HeaderValue::from_static("application/problem+json"),
            value.to_string(),
        )
    }

    /// The default body: `{"error": ..., "error_description": ...}`.
    pub fn standard(error: &AuthError) -> Self {
        Self::json(&serde_json::json!({
            "error": error.error_code().unwrap_or("unauthorized"),
            "error_description": error.description(),
        }))
    }
}

pub(crate) type BodyHook = dyn Fn(&AuthError) -> ErrorBody + Send + Sync;

/// How a validator's refusals are written. The layer leaves it in the request extensions so
/// that route guards and extractors answer alike.
#[derive(Clone, Default)]
pub(crate) struct Responder {
    realm: Option<Arc<str>>,
    /// Behind one thin pointer: a responder travels in every rejection, which stays small.
    advertised: Arc<Advertised>,
    body: Option<Arc<BodyHook>>,
    dpop: Option<DpopChallenge>,
}

/// Where and with which scopes a client gets a token, as the challenges say.
#[derive(Debug, Default, PartialEq, Eq)]
struct Advertised {
    /// `resource_metadata=`: the URL of the RFC 9728 document.
    resource_metadata: Option<Box<str>>,
    /// The `scope=` of 401 challenges: the scopes a client should start with.
    initial_scopes: Option<Box<str>>,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("realm", &self.realm)
            .field("resource_metadata", &self.advertised.resource_metadata)
            .field("initial_scopes", &self.advertised.initial_scopes)
            .field("custom_body", &self.body.is_some())
            .field("dpop", &self.dpop)
            .finish()
    }
}

impl Responder {
    pub(crate) fn new(
        realm: Option<&str>,
        resource_metadata: Option<&str>,
        initial_scopes: Option<&str>,
        body: Option<Arc<BodyHook>>,
        dpop: Option<DpopChallenge>,
    ) -> Self {
        Responder {
            realm: realm.map(Arc::from),
            advertised: Arc::new(Advertised {
                resource_metadata: resource_metadata.map(Box::from),
                initial_scopes: initial_scopes.map(Box::from),
            }),
            body,
            dpop,
        }
    }

    /// Whether it writes anything differently from the default.
    pub(crate) fn is_default(&self) -> bool {
        self.realm.is_none()
            && *self.advertised == Advertised::default()
            && self.body.is_none()
            && self.dpop.is_none()
    }

    /// The settings, by builder method, in which `other` writes refusals differently: the
    /// realm, the `resource_metadata` URL, the error body hook (the same hook, shared by
    /// clones of one builder). The DPoP challenge, which follows each issuer's DPoP
    /// settings, is left aside.
    pub(crate) fn differences(&self, other: &Responder) -> Vec<&'static str> {
        let same_hook = match (&self.body, &other.body) {
            (None, None) => true,
            (Some(mine), Some(theirs)) => Arc::ptr_eq(mine, theirs),
            _ => false,
        };
        [
            ("realm", self.realm == other.realm),
            (
                "resource_metadata",
                self.advertised.resource_metadata == other.advertised.resource_metadata,
            ),
            (
                "initial_scopes",
                self.advertised.initial_scopes == other.advertised.initial_scopes,
            ),
            ("error_body", same_hook),
        ]
        .into_iter()
        .filter_map(|(setting, same)| (!same).then_some(setting))
        .collect()
    }

    /// This responder with another DPoP challenge: that of several issuers combined.
    pub(crate) fn with_dpop(&self, dpop: Option<DpopChallenge>) -> Responder {
        Responder {
            dpop,
            ..self.clone()
        }
    }

    /// The responder the layer left on a request, if any.
    pub(crate) fn of(extensions: &http::Extensions) -> Option<&Responder> {
        extensions.get::<Responder>()
    }

    /// This responder with another realm, when one is given.
    pub(crate) fn with_realm(&self, realm: Option<&str>) -> Responder {
        match realm {
            None => self.clone(),
            Some(realm) => Responder {
                realm: Some(realm.into()),
                ..self.clone()
            },
        }
    }

    /// The response to a request for `path` with these headers: a gRPC status for gRPC
    /// requests (which read any HTTP error as a broken stream), the HTTP response otherwise.
    /// The path is for the log line only (never the query, which may carry the token).
    pub(crate) fn respond_to(
        &self,
        path: &str,
        request: &http::HeaderMap,
        error: &AuthError,
    ) -> Response<Full<Bytes>> {
        let grpc = request
            .get(header::CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"));
        let dpop_request = request
            .get(header::AUTHORIZATION)
            .and_then(|value| value.as_bytes().get(..5))
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"dpop "));
        if grpc {
            self.grpc(Some(path), error, dpop_request)
        } else {
            self.write(Some(path), error, dpop_request)
        }
    }

    /// A trailers-only gRPC response (HTTP 200, `grpc-status`, `grpc-message`), with the
    /// same `WWW-Authenticate` and `Retry-After` as the HTTP refusal.
    fn grpc(
        &self,
        path: Option<&str>,
        error: &AuthError,
        dpop_request: bool,
    ) -> Response<Full<Bytes>> {
        let code: u16 = match error.status().as_u16() {
            400 => 3,  // INVALID_ARGUMENT
            403 => 7,  // PERMISSION_DENIED
            503 => 14, // UNAVAILABLE
            _ => 16,   // UNAUTHENTICATED
        };
        let mut response = self
            .write(path, error, dpop_request)
            .map(|_| Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert("grpc-status", HeaderValue::from(code));
        if let Ok(message) = HeaderValue::from_str(&grpc_message(&error.description())) {
            headers.insert("grpc-message", message);
        }
        response
    }

    /// The response to a request for `path` (if known: [`AuthError::to_response`] has no
    /// request) that did not use the `DPoP` scheme.
    pub(crate) fn respond(&self, path: Option<&str>, error: &AuthError) -> Response<Full<Bytes>> {
        self.write(path, error, false)
    }

    /// The response: the hook may choose the body, never the status or the challenges. Every
    /// refusal passes here, so here it is counted and logged.
    fn write(
        &self,
        path: Option<&str>,
        error: &AuthError,
        dpop_request: bool,
    ) -> Response<Full<Bytes>> {
        crate::telemetry::request_refused(path, error);
        let body = match &self.body {
            Some(hook) => hook(error),
            None => ErrorBody::standard(error),
        };
        let mut response = Response::new(Full::new(body.bytes));
        *response.status_mut() = error.status();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, body.content_type);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for challenge in error.challenges(
            self.realm.as_deref(),
            self.advertised.resource_metadata.as_deref(),
            self.advertised.initial_scopes.as_deref(),
            self.dpop.as_ref(),
            dpop_request,
        ) {
            headers.append(header::WWW_AUTHENTICATE, challenge);
        }
        if let AuthError::KeysUnavailable { retry_after }
        | AuthError::IntrospectionUnavailable { retry_after }
        | AuthError::ReplayStoreUnavailable { retry_after } = error
        {
            let seconds = retry_after.as_secs().max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let AuthError::UseDpopNonce { nonce } = error
            && let Ok(nonce) = HeaderValue::from_str(nonce)
        {
            headers.insert("dpop-nonce", nonce);
        }
        response
    }
}

/// Percent-encodes a `grpc-message` (gRPC over HTTP/2: printable ASCII except `%` as is).
fn grpc_message(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::{StepUp, TokenProblem};

    #[test]
    fn grpc_requests_get_a_grpc_status_with_the_same_challenge() {
        let mut request = http::HeaderMap::new();
        request.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        let error = AuthError::InvalidToken(TokenProblem::Expired);
        let response = Responder::default().respond_to("/", &request, &error);
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "16");
        assert_eq!(response.headers()["grpc-message"], "the token has expired");
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            error.challenge(None).unwrap()
        );
        let forbidden = AuthError::InsufficientScope {
            required: "a".into(),
        };
        let response = Responder::default().respond_to("/", &request, &forbidden);
        assert_eq!(response.headers()["grpc-status"], "7");
    }

    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(grpc_message("100% sure\n"), "100%25 sure%0A");
        assert_eq!(grpc_message("é"), "%C3%A9");
    }

    #[test]
    fn missing_token_is_a_bare_challenge() {
        let challenge = AuthError::MissingToken.challenge(None).unwrap();
        assert_eq!(challenge, "Bearer");
        let with_realm = AuthError::MissingToken.challenge(Some("api")).unwrap();
        assert_eq!(with_realm, "Bearer realm=\"api\"");
    }
    #[test]
    fn insufficient_scope_names_the_scopes() {
        let error = AuthError::InsufficientScope {
            required: "read:messages".into(),
        };
        let challenge = error.challenge(None).unwrap();
        let text = challenge.to_str().unwrap();
        assert!(
            text.starts_with("Bearer error=\"insufficient_scope\""),
            "{text}"
        );
        assert!(text.ends_with("scope=\"read:messages\""), "{text}");
    }
    #[test]
    fn insufficient_user_authentication_is_the_rfc_9470_challenge() {
        let error = AuthError::InsufficientUserAuthentication(Box::new(StepUp {
            description: "a more recent authentication is required",
            acr_values: Some("urn:a urn:b".into()),
            max_age: Some(300),
        }));
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            error.challenge(Some("api")).unwrap(),
            "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
             error_description=\"a more recent authentication is required\", \
             acr_values=\"urn:a urn:b\", max_age=\"300\""
        );
    }

    #[test]
    fn keys_unavailable_has_retry_after_and_no_challenge() {
        let error = AuthError::KeysUnavailable {
            retry_after: Duration::from_millis(10),
        };
        let response = error.to_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
        assert!(
            !response
                .headers()
                .contains_key(http::header::WWW_AUTHENTICATE)
        );
    }
}
