//! Why a request was refused, and how that becomes an HTTP response.
//!
//! Every refusal is one [`AuthError`]; each variant knows its status code and its
//! `WWW-Authenticate` challenge (RFC 6750 §3), so the layer, the scope guard and the
//! axum extractors answer the same way.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// A request that bearer-guard refused.
///
/// Convert it into a response with [`AuthError::to_response`] (or, with the `axum` feature,
/// return it from a handler: it implements `IntoResponse`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header, or one with another scheme (`Basic ...`): 401 with a bare
    /// `Bearer` challenge, so the client learns which scheme to use.
    #[error("no bearer token in the request")]
    MissingToken,
    /// The `Authorization` header is not a well-formed bearer credential: 400 `invalid_request`.
    #[error("malformed bearer credentials: {0}")]
    InvalidRequest(RequestProblem),
    /// A token was presented and failed validation: 401 `invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(TokenProblem),
    /// The token is valid but lacks the scopes the route needs: 403 `insufficient_scope`.
    #[error("insufficient scope: requires {required}")]
    InsufficientScope {
        /// The scopes the route asks for, space-delimited, as in the `scope` challenge parameter.
        required: String,
    },
    /// A [`ClaimRule`](crate::ClaimRule) refused the token: 401 `invalid_token`, or 403
    /// `insufficient_scope` for rules made with
    /// [`or_forbidden`](crate::ClaimRule::or_forbidden).
    #[error("claim rule failed: {description}")]
    RuleFailed {
        /// The rule's description, sent as `error_description`.
        description: String,
        /// Whether the answer is 403 `insufficient_scope` rather than 401.
        insufficient_scope: bool,
    },
    /// No key set could be obtained from the issuer yet: 503 with `Retry-After`.
    #[error("the issuer's signing keys are unavailable")]
    KeysUnavailable {
        /// When the client may try again.
        retry_after: Duration,
    },
    /// The issuer's introspection endpoint could not decide an opaque token (unreachable,
    /// 5xx, a timeout, a malformed answer, or the API's own credentials refused): 503 with
    /// `Retry-After`. The token is never accepted then.
    #[error("the issuer's token introspection is unavailable")]
    IntrospectionUnavailable {
        /// When the client may try again.
        retry_after: Duration,
    },
}

/// What is wrong with the `Authorization` header itself (400 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestProblem {
    /// `Bearer` with no token after it.
    #[error("the bearer token is empty")]
    EmptyToken,
    /// More than one token after `Bearer`.
    #[error("more than one bearer token")]
    SeveralTokens,
    /// Characters outside the RFC 6750 `b64token` syntax.
    #[error("the bearer token has characters outside the b64token syntax")]
    InvalidCharacters,
    /// Several `Authorization` headers.
    #[error("more than one Authorization header")]
    SeveralAuthorizationHeaders,
    /// A token in more than one place (header, cookie, query, ...).
    #[error("the request carries a token in more than one place")]
    TokenInSeveralPlaces,
}

/// A standard claim, named in token problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// `iss`
    Issuer,
    /// `aud`
    Audience,
    /// `exp`
    ExpiresAt,
    /// `nbf`
    NotBefore,
    /// `iat`
    IssuedAt,
    /// `sub`
    Subject,
    /// `scope`, `scp` or `permissions`
    Scope,
    /// `client_id`
    ClientId,
    /// `jti`
    TokenId,
}

impl Claim {
    /// The claim's name in the token.
    pub fn name(self) -> &'static str {
        match self {
            Claim::Issuer => "iss",
            Claim::Audience => "aud",
            Claim::ExpiresAt => "exp",
            Claim::NotBefore => "nbf",
            Claim::IssuedAt => "iat",
            Claim::Subject => "sub",
            Claim::Scope => "scope",
            Claim::ClientId => "client_id",
            Claim::TokenId => "jti",
        }
    }
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a presented token was rejected (401 `invalid_token`).
///
/// The `Display` text is the `error_description`: short, fixed and free of token content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenProblem {
    /// Longer than the configured size cap; rejected before decoding.
    #[error("the token is larger than the accepted size")]
    TooLarge,
    /// Not three base64url segments separated by dots.
    #[error("the token is not a compact JWS")]
    Malformed,
    /// Five segments: an encrypted token (JWE).
    #[error("encrypted tokens are not accepted")]
    Encrypted,
    /// The header is not a JSON object of the expected shape.
    #[error("the token header is malformed")]
    MalformedHeader,
    /// `alg` is not on the allow-list (this includes `none` in any letter case).
    #[error("the token algorithm is not accepted")]
    AlgorithmNotAllowed,
    /// `crit` names extensions this crate does not implement.
    #[error("the token has critical header parameters that are not supported")]
    UnsupportedCritical,
    /// `b64: false` (RFC 7797 unencoded payload).
    #[error("unencoded payloads are not accepted")]
    UnencodedPayload,
    /// `cty: JWT`: a nested token.
    #[error("nested tokens are not accepted")]
    Nested,
    /// No key in the issuer's key set has the token's `kid`.
    #[error("no signing key matches the token")]
    UnknownKey,
    /// No `kid`, and the key set has more than one key usable for the algorithm.
    #[error("the token has no key id and the key set has several keys")]
    AmbiguousKey,
    /// The key named by `kid` cannot verify this algorithm (family, curve or JWK `alg`).
    #[error("the signing key does not fit the token algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("the token signature is invalid")]
    InvalidSignature,
    /// The payload is not a JSON object (or repeats a claim name).
    #[error("the token claims are malformed")]
    MalformedClaims,
    /// A required claim is absent.
    #[error("the token lacks a required claim")]
    MissingClaim(Claim),
    /// A claim has the wrong type or an unusable value.
    #[error("a token claim has an invalid value")]
    InvalidClaim(Claim),
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// `iss` is not the configured issuer.
    #[error("the token issuer is not accepted")]
    WrongIssuer,
    /// `aud` does not contain a configured audience.
    #[error("the token is not intended for this API")]
    WrongAudience,
    /// RFC 9068 strict mode: `typ` is not `at+jwt` (the token is not an access token).
    #[error("the token is not a JWT access token (typ at+jwt)")]
    NotAnAccessToken,
    /// Introspection: the issuer says the token is not active (unknown, revoked or expired).
    #[error("the token is not active")]
    Inactive,
    /// The claims do not have the shape the API's handler expects.
    #[error("the token claims do not have the shape this API expects")]
    UnexpectedClaims,
}

impl TokenProblem {
    /// A description for the challenge, naming the claim where there is one.
    fn description(self) -> String {
        match self {
            TokenProblem::MissingClaim(claim) => format!("the token lacks the {claim} claim"),
            TokenProblem::InvalidClaim(claim) => format!("the {claim} claim is invalid"),
            other => other.to_string(),
        }
    }
}

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
            AuthError::KeysUnavailable { .. } | AuthError::IntrospectionUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
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
            AuthError::KeysUnavailable { .. } | AuthError::IntrospectionUnavailable { .. } => {
                Some("temporarily_unavailable")
            }
        }
    }

    /// The human-readable `error_description`: fixed text, never token content.
    pub fn description(&self) -> String {
        match self {
            AuthError::MissingToken => "a bearer token is required".to_owned(),
            AuthError::InvalidRequest(problem) => problem.to_string(),
            AuthError::InvalidToken(problem) => problem.description(),
            AuthError::InsufficientScope { .. } => {
                "the token does not have the scopes this resource requires".to_owned()
            }
            AuthError::RuleFailed { description, .. } => description.clone(),
            AuthError::KeysUnavailable { .. } => {
                "the issuer's signing keys are unavailable; try again later".to_owned()
            }
            AuthError::IntrospectionUnavailable { .. } => {
                "the issuer's token introspection is unavailable; try again later".to_owned()
            }
        }
    }

    /// The `WWW-Authenticate` value, or `None` for the 503 (which is not an auth challenge).
    pub fn challenge(&self, realm: Option<&str>) -> Option<HeaderValue> {
        self.challenge_with(realm, None)
    }

    /// The challenge with the RFC 9728 `resource_metadata` parameter as well.
    pub(crate) fn challenge_with(
        &self,
        realm: Option<&str>,
        resource_metadata: Option<&str>,
    ) -> Option<HeaderValue> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(realm) = realm {
            params.push(("realm", realm.to_owned()));
        }
        match self {
            AuthError::MissingToken => {}
            AuthError::KeysUnavailable { .. } | AuthError::IntrospectionUnavailable { .. } => {
                return None;
            }
            AuthError::InsufficientScope { required } => {
                params.push(("error", "insufficient_scope".to_owned()));
                params.push(("error_description", self.description()));
                params.push(("scope", required.clone()));
            }
            AuthError::InvalidRequest(_)
            | AuthError::InvalidToken(_)
            | AuthError::RuleFailed { .. } => {
                params.push(("error", self.error_code()?.to_owned()));
                params.push(("error_description", self.description()));
            }
        }
        if let Some(url) = resource_metadata {
            params.push(("resource_metadata", url.to_owned()));
        }
        let mut value = String::from("Bearer");
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

    /// The response of the behaviour contract: status, challenge, `Retry-After` and a small
    /// JSON body `{"error": ..., "error_description": ...}`.
    pub fn to_response(&self) -> Response<Full<Bytes>> {
        crate::respond::Responder::default().respond(self)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn claim_problems_name_the_claim() {
        let error = AuthError::InvalidToken(TokenProblem::MissingClaim(Claim::ExpiresAt));
        assert_eq!(error.description(), "the token lacks the exp claim");
    }
}
