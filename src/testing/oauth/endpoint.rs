//! `POST /oauth/token`: the request's parameters and targets, the client grant, the scopes,
//! the signed token, and the RFC 6749 §5.2 refusals.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::super::issuer::{Endpoint, IssuerState, misbehave};
use super::super::tokens::TokenBuilder;
use super::authenticate::authenticate;
use super::{Api, CLIENT_CREDENTIALS, is_scope_token};
use crate::issuer::unix_now;

/// A refusal by the token endpoint: an RFC 6749 §5.2 error.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) error: &'static str,
    pub(super) description: &'static str,
    /// The client tried HTTP Basic: `invalid_client` is then 401 with a Basic challenge.
    pub(super) basic: bool,
}

pub(super) fn refuse(error: &'static str, description: &'static str) -> Refusal {
    Refusal {
        error,
        description,
        basic: false,
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let challenge = self.basic && self.error == "invalid_client";
        let status = if challenge {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        let mut response = (
            status,
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        let headers = response.headers_mut();
        no_store(headers);
        if challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oauth\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

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
    if apis.iter().any(|other| other.secret != api.secret) {
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
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
    }))
}

/// The request parameters, from a form (RFC 6749) or a JSON object (Auth0 accepts both).
/// Parameters without a value count as omitted (RFC 6749 §3.1); a repeated one is an
/// `invalid_request` (§3.2), except `resource`, which RFC 8707 lets a client repeat (in
/// JSON: a string or an array of strings).
pub(super) fn parse_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, Refusal> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let pairs: Vec<(String, String)> = match media_type.as_deref() {
        Some("application/x-www-form-urlencoded") => {
            let malformed = || refuse("invalid_request", "the form is malformed");
            std::str::from_utf8(body).map_err(|_| malformed())?;
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect();
            // Percent-encoded bytes that are not UTF-8 decode to U+FFFD.
            if pairs
                .iter()
                .any(|(name, value)| name.contains('\u{FFFD}') || value.contains('\u{FFFD}'))
            {
                return Err(malformed());
            }
            pairs
        }
        Some("application/json") => {
            let malformed = || refuse("invalid_request", "the JSON body is malformed");
            let object: serde_json::Map<String, Value> =
                serde_json::from_slice(body).map_err(|_| malformed())?;
            object
                .into_iter()
                .flat_map(|(name, value)| match value {
                    Value::String(text) => vec![Ok((name, text))],
                    Value::Array(items) if name == RESOURCE => items
                        .into_iter()
                        .map(|item| match item {
                            Value::String(text) => Ok((RESOURCE.to_owned(), text)),
                            _ => Err(refuse("invalid_request", "parameters must be strings")),
                        })
                        .collect(),
                    _ => vec![Err(refuse("invalid_request", "parameters must be strings"))],
                })
                .collect::<Result<_, _>>()?
        }
        _ => {
            return Err(refuse(
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            ));
        }
    };
    let mut params = Params::default();
    for (name, value) in pairs {
        if value.is_empty() {
            continue;
        }
        if name == RESOURCE {
            params.resources.push(value);
        } else if params.values.insert(name, value).is_some() {
            return Err(refuse("invalid_request", "a parameter is repeated"));
        }
    }
    Ok(params)
}

/// RFC 8707's parameter naming the resource (the API) a token is for.
const RESOURCE: &str = "resource";

/// The parameters of a token request: every `resource`, and the others by name.
#[derive(Default)]
pub(super) struct Params {
    values: HashMap<String, String>,
    resources: Vec<String>,
}

impl Params {
    pub(super) fn get(&self, name: &str) -> Option<&String> {
        self.values.get(name)
    }

    pub(super) fn contains_key(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
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

/// A random `jti`: 16 bytes, base64url.
pub(super) fn random_id() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random");
    URL_SAFE_NO_PAD.encode(bytes)
}
