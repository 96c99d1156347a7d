//! Opaque access tokens and the endpoints that know them: `POST /oauth/introspect` (RFC
//! 7662, with RFC 9701 signed responses on demand) and `POST /oauth/revoke` (RFC 7009).
//!
//! An opaque token is a random string; its claims live here, in the issuer. Both endpoints
//! authenticate their caller as the token endpoint does (a registered client, by HTTP Basic
//! or `client_secret_post`): the API introspects with its own client credentials.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::super::state::{Endpoint, IssuerState, misbehave};
use super::super::tokens::TokenBuilder;
use super::authenticate::authenticate;
use super::request::{parse_params, refuse};
use crate::issuer::unix_now;

/// The media type of an RFC 9701 signed introspection response.
const JWT_RESPONSE: &str = "application/token-introspection+jwt";

/// `POST /oauth/introspect`.
pub(in crate::testing) async fn introspection_endpoint(
    State(state): State<Arc<IssuerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.opaque.introspections.fetch_add(1, Ordering::SeqCst);
    let _answering = state.opaque.answering();
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
    let downgrade = state.opaque.downgrade.load(Ordering::SeqCst);
    if state.opaque.signed_responses() && wants_jwt && !downgrade {
        let mut jwt = TokenBuilder::rs256(&state.signing.read().expect("lock"))
            .header("typ", "token-introspection+jwt")
            .claim("iss", state.issuer.as_str())
            .claim("aud", client_id.as_str())
            .claim("iat", unix_now())
            .claim("token_introspection", answer);
        for (name, value) in state.opaque.envelope.read().expect("lock").iter() {
            jwt = match value {
                Value::Null => jwt.without_claim(name),
                value => jwt.claim(name, value.clone()),
            };
        }
        return ([(header::CONTENT_TYPE, JWT_RESPONSE)], jwt.sign()).into_response();
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
