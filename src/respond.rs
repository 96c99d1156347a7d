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
            AuthError::RuleFailed { .. } => StatusCode::UNAUTHORIZED,
            AuthError::KeysUnavailable { .. } | AuthError::ReplayStoreUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
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
            AuthError::KeysUnavailable { .. } | AuthError::ReplayStoreUnavailable { .. } => {
                Some("temporarily_unavailable")
            }
            AuthError::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            AuthError::UseDpopNonce { .. } => Some("use_dpop_nonce"),
        }
    }

    /// The `WWW-Authenticate` value, or `None` for a 503 (which is not an auth challenge): a
    /// `Bearer` challenge, or a `DPoP` one for a refused DPoP proof.
    pub fn challenge(&self, realm: Option<&str>) -> Option<HeaderValue> {
        let scheme = if self.is_about_the_proof() {
            "DPoP"
        } else {
            "Bearer"
        };
        render(scheme, &self.challenge_params(realm)?)
    }

    /// Whether the refusal concerns the DPoP proof (its challenge is then the `DPoP` one).
    fn is_about_the_proof(&self) -> bool {
        matches!(
            self,
            AuthError::InvalidDpopProof(_) | AuthError::UseDpopNonce { .. }
        )
    }

    /// `realm` (if any), then the error parameters; `None` for a 503.
    fn challenge_params(&self, realm: Option<&str>) -> Option<Vec<(&'static str, String)>> {
        let mut params: Vec<(&'static str, String)> = Vec::new();
        if let Some(realm) = realm {
            params.push(("realm", realm.to_owned()));
        }
        match self {
            AuthError::MissingToken => {}
            AuthError::KeysUnavailable { .. } | AuthError::ReplayStoreUnavailable { .. } => {
                return None;
            }
            AuthError::InsufficientScope { required } => {
                params.push(("error", "insufficient_scope".to_owned()));
                params.push(("error_description", self.description()));
                params.push(("scope", required.clone()));
            }
            AuthError::InvalidRequest(_)
            | AuthError::InvalidToken(_)
            | AuthError::RuleFailed { .. }
            | AuthError::InvalidDpopProof(_)
            | AuthError::UseDpopNonce { .. } => {
                params.push(("error", self.error_code()?.to_owned()));
                params.push(("error_description", self.description()));
            }
        }
        Some(params)
    }

    /// The challenges of this refusal, in order: the `Bearer` one where bearer tokens are
    /// accepted, the `DPoP` one (with `algs`) where DPoP is advertised. The error goes on the
    /// `DPoP` challenge when it concerns the proof, the request used the `DPoP` scheme, or
    /// bearer tokens are not accepted; on the `Bearer` one otherwise.
    pub(crate) fn challenges(
        &self,
        realm: Option<&str>,
        resource_metadata: Option<&str>,
        dpop: Option<&DpopChallenge>,
        dpop_request: bool,
    ) -> Vec<HeaderValue> {
        let Some(params) = self.challenge_params(realm) else {
            return Vec::new();
        };
        let bare: Vec<(&str, String)> = params
            .iter()
            .filter(|(name, _)| *name == "realm")
            .cloned()
            .collect();
        let with_metadata = |mut params: Vec<(&'static str, String)>| {
            if let Some(url) = resource_metadata {
                params.push(("resource_metadata", url.to_owned()));
            }
            params
        };
        let Some(dpop) = dpop else {
            return render("Bearer", &with_metadata(params))
                .into_iter()
                .collect();
        };
        let on_dpop = self.is_about_the_proof() || dpop_request || !dpop.bearer;
        let mut challenges = Vec::new();
        if dpop.bearer {
            let bearer = if on_dpop {
                bare.clone()
            } else {
                params.clone()
            };
            challenges.extend(render("Bearer", &with_metadata(bearer)));
        }
        let mut dpop_params = with_metadata(if on_dpop { params } else { bare });
        dpop_params.push(("algs", dpop.algs.to_string()));
        challenges.extend(render("DPoP", &dpop_params));
        challenges
    }

    /// The response of the behaviour contract: status, challenge, `Retry-After` and a small
    /// JSON body `{"error": ..., "error_description": ...}`.
    pub fn to_response(&self) -> Response<Full<Bytes>> {
        Responder::default().respond(self)
    }
}

/// One challenge: the scheme, then `name="value"` parameters.
fn render(scheme: &str, params: &[(&str, String)]) -> Option<HeaderValue> {
    let mut value = String::from(scheme);
    for (i, (name, raw)) in params.iter().enumerate() {
        value.push_str(if i == 0 { " " } else { ", " });
        value.push_str(name);
        value.push_str("=\"");
        push_quoted_string_content(&mut value, raw);
        value.push('"');
    }
    // Only visible ASCII and spaces survive `push_quoted_string_content`, so this cannot fail.
    HeaderValue::from_str(&value).ok()
}

/// What the `DPoP` challenge says: the accepted proof algorithms, and whether the `Bearer`
/// challenge is sent beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DpopChallenge {
    pub(crate) algs: Arc<str>,
    pub(crate) bearer: bool,
}

/// Writes `raw` as the content of an HTTP quoted-string: `"` and `\` escaped, anything that is
/// not visible ASCII or a space dropped, and at most 200 characters kept.
fn push_quoted_string_content(out: &mut String, raw: &str) {
    const MAX_CHARS: usize = 200;
    for c in raw.chars().take(MAX_CHARS) {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {}
        }
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
    resource_metadata: Option<Arc<str>>,
    body: Option<Arc<BodyHook>>,
    dpop: Option<DpopChallenge>,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("realm", &self.realm)
            .field("resource_metadata", &self.resource_metadata)
            .field("custom_body", &self.body.is_some())
            .field("dpop", &self.dpop)
            .finish()
    }
}

impl Responder {
    pub(crate) fn new(
        realm: Option<&str>,
        resource_metadata: Option<&str>,
        body: Option<Arc<BodyHook>>,
        dpop: Option<DpopChallenge>,
    ) -> Self {
        Responder {
            realm: realm.map(Arc::from),
            resource_metadata: resource_metadata.map(Arc::from),
            body,
            dpop,
        }
    }

    /// Whether it writes anything differently from the default.
    pub(crate) fn is_default(&self) -> bool {
        self.realm.is_none()
            && self.resource_metadata.is_none()
            && self.body.is_none()
            && self.dpop.is_none()
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

    /// The response to a request with these headers: a gRPC status for gRPC requests (which
    /// read any HTTP error as a broken stream), the HTTP response otherwise.
    pub(crate) fn respond_to(
        &self,
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
            self.grpc(error, dpop_request)
        } else {
            self.write(error, dpop_request)
        }
    }

    /// A trailers-only gRPC response (HTTP 200, `grpc-status`, `grpc-message`), with the
    /// same `WWW-Authenticate` and `Retry-After` as the HTTP refusal.
    fn grpc(&self, error: &AuthError, dpop_request: bool) -> Response<Full<Bytes>> {
        let code: u16 = match error.status().as_u16() {
            400 => 3,  // INVALID_ARGUMENT
            403 => 7,  // PERMISSION_DENIED
            503 => 14, // UNAVAILABLE
            _ => 16,   // UNAUTHENTICATED
        };
        let mut response = self
            .write(error, dpop_request)
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

    /// The response to a request that did not use the `DPoP` scheme.
    pub(crate) fn respond(&self, error: &AuthError) -> Response<Full<Bytes>> {
        self.write(error, false)
    }

    /// The response: the hook may choose the body, never the status or the challenges.
    fn write(&self, error: &AuthError, dpop_request: bool) -> Response<Full<Bytes>> {
        crate::telemetry::request_refused(error);
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
            self.resource_metadata.as_deref(),
            self.dpop.as_ref(),
            dpop_request,
        ) {
            headers.append(header::WWW_AUTHENTICATE, challenge);
        }
        if let AuthError::KeysUnavailable { retry_after }
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
    use crate::error::TokenProblem;

    #[test]
    fn grpc_requests_get_a_grpc_status_with_the_same_challenge() {
        let mut request = http::HeaderMap::new();
        request.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        let error = AuthError::InvalidToken(TokenProblem::Expired);
        let response = Responder::default().respond_to(&request, &error);
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
        let response = Responder::default().respond_to(&request, &forbidden);
        assert_eq!(response.headers()["grpc-status"], "7");
    }

    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(grpc_message("100% sure\n"), "100%25 sure%0A");
        assert_eq!(grpc_message("é"), "%C3%A9");
    }

    #[test]
    fn quoted_strings_escape_quotes_and_drop_controls() {
        let mut out = String::new();
        push_quoted_string_content(&mut out, "a\"b\\c\r\nd\u{e9}");
        assert_eq!(out, "a\\\"b\\\\cd");
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
