//! The client credentials grant of the test issuer: APIs, machine clients, client grants and
//! `POST /oauth/token` (RFC 6749 §4.4, with Auth0's `audience` parameter and RFC 8707's
//! `resource`).
//!
//! The API a token is for is named by Auth0's `audience`, or by one or more RFC 8707
//! `resource` parameters (what MCP clients send: the MCP server's canonical URI), or both
//! (the token is then for all of them). A `resource` must be an absolute URI without a
//! fragment naming a registered API, else the request is refused with `invalid_target`. A
//! token for several APIs has all of them in `aud` (an array), the union of the scopes
//! granted for them, the shortest of their lifetimes, and is refused with `invalid_target`
//! when they do not sign alike (RS256, or HS256 with one secret).
//!
//! What an Auth0 tenant's dashboard sets up, as code:
//!
//! | Auth0 dashboard | test issuer |
//! |---|---|
//! | Applications > APIs > Create API (identifier, signing algorithm) | [`TestIssuer::register_api`] with [`Api::new`] (RS256), [`Api::hs256`] |
//! | the API's Permissions tab | [`Api::scopes`] |
//! | Applications > Create Application > Machine to Machine | [`TestIssuer::register_client`] |
//! | the application's APIs tab: authorize, select permissions | [`TestIssuer::grant`] |
//! | `POST https://{domain}/oauth/token` | [`TestIssuer::token_endpoint`], [`TestIssuer::client_credentials`] |

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::issuer::{Endpoint, IssuerState, TestIssuer, misbehave};
use super::tokens::TokenBuilder;
use crate::issuer::unix_now;
use crate::{Algorithm, ValidatorBuilder};

/// How long an access token from the token endpoint lives unless the [`Api`] says otherwise:
/// 86,400 s, Auth0's default "Token Expiration" for an API.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// The `grant_type` of the client credentials grant.
const CLIENT_CREDENTIALS: &str = "client_credentials";

/// An API (a resource server) as registered with an authorization server: its identifier,
/// which clients pass as `audience` and find in the tokens' `aud`, how its tokens are signed,
/// and the scopes (Auth0: permissions) it defines.
///
/// ```
/// use bearer_guard::testing::Api;
///
/// // RS256: signed with the issuer's current key, published on its JWK set.
/// let api = Api::new("https://api.example.com").scopes(["read:messages", "write:messages"]);
/// // HS256: MAC-ed with the API's own signing secret.
/// let hs = Api::new("https://hs.example.com")
///     .hs256("the-api-signing-secret-of-32-bytes!!")
///     .scopes(["read:messages"]);
/// # let _ = (api, hs);
/// ```
#[derive(Clone)]
#[must_use]
pub struct Api {
    identifier: String,
    secret: Option<Vec<u8>>,
    scopes: Vec<String>,
    token_lifetime: Duration,
    rfc9068: bool,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("identifier", &self.identifier)
            .field("algorithm", &self.algorithm())
            .field("scopes", &self.scopes)
            .field("token_lifetime", &self.token_lifetime)
            .field("rfc9068", &self.rfc9068)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// An API with this identifier (the `audience`), signing its tokens with RS256 (the
    /// issuer's current key, as [`TestIssuer::token`] does), with no scopes yet.
    pub fn new(identifier: impl Into<String>) -> Self {
        Api {
            identifier: identifier.into(),
            secret: None,
            scopes: Vec::new(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            rfc9068: false,
        }
    }

    /// Signs the API's tokens with HS256 and this secret instead (Auth0's "Signing Secret"
    /// of an HS256 API; the validator takes the same bytes with
    /// [`hs256_secret`](crate::ValidatorBuilder::hs256_secret)). Not checked for length here,
    /// so that short secrets can be tested; the validator requires 32 bytes.
    pub fn hs256(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Defines these scopes (Auth0: permissions), in addition to those already defined.
    ///
    /// # Panics
    /// On a scope that is not an RFC 6749 `scope-token` (empty, or with a space, `"`, `\` or a
    /// character outside printable ASCII).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for scope in scopes {
            let scope = scope.into();
            assert!(
                is_scope_token(&scope),
                "{scope:?} is not a valid scope (RFC 6749 §3.3 scope-token)"
            );
            if !self.scopes.contains(&scope) {
                self.scopes.push(scope);
            }
        }
        self
    }

    /// How long its access tokens live (`expires_in`, `exp - iat`); default
    /// [`DEFAULT_TOKEN_LIFETIME`].
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Issues RFC 9068 access tokens: header `typ: at+jwt` instead of `JWT` (Auth0's "RFC
    /// 9068" token profile). The claims are the same; they already include what RFC 9068
    /// requires (`iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti`).
    pub fn rfc9068_profile(mut self) -> Self {
        self.rfc9068 = true;
        self
    }

    /// The identifier: the `audience` of token requests and the `aud` of its tokens.
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The signing algorithm: [`Algorithm::RS256`] or [`Algorithm::HS256`].
    pub fn algorithm(&self) -> Algorithm {
        match self.secret {
            Some(_) => Algorithm::HS256,
            None => Algorithm::RS256,
        }
    }

    /// The HS256 signing secret, for an HS256 API.
    pub fn hs256_secret(&self) -> Option<&[u8]> {
        self.secret.as_deref()
    }

    /// The scopes the API defines, in the order they were defined.
    pub fn defined_scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(String::as_str)
    }
}

/// A random client secret: 32 bytes from the system's CSPRNG, base64url (43 characters that
/// need no escaping in a form, a URL, HTTP Basic or a shell).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// APIs, clients and grants: what the token endpoint decides by.
#[derive(Default)]
pub(super) struct Registry {
    apis: HashMap<String, Api>,
    /// Client id to secret.
    clients: HashMap<String, Vec<u8>>,
    /// (client id, API identifier) to the scopes granted.
    grants: HashMap<(String, String), Vec<String>>,
}

impl TestIssuer {
    /// The token endpoint, `{issuer}oauth/token` (as Auth0's), also advertised by discovery
    /// as `token_endpoint`.
    pub fn token_endpoint(&self) -> String {
        format!("{}oauth/token", self.state.issuer)
    }

    /// Registers an API (replacing any API with the same identifier; its grants stay).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::testing::{Api, TestIssuer};
    ///
    /// let issuer = TestIssuer::start().await;
    /// let api = Api::new("https://api.example.com").scopes(["read:messages", "write:messages"]);
    /// issuer.register_api(api);
    /// issuer.register_client("my-client", "my-client-secret");
    /// issuer.grant("my-client", "https://api.example.com", ["read:messages"]);
    ///
    /// let token = issuer
    ///     .client_credentials("my-client", "my-client-secret", "https://api.example.com", None)
    ///     .await
    ///     .unwrap();
    /// assert_eq!(token.scope, "read:messages");
    ///
    /// let validator = issuer.validator_for("https://api.example.com").build().unwrap();
    /// let claims = validator.validate(&token.access_token).await.unwrap();
    /// assert_eq!(claims.subject(), Some("my-client@clients"));
    /// # }
    /// ```
    pub fn register_api(&self, api: Api) {
        self.registry().apis.insert(api.identifier.clone(), api);
    }

    /// Registers a machine-to-machine client with its secret (replacing any client with the
    /// same id). It can get tokens only for the APIs it is [granted](Self::grant).
    ///
    /// By RFC 6749 §2.3.1, HTTP Basic credentials are form-urlencoded before base64: a
    /// client id or secret with characters other than `A-Z a-z 0-9 - . _ ~` must be encoded
    /// so by the client (as [`client_credentials`](Self::client_credentials) does), which
    /// `reqwest`'s `basic_auth` or `curl -u` do not do. [`generate_secret`] makes secrets
    /// that need no encoding.
    pub fn register_client(&self, client_id: impl Into<String>, secret: impl Into<Vec<u8>>) {
        self.registry()
            .clients
            .insert(client_id.into(), secret.into());
    }

    /// Authorizes a client for an API with these of the API's scopes (a client grant),
    /// replacing any earlier grant of that client for that API. An empty list authorizes
    /// the client with no scopes: it gets tokens with an empty `scope`.
    ///
    /// # Panics
    /// When the client or the API is not registered, or a scope is not defined by the API
    /// (the dashboard offers no such choice either).
    pub fn grant<I, S>(&self, client_id: &str, api_identifier: &str, scopes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut registry = self.registry();
        assert!(
            registry.clients.contains_key(client_id),
            "grant: client {client_id:?} is not registered"
        );
        let api = registry
            .apis
            .get(api_identifier)
            .unwrap_or_else(|| panic!("grant: API {api_identifier:?} is not registered"));
        let mut granted: Vec<String> = Vec::new();
        for scope in scopes {
            let scope = scope.into();
            assert!(
                api.scopes.contains(&scope),
                "grant: scope {scope:?} is not defined by API {api_identifier:?}"
            );
            if !granted.contains(&scope) {
                granted.push(scope);
            }
        }
        registry
            .grants
            .insert((client_id.to_owned(), api_identifier.to_owned()), granted);
    }

    /// Removes the client's grant for the API: its token requests for it are then refused
    /// with `unauthorized_client`.
    pub fn revoke_grant(&self, client_id: &str, api_identifier: &str) {
        self.registry()
            .grants
            .remove(&(client_id.to_owned(), api_identifier.to_owned()));
    }

    /// How many requests the token endpoint received (answered or not).
    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// A validator builder for a registered API: this issuer, the API's identifier as the
    /// audience, and for an HS256 API its secret (no key set then).
    ///
    /// # Panics
    /// When no API with this identifier is registered.
    pub fn validator_for(&self, api_identifier: &str) -> ValidatorBuilder {
        let secret = {
            let registry = self.state.registry.read().expect("lock");
            let api = registry.apis.get(api_identifier).unwrap_or_else(|| {
                panic!("validator_for: API {api_identifier:?} is not registered")
            });
            api.secret.clone()
        };
        let builder = crate::config::ValidatorBuilder::default()
            .issuer(self.issuer())
            .audience(api_identifier);
        match secret {
            Some(secret) => builder.hs256_secret(secret),
            None => builder,
        }
    }

    /// Gets a token from [`token_endpoint`](Self::token_endpoint) as a machine client does:
    /// `POST` with `grant_type=client_credentials`, `audience`, `scope` when given, and the
    /// client's credentials by HTTP Basic (form-urlencoded as RFC 6749 §2.3.1 says).
    ///
    /// # Errors
    /// The endpoint's refusal: its status and RFC 6749 §5.2 `error`.
    ///
    /// # Panics
    /// When the endpoint cannot be reached or answers something that is not OAuth (a
    /// [`Fault`](super::Fault), say).
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        audience: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let mut params = vec![("audience", audience)];
        params.extend(scope.map(|scope| ("scope", scope)));
        self.token_request(client_id, client_secret, &params).await
    }

    /// Gets a token as an OAuth 2.1 / MCP client does, naming the APIs by RFC 8707
    /// `resource` parameters (one per resource) instead of Auth0's `audience`; otherwise as
    /// [`client_credentials`](Self::client_credentials).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::testing::{Api, TestIssuer};
    ///
    /// let issuer = TestIssuer::start().await;
    /// issuer.register_api(Api::new("http://127.0.0.1:3011/mcp").scopes(["read:messages"]));
    /// issuer.register_client("mcp-client", "mcp-client-secret");
    /// issuer.grant("mcp-client", "http://127.0.0.1:3011/mcp", ["read:messages"]);
    ///
    /// let token = issuer
    ///     .client_credentials_for_resources(
    ///         "mcp-client",
    ///         "mcp-client-secret",
    ///         &["http://127.0.0.1:3011/mcp"],
    ///         Some("read:messages"),
    ///     )
    ///     .await
    ///     .unwrap();
    /// let validator = issuer.validator_for("http://127.0.0.1:3011/mcp").build().unwrap();
    /// assert!(validator.validate(&token.access_token).await.is_ok());
    ///
    /// // A resource the issuer does not know: RFC 8707's invalid_target.
    /// let refused = issuer
    ///     .client_credentials_for_resources("mcp-client", "mcp-client-secret", &["https://other.example/"], None)
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!((refused.status, refused.error.as_str()), (400, "invalid_target"));
    /// # }
    /// ```
    ///
    /// # Errors
    /// The endpoint's refusal: its status and `error` (RFC 6749 §5.2, RFC 8707
    /// `invalid_target`).
    ///
    /// # Panics
    /// As [`client_credentials`](Self::client_credentials).
    pub async fn client_credentials_for_resources(
        &self,
        client_id: &str,
        client_secret: &str,
        resources: &[&str],
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let mut params: Vec<(&str, &str)> = resources.iter().map(|r| ("resource", *r)).collect();
        params.extend(scope.map(|scope| ("scope", scope)));
        self.token_request(client_id, client_secret, &params).await
    }

    /// `POST`s a client credentials request with these parameters, authenticated by HTTP
    /// Basic.
    async fn token_request(
        &self,
        client_id: &str,
        client_secret: &str,
        params: &[(&str, &str)],
    ) -> Result<TokenResponse, OAuthError> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", CLIENT_CREDENTIALS);
        for (name, value) in params {
            form.append_pair(name, value);
        }
        let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
        let (user, password): (String, String) = (encode(client_id), encode(client_secret));
        let response = reqwest::Client::new()
            .post(self.token_endpoint())
            .basic_auth(user, Some(password))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.finish())
            .send()
            .await
            .expect("the token endpoint answers");
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.expect("the token response body");
        if status == 200 {
            return Ok(serde_json::from_slice(&body).expect("a token response"));
        }
        let body: Value = serde_json::from_slice(&body).expect("an OAuth error response");
        Err(OAuthError {
            status,
            error: body["error"].as_str().unwrap_or_default().to_owned(),
            error_description: body["error_description"].as_str().map(str::to_owned),
            www_authenticate: challenge,
        })
    }

    fn registry(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.state.registry.write().expect("lock")
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token, a JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// The scopes granted, space-delimited (may be empty).
    pub scope: String,
}

/// A token request refused by the token endpoint (RFC 6749 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthError {
    /// The HTTP status: 400, or 401 for `invalid_client` with HTTP Basic.
    pub status: u16,
    /// The `error` code: `invalid_request`, `invalid_client`, `unauthorized_client`,
    /// `invalid_scope`, `unsupported_grant_type`, or RFC 8707's `invalid_target`.
    pub error: String,
    /// The `error_description`.
    pub error_description: Option<String>,
    /// The `WWW-Authenticate` header, if any (`Basic realm="..."` after a failed HTTP Basic
    /// authentication).
    pub www_authenticate: Option<String>,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.error)?;
        if let Some(description) = &self.error_description {
            write!(f, ": {description}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OAuthError {}

// ---------------------------------------------------------------------------------------------
// The endpoint

/// A refusal by the token endpoint: an RFC 6749 §5.2 error.
#[derive(Debug)]
struct Refusal {
    error: &'static str,
    description: &'static str,
    /// The client tried HTTP Basic: `invalid_client` is then 401 with a Basic challenge.
    basic: bool,
}

fn refuse(error: &'static str, description: &'static str) -> Refusal {
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
pub(super) async fn token_endpoint(
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
    Ok(json!({
        "access_token": builder.sign(),
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
    }))
}

/// The request parameters, from a form (RFC 6749) or a JSON object (Auth0 accepts both).
/// Parameters without a value count as omitted (RFC 6749 §3.1); a repeated one is an
/// `invalid_request` (§3.2), except `resource`, which RFC 8707 lets a client repeat (in
/// JSON: a string or an array of strings).
fn parse_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, Refusal> {
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
struct Params {
    values: HashMap<String, String>,
    resources: Vec<String>,
}

impl Params {
    fn get(&self, name: &str) -> Option<&String> {
        self.values.get(name)
    }

    fn contains_key(&self, name: &str) -> bool {
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

/// Authenticates the client by HTTP Basic (`client_secret_basic`) or by `client_id` and
/// `client_secret` in the body (`client_secret_post`), exactly one of them; returns its id.
fn authenticate(
    state: &IssuerState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<String, Refusal> {
    let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
    let basic = match (authorization.next(), authorization.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => {
            return Err(refuse(
                "invalid_request",
                "more than one Authorization header",
            ));
        }
        (Some(value), None) => Some(value),
    };
    let (client_id, secret, basic) = match basic {
        Some(value) => {
            let failed = |description| Refusal {
                error: "invalid_client",
                description,
                basic: true,
            };
            if params.contains_key("client_secret") {
                return Err(refuse(
                    "invalid_request",
                    "more than one client authentication method",
                ));
            }
            let (id, secret) = parse_basic(value).ok_or_else(|| {
                failed("client authentication by HTTP Basic or client_secret_post is required")
            })?;
            if params
                .get("client_id")
                .is_some_and(|form_id| *form_id != id)
            {
                return Err(refuse(
                    "invalid_request",
                    "client_id differs from the HTTP Basic credentials",
                ));
            }
            (id, secret, true)
        }
        None => match (params.get("client_id"), params.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone(), false),
            (None, Some(_)) => {
                return Err(refuse("invalid_request", "client_secret without client_id"));
            }
            (_, None) => {
                return Err(refuse(
                    "invalid_client",
                    "client authentication is required",
                ));
            }
        },
    };
    let known = state
        .registry
        .read()
        .expect("lock")
        .clients
        .get(&client_id)
        .cloned();
    // An unknown client costs the same comparison as a wrong secret.
    let expected = known.as_deref().unwrap_or(b"\0unknown client\0");
    if secrets_equal(expected, secret.as_bytes()) && known.is_some() {
        Ok(client_id)
    } else {
        Err(Refusal {
            error: "invalid_client",
            description: "client authentication failed",
            basic,
        })
    }
}

/// Compares two secrets in constant time, their lengths included (SHA-256 of each first).
fn secrets_equal(expected: &[u8], presented: &[u8]) -> bool {
    use aws_lc_rs::digest::{SHA256, digest};
    let (expected, presented) = (digest(&SHA256, expected), digest(&SHA256, presented));
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), presented.as_ref()).is_ok()
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 7617, RFC 6749 §2.3.1), with
/// the scheme in any letter case.
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |text: &str| -> Option<String> {
        let text: String = url::form_urlencoded::parse(format!("x={text}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        (!text.contains('\u{FFFD}')).then_some(text)
    };
    let id = unescape(id)?;
    (!id.is_empty()).then_some(())?;
    Some((id, unescape(secret)?))
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

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// A random `jti`: 16 bytes, base64url.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random");
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_urldecoded() {
        let header = |text: &str| {
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(text))).unwrap()
        };
        assert_eq!(
            parse_basic(&header("my%20client:s%2Bcr+t")),
            Some(("my client".into(), "s+cr t".into()))
        );
        assert_eq!(
            parse_basic(&header("id:")),
            Some(("id".into(), String::new()))
        );
        assert_eq!(parse_basic(&header(":secret")), None);
        assert_eq!(parse_basic(&header("no-colon")), None);
        assert_eq!(parse_basic(&header("id:%FF")), None);
        let lower = HeaderValue::from_str(&format!("basic {}", STANDARD.encode("a:b"))).unwrap();
        assert_eq!(parse_basic(&lower), Some(("a".into(), "b".into())));
        let bearer = HeaderValue::from_static("Bearer abc");
        assert_eq!(parse_basic(&bearer), None);
        let garbage = HeaderValue::from_static("Basic !!!");
        assert_eq!(parse_basic(&garbage), None);
    }

    #[test]
    fn secrets_compare_by_value_only() {
        assert!(secrets_equal(b"secret", b"secret"));
        assert!(!secrets_equal(b"secret", b"secreT"));
        assert!(!secrets_equal(b"secret", b"secret-but-longer"));
        assert!(!secrets_equal(b"", b"x"));
    }

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        assert!(is_scope_token("read:messages"));
        assert!(is_scope_token("https://api.example.com/read"));
        for bad in ["", "a b", "quote\"", "back\\slash", "é", "tab\t"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }
}
