//! `POST /oauth/token`: the request's parameters and targets, the client grant, the scopes,
//! the signed token, and the RFC 6749 §5.2 refusals.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Value, json};

use super::super::registry::{Api, CLIENT_CREDENTIALS, is_scope_token, random_id};
use super::super::state::{Endpoint, IssuerState, misbehave};
use super::super::tokens::TokenBuilder;
use super::authenticate::authenticate;
use super::request::{Params, Refusal, no_store, parse_params, refuse};
use crate::issuer::unix_now;
use crate::jwe::{ContentEncryption, KeyEncryption};

/// `POST /oauth/token`.
pub(in crate::testing) async fn token_endpoint(
    State(state): State<std::sync::Arc<IssuerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    if let Some(response) = misbehave(&state, Endpoint::Token).await {
        return response;
    }
    match issue(&state, &headers, &body) {
        Ok(issued) => {
            let mut response = Json(issued).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// Decides a token request: the token response, or the refusal.
fn issue(state: &IssuerState, headers: &HeaderMap, body: &[u8]) -> Result<Value, Refusal> {
    let params = parse_params(headers, body)?;
    let client_id = authenticate(state, headers, &params)?;

    match params.get("grant_type").map(String::as_str) {
        None => return Err(refuse("invalid_request", "grant_type is required")),
        Some(CLIENT_CREDENTIALS) => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_grant_type",
                "only client_credentials is supported",
            ));
        }
    }
    let targets = targets(&params)?;
    let dpop_jkt = dpop_key(state, headers)?;

    let registry = state.registry.read().expect("lock");
    let mut apis: Vec<&Api> = Vec::new();
    for (target, by_resource) in &targets {
        let api = registry.apis.get(target).ok_or_else(|| {
            if *by_resource {
                refuse("invalid_target", "the resource is not a registered API")
            } else {
                refuse("invalid_request", "audience is not a registered API")
            }
        })?;
        apis.push(api);
    }
    let mut defined: Vec<String> = Vec::new();
    let mut granted: Vec<String> = Vec::new();
    for api in &apis {
        let grant = registry
            .grants
            .get(&(client_id.clone(), api.identifier.clone()))
            .ok_or_else(|| {
                refuse(
                    "unauthorized_client",
                    "the client is not authorized for this API",
                )
            })?;
        union(&mut defined, &api.scopes);
        union(&mut granted, grant);
    }
    let api = apis[0];
    if apis
        .iter()
        .any(|other| other.secret != api.secret || other.encryption != api.encryption)
    {
        return Err(refuse(
            "invalid_target",
            "the resources do not sign their tokens alike",
        ));
    }
    let scopes = requested_scopes(params.get("scope").map(String::as_str), &defined, &granted)?;
    let scope = scopes.join(" ");
    let audience: Value = match apis.as_slice() {
        [api] => api.identifier.as_str().into(),
        apis => apis.iter().map(|api| api.identifier.as_str()).collect(),
    };
    let token_lifetime = apis.iter().map(|api| api.token_lifetime).min();
    let token_lifetime = token_lifetime.unwrap_or(api.token_lifetime);
    let rfc9068 = apis.iter().any(|api| api.rfc9068);

    let now = unix_now();
    let lifetime = i64::try_from(token_lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    let builder = match &api.secret {
        Some(secret) => TokenBuilder::hs256(secret.clone()),
        None => TokenBuilder::rs256(&state.signing.read().expect("lock")),
    };
    let mut builder = builder
        .claim("iss", state.issuer.as_str())
        .claim("sub", format!("{client_id}@clients"))
        .claim("aud", audience)
        .claim("iat", now)
        .claim("exp", now.saturating_add(lifetime))
        .claim("azp", client_id.as_str())
        .claim("gty", "client-credentials")
        .claim("client_id", client_id.as_str())
        .claim("jti", random_id());
    if !scope.is_empty() {
        builder = builder.scope(&scope);
    }
    if rfc9068 {
        builder = builder.header("typ", "at+jwt");
    }
    if let Some(jkt) = &dpop_jkt {
        builder = builder.dpop_bound(jkt);
    }
    if let Some(key) = &api.encryption {
        builder = builder.encrypt_to(key, KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm);
    }
    let access_token = if apis.iter().any(|api| api.opaque) {
        let mut claims = builder.into_claims();
        claims.insert("active".into(), true.into());
        claims.insert("token_type".into(), "Bearer".into());
        state.opaque.issue(claims)
    } else {
        builder.sign()
    };
    Ok(json!({
        "access_token": access_token,
        "token_type": if dpop_jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": lifetime,
        "scope": scope,
    }))
}

/// The key of the request's DPoP proof (RFC 9449 §5), if it has one: the token is then bound
/// to it. A proof that fails a check is refused with `invalid_dpop_proof`.
fn dpop_key(state: &IssuerState, headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let invalid = || refuse("invalid_dpop_proof", "the DPoP proof is invalid");
    let mut proofs = headers.get_all("dpop").iter();
    let proof = match (proofs.next(), proofs.next()) {
        (None, _) => return Ok(None),
        (Some(_), Some(_)) => return Err(invalid()),
        (Some(proof), None) => proof.to_str().map_err(|_| invalid())?,
    };
    let endpoint = format!("{}oauth/token", state.issuer);
    crate::dpop::check_token_request(proof, &endpoint)
        .map(Some)
        .map_err(|_| invalid())
}

/// The APIs the token is for: `audience` (Auth0) and every `resource` (RFC 8707), each once,
/// with whether it was named by `resource`.
fn targets(params: &Params) -> Result<Vec<(String, bool)>, Refusal> {
    let mut targets: Vec<(String, bool)> = Vec::new();
    if let Some(audience) = params.get("audience") {
        targets.push((audience.clone(), false));
    }
    for resource in &params.resources {
        // RFC 8707 §2: an absolute URI, without a fragment.
        let absolute = url::Url::parse(resource).is_ok_and(|url| url.fragment().is_none());
        if !absolute {
            return Err(refuse(
                "invalid_target",
                "a resource must be an absolute URI without a fragment",
            ));
        }
        if !targets.iter().any(|(seen, _)| seen == resource) {
            targets.push((resource.clone(), true));
        }
    }
    if targets.is_empty() {
        return Err(refuse(
            "invalid_request",
            "audience or resource is required",
        ));
    }
    Ok(targets)
}

/// Appends to `all` the items of `more` it does not have yet.
fn union(all: &mut Vec<String>, more: &[String]) {
    for item in more {
        if !all.contains(item) {
            all.push(item.clone());
        }
    }
}

/// The scopes of the token: every granted scope when none are requested, else the requested
/// ones, each of which must be defined by the API(s) and granted to the client.
fn requested_scopes(
    requested: Option<&str>,
    defined: &[String],
    granted: &[String],
) -> Result<Vec<String>, Refusal> {
    let requested: Vec<&str> = requested
        .unwrap_or_default()
        .split(' ')
        .filter(|scope| !scope.is_empty())
        .collect();
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    let mut scopes: Vec<String> = Vec::new();
    for scope in requested {
        if !is_scope_token(scope) {
            return Err(refuse("invalid_scope", "the scope is malformed"));
        }
        if !defined.iter().any(|defined| defined == scope) {
            return Err(refuse(
                "invalid_scope",
                "a requested scope is not defined by the API",
            ));
        }
        if !granted.iter().any(|allowed| allowed == scope) {
            return Err(refuse(
                "invalid_scope",
                "a requested scope is not granted to the client",
            ));
        }
        if !scopes.iter().any(|seen| seen == scope) {
            scopes.push(scope.to_owned());
        }
    }
    Ok(scopes)
}
