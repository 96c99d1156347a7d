//! Opaque access tokens and the endpoints that know them: `POST /oauth/introspect` (RFC
//! 7662, with RFC 9701 signed responses on demand) and `POST /oauth/revoke` (RFC 7009).
//!
//! An opaque token is a random string; its claims live here, in the issuer. Both endpoints
//! authenticate their caller as the token endpoint does (a registered client, by HTTP Basic
//! or `client_secret_post`): the API introspects with its own client credentials.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value, json};

use super::super::issuer::{DEFAULT_AUDIENCE, TestIssuer};
use super::super::state::{Endpoint, IssuerState, misbehave};
use super::super::tokens::TokenBuilder;
use super::authenticate::authenticate;
use super::endpoint::random_id;
use super::request::{parse_params, refuse};
use crate::issuer::unix_now;

/// The media type of an RFC 9701 signed introspection response.
const JWT_RESPONSE: &str = "application/token-introspection+jwt";

/// The opaque tokens the issuer has issued, and what its two endpoints counted.
#[derive(Default)]
pub(in crate::testing) struct OpaqueTokens {
    /// Token to claims; a revoked token is removed.
    tokens: RwLock<HashMap<String, Map<String, Value>>>,
    introspections: AtomicUsize,
    revocations: AtomicUsize,
    signed_responses: AtomicBool,
}

impl OpaqueTokens {
    /// Keeps `claims` under a new random token, and returns the token.
    pub(in crate::testing) fn issue(&self, claims: Map<String, Value>) -> String {
        let token = format!("{}{}", random_id(), random_id());
        self.tokens
            .write()
            .expect("lock")
            .insert(token.clone(), claims);
        token
    }

    pub(in crate::testing) fn signed_responses(&self) -> bool {
        self.signed_responses.load(Ordering::SeqCst)
    }
}

/// An opaque access token being made: the claims the introspection endpoint will answer
/// with. Made by [`TestIssuer::opaque_token`].
#[derive(Clone)]
#[must_use]
pub struct OpaqueTokenBuilder {
    state: Arc<IssuerState>,
    claims: Map<String, Value>,
}

impl std::fmt::Debug for OpaqueTokenBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpaqueTokenBuilder")
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

impl OpaqueTokenBuilder {
    /// Sets a member of the introspection response (any JSON value, `active` included).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a member of the introspection response.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets `scope` (space-delimited).
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", scope)
    }

    /// Sets `exp` to now plus `seconds` (negative: in the past).
    pub fn expires_in_secs(self, seconds: i64) -> Self {
        self.claim("exp", unix_now() + seconds)
    }

    /// Registers the token with the issuer and returns it: a random string of 44
    /// base64url characters, which says nothing by itself.
    pub fn issue(self) -> String {
        self.state.opaque.issue(self.claims)
    }
}

impl TestIssuer {
    /// An opaque access token for this issuer: its introspection endpoint answers it with
    /// `active: true`, `iss`, `sub`, `aud` = [`DEFAULT_AUDIENCE`], `client_id`
    /// (`test-client`), `iat`, `exp` in one hour and `token_type: Bearer`, until it is
    /// [revoked](Self::revoke); an unknown token with `active: false`. The claims are
    /// answered as set, whatever they say (an `exp` in the past included), so that tests
    /// can make the endpoint answer what a faulty server would.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::testing::TestIssuer;
    ///
    /// let issuer = TestIssuer::start().await;
    /// issuer.register_client("my-api", "my-api-secret");
    /// let validator = issuer.validator().introspection("my-api", "my-api-secret").build().unwrap();
    ///
    /// let token = issuer.opaque_token().scope("read:messages").issue();
    /// let claims = validator.validate(&token).await.unwrap();
    /// assert!(claims.has_scope("read:messages"));
    /// assert_eq!(issuer.introspection_requests(), 1);
    /// # }
    /// ```
    pub fn opaque_token(&self) -> OpaqueTokenBuilder {
        let now = unix_now();
        let claims = json!({
            "active": true,
            "iss": self.issuer(),
            "sub": "test-client@clients",
            "aud": DEFAULT_AUDIENCE,
            "client_id": "test-client",
            "iat": now,
            "exp": now + 3600,
            "token_type": "Bearer",
        });
        OpaqueTokenBuilder {
            state: Arc::clone(&self.state),
            claims: claims.as_object().cloned().unwrap_or_default(),
        }
    }

    /// Revokes an opaque token, as its revocation endpoint would: from now on introspection
    /// answers `active: false` for it.
    pub fn revoke(&self, token: &str) {
        self.state
            .opaque
            .tokens
            .write()
            .expect("lock")
            .remove(token);
    }

    /// The introspection endpoint, `{issuer}oauth/introspect`, also advertised by discovery
    /// as `introspection_endpoint`.
    pub fn introspection_endpoint(&self) -> String {
        format!("{}oauth/introspect", self.issuer())
    }

    /// The revocation endpoint (RFC 7009), `{issuer}oauth/revoke`, also advertised by
    /// discovery as `revocation_endpoint`.
    pub fn revocation_endpoint(&self) -> String {
        format!("{}oauth/revoke", self.issuer())
    }

    /// How many requests the introspection endpoint received (answered or not).
    pub fn introspection_requests(&self) -> usize {
        self.state.opaque.introspections.load(Ordering::SeqCst)
    }

    /// How many requests the revocation endpoint received.
    pub fn revocation_requests(&self) -> usize {
        self.state.opaque.revocations.load(Ordering::SeqCst)
    }

    /// Signs introspection responses (RFC 9701) from now on, for callers that ask for them
    /// with `Accept: application/token-introspection+jwt`: discovery then advertises
    /// `introspection_signing_alg_values_supported: ["RS256"]`, and the response is a JWT
    /// signed by the current key, `typ: token-introspection+jwt`, with `iss`, `aud` (the
    /// caller's client id), `iat` and the response in `token_introspection`.
    pub fn set_signed_introspection(&self, signed: bool) {
        self.state
            .opaque
            .signed_responses
            .store(signed, Ordering::SeqCst);
    }
}

/// `POST /oauth/introspect`.
pub(in crate::testing) async fn introspection_endpoint(
    State(state): State<Arc<IssuerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.opaque.introspections.fetch_add(1, Ordering::SeqCst);
    if let Some(response) = misbehave(&state, Endpoint::Introspection).await {
        return response;
    }
    let caller = match parse_params(&headers, &body)
        .and_then(|params| Ok((authenticate(&state, &headers, &params)?, params)))
    {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    let (client_id, params) = caller;
    let Some(token) = params.get("token") else {
        return refuse("invalid_request", "token is required").into_response();
    };
    let known = state
        .opaque
        .tokens
        .read()
        .expect("lock")
        .get(token)
        .cloned();
    // A known token is answered with its claims as set (even `active: true` past its
    // `exp`, as a faulty server might), so that tests can check the API's own rules.
    let answer = match known {
        Some(claims) => Value::Object(claims),
        None => json!({ "active": false }),
    };
    let wants_jwt = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains(JWT_RESPONSE));
    if state.opaque.signed_responses() && wants_jwt {
        let jwt = TokenBuilder::rs256(&state.signing.read().expect("lock"))
            .header("typ", "token-introspection+jwt")
            .claim("iss", state.issuer.as_str())
            .claim("aud", client_id.as_str())
            .claim("iat", unix_now())
            .claim("token_introspection", answer)
            .sign();
        return ([(header::CONTENT_TYPE, JWT_RESPONSE)], jwt).into_response();
    }
    Json(answer).into_response()
}

/// `POST /oauth/revoke` (RFC 7009): a client revokes a token issued to it; an unknown token
/// is answered 200 all the same (§2.2).
pub(in crate::testing) async fn revocation_endpoint(
    State(state): State<Arc<IssuerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.opaque.revocations.fetch_add(1, Ordering::SeqCst);
    if let Some(response) = misbehave(&state, Endpoint::Revocation).await {
        return response;
    }
    let (client_id, params) = match parse_params(&headers, &body)
        .and_then(|params| Ok((authenticate(&state, &headers, &params)?, params)))
    {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(token) = params.get("token") else {
        return refuse("invalid_request", "token is required").into_response();
    };
    let mut tokens = state.opaque.tokens.write().expect("lock");
    let owner = tokens
        .get(token)
        .and_then(|claims| claims.get("client_id"))
        .and_then(Value::as_str);
    match owner {
        Some(owner) if owner != client_id => refuse(
            "unauthorized_client",
            "the token was issued to another client",
        )
        .into_response(),
        Some(_) => {
            tokens.remove(token);
            StatusCode::OK.into_response()
        }
        None => StatusCode::OK.into_response(),
    }
}
