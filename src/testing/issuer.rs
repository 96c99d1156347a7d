//! The loopback issuer: discovery, the JWK set and the token endpoint over real HTTP, with
//! counters, key rotation and faults on demand.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::oauth::endpoint::token_endpoint;
use super::oauth::introspect::{introspection_endpoint, revocation_endpoint};
use super::opaque::OpaqueTokens;
use super::state::{Behaviour, DEFAULT_JWKS_PATH, Endpoint, Fault, IssuerState, misbehave};
use super::tokens::{SigningKey, TokenBuilder};
use crate::ValidatorBuilder;
use crate::issuer::unix_now;

/// The audience [`TestIssuer::token`] puts in `aud` unless told otherwise.
pub const DEFAULT_AUDIENCE: &str = "https://api.example.com";

/// An OpenID issuer on `127.0.0.1` serving discovery, a JWK set and a client credentials
/// token endpoint, for tests.
///
/// It counts what it serves, rotates keys, and misbehaves on demand ([`Fault`] on every
/// endpoint or on one [`Endpoint`], delays, extra raw keys, `Cache-Control`, `ETag`, a JWK
/// set served at another path than Auth0's). APIs, machine clients and their grants are
/// registered with [`register_api`](Self::register_api),
/// [`register_client`](Self::register_client) and [`grant`](Self::grant); clients then get
/// tokens from [`token_endpoint`](Self::token_endpoint). It stops when dropped.
pub struct TestIssuer {
    pub(super) state: Arc<IssuerState>,
    port: u16,
    server: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.state.issuer)
            .finish_non_exhaustive()
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl TestIssuer {
    /// Starts an issuer on an ephemeral loopback port with one RS256 key, `kid` `key-1`,
    /// from the test kit's key pool ([`SigningKey::pooled`]): the issuers one test starts have
    /// distinct keys, and starting one costs no key generation.
    pub async fn start() -> Self {
        Self::start_with_key(SigningKey::pooled("key-1")).await
    }

    /// Starts an issuer that publishes and signs with `key`.
    pub async fn start_with_key(key: SigningKey) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(IssuerState {
            issuer: format!("http://127.0.0.1:{port}/"),
            published: RwLock::new(vec![key.clone()]),
            signing: RwLock::new(key),
            jwks_path: RwLock::new(DEFAULT_JWKS_PATH.to_owned()),
            behaviour: RwLock::default(),
            discovery_fetches: AtomicUsize::new(0),
            jwks_fetches: AtomicUsize::new(0),
            not_modified: AtomicUsize::new(0),
            registry: RwLock::default(),
            token_requests: AtomicUsize::new(0),
            client_authentications: std::sync::Mutex::default(),
            rfc8414: AtomicBool::new(false),
            rfc8414_fetches: AtomicUsize::new(0),
            opaque: OpaqueTokens::default(),
        });
        let server = serve(listener, Arc::clone(&state));
        TestIssuer {
            state,
            port,
            server: std::sync::Mutex::new(Some(server)),
        }
    }

    /// Stops serving: connections to the port are refused until [`resume`](Self::resume).
    pub fn stop(&self) {
        if let Some(server) = self.server.lock().expect("lock").take() {
            server.abort();
        }
    }

    /// Serves again on the same port after [`stop`](Self::stop). Validators know the issuer
    /// by its URL, so the port cannot move: while another socket of the machine holds it
    /// (an outgoing connection may be given it as its ephemeral port), binding is tried
    /// again, for up to five seconds.
    pub async fn resume(&self) {
        let started = std::time::Instant::now();
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(error) if started.elapsed() > std::time::Duration::from_secs(5) => {
                    panic!("rebind the issuer's port {}: {error}", self.port)
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        let server = serve(listener, Arc::clone(&self.state));
        if let Some(old) = self.server.lock().expect("lock").replace(server) {
            old.abort();
        }
    }

    /// Misbehaves on every endpoint from now on (`None`: behave again). An endpoint's own
    /// fault ([`set_fault_at`](Self::set_fault_at)) takes precedence over this one.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.behaviour().fault = fault;
    }

    /// Misbehaves on this endpoint only from now on, whatever [`set_fault`](Self::set_fault)
    /// says; `None` clears the endpoint's own fault (the one of every endpoint, if any,
    /// applies to it again).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::testing::{Endpoint, Fault, TestIssuer};
    ///
    /// // Discovery answers, the key set fails.
    /// let issuer = TestIssuer::start().await;
    /// issuer.set_fault_at(Endpoint::KeySet, Some(Fault::Status(500)));
    /// let validator = issuer.validator().build().unwrap();
    /// assert!(validator.warm_up().await.is_err());
    /// assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (1, 1));
    /// issuer.set_fault_at(Endpoint::KeySet, None);
    /// assert!(validator.warm_up().await.is_ok());
    /// # }
    /// ```
    pub fn set_fault_at(&self, endpoint: Endpoint, fault: Option<Fault>) {
        let mut behaviour = self.behaviour();
        match fault {
            Some(fault) => behaviour.faults_at.insert(endpoint, fault),
            None => behaviour.faults_at.remove(&endpoint),
        };
    }

    /// Serves the JWK set at `path` from now on instead of where it was (by default
    /// `/.well-known/jwks.json`, Auth0's layout), as Keycloak (`/realms/{realm}/protocol/
    /// openid-connect/certs`), Okta (`/v1/keys`) and others do: discovery names the new
    /// place as `jwks_uri`, [`jwks_uri`](Self::jwks_uri) returns it, and the old path answers
    /// 404. It can move at any time, as when an issuer is reconfigured.
    ///
    /// # Panics
    ///
    /// If `path` does not start with `/`, has a query or fragment, or is one of the issuer's
    /// other endpoints.
    pub fn set_jwks_path(&self, path: &str) {
        assert!(
            path.starts_with('/') && !path.contains(['?', '#']),
            "a JWK set path is absolute, without query or fragment: {path:?}"
        );
        assert!(
            !matches!(
                path,
                "/.well-known/openid-configuration"
                    | RFC8414_PATH
                    | "/oauth/token"
                    | "/oauth/introspect"
                    | "/oauth/revoke"
            ),
            "{path:?} is another endpoint of the issuer"
        );
        *self.state.jwks_path.write().expect("lock") = path.to_owned();
    }

    /// Serves RFC 8414 authorization server metadata at
    /// `/.well-known/oauth-authorization-server` from now on (`false`: 404 again, the
    /// default). It holds what the OpenID discovery document holds, so that a test can make
    /// discovery answer 404 and see the key set found through RFC 8414 alone.
    pub fn set_authorization_server_metadata(&self, served: bool) {
        self.state.rfc8414.store(served, Ordering::SeqCst);
    }

    /// How many requests the RFC 8414 metadata path received (answered or not).
    pub fn authorization_server_metadata_fetches(&self) -> usize {
        self.state.rfc8414_fetches.load(Ordering::SeqCst)
    }

    /// Waits this long before answering each request.
    pub fn set_delay(&self, delay: Duration) {
        self.behaviour().delay = delay;
    }

    /// Appends these raw JWKs (weak, `use: enc`, garbage, ...) to the published keys.
    pub fn set_extra_jwks(&self, jwks: Vec<Value>) {
        self.behaviour().extra_jwks = jwks;
    }

    /// Sends this `Cache-Control` value with the JWK set.
    pub fn set_cache_control(&self, value: Option<&str>) {
        self.behaviour().cache_control = value.map(str::to_owned);
    }

    /// Sends an `ETag` with the JWK set and answers a matching `If-None-Match` with 304.
    pub fn set_etag(&self, enabled: bool) {
        self.behaviour().etag = enabled;
    }

    /// How many conditional JWK set requests were answered 304.
    pub fn not_modified_responses(&self) -> usize {
        self.state.not_modified.load(Ordering::SeqCst)
    }

    fn behaviour(&self) -> std::sync::RwLockWriteGuard<'_, Behaviour> {
        self.state.behaviour.write().expect("lock")
    }

    /// The issuer identifier, `http://127.0.0.1:{port}/` (with the trailing slash, as
    /// Auth0's).
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The JWK set URL (as discovery names it): `{issuer}.well-known/jwks.json` unless
    /// [`set_jwks_path`](Self::set_jwks_path) moved it.
    pub fn jwks_uri(&self) -> String {
        self.state.jwks_uri()
    }

    /// A validator builder for this issuer and [`DEFAULT_AUDIENCE`], finding the key set by
    /// discovery.
    pub fn validator(&self) -> ValidatorBuilder {
        ValidatorBuilder::default()
            .issuer(self.issuer())
            .audience(DEFAULT_AUDIENCE)
    }

    /// A token from this issuer: signed by the current key, `iss`, `aud` =
    /// [`DEFAULT_AUDIENCE`], `sub`, `iat` now, `exp` in one hour.
    pub fn token(&self) -> TokenBuilder {
        let key = self.signing_key();
        let now = unix_now();
        TokenBuilder::rs256(&key)
            .claim("iss", self.issuer())
            .claim("sub", "test-client@clients")
            .claim("aud", DEFAULT_AUDIENCE)
            .claim("iat", now)
            .claim("exp", now + 3600)
    }

    /// The key tokens are signed with.
    pub fn signing_key(&self) -> SigningKey {
        self.state.signing.read().expect("lock").clone()
    }

    /// Publishes `key` in the JWK set (without signing with it).
    pub fn publish(&self, key: SigningKey) {
        self.state.published.write().expect("lock").push(key);
    }

    /// Generates a key with `kid`, publishes it and signs new tokens with it.
    pub fn rotate(&self, kid: &str) -> SigningKey {
        let key = SigningKey::generate(kid);
        self.rotate_to(key.clone());
        key
    }

    /// Publishes `key` and signs new tokens with it: [`rotate`](Self::rotate) with a key made
    /// beforehand, for tests that time a rotation to the millisecond (generating an RSA key
    /// takes tens to hundreds of milliseconds).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::testing::{SigningKey, TestIssuer};
    ///
    /// let issuer = TestIssuer::start().await;
    /// let next = SigningKey::generate("key-2");
    /// // ... later, at the right moment:
    /// issuer.rotate_to(next);
    /// assert_eq!(issuer.signing_key().kid(), Some("key-2"));
    /// # }
    /// ```
    pub fn rotate_to(&self, key: SigningKey) {
        self.publish(key.clone());
        *self.state.signing.write().expect("lock") = key;
    }

    /// Removes the key with `kid` from the JWK set.
    pub fn retire(&self, kid: &str) {
        self.state
            .published
            .write()
            .expect("lock")
            .retain(|key| key.kid() != Some(kid));
    }

    /// How many times the JWK set was served.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many times the discovery document was served.
    pub fn discovery_fetches(&self) -> usize {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }
}

fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<IssuerState>,
) -> tokio::task::JoinHandle<()> {
    // The JWK set is served by the fallback, which reads its current path from the state,
    // so that it can move while the issuer runs.
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route(RFC8414_PATH, get(authorization_server_metadata))
        .route("/oauth/token", post(token_endpoint))
        .route("/oauth/introspect", post(introspection_endpoint))
        .route("/oauth/revoke", post(revocation_endpoint))
        .fallback(jwks_or_not_found)
        .with_state(state);
    tokio::spawn(async move {
        // The server ends when the task is aborted; an I/O error ends it early.
        let _ = axum::serve(listener, app).await;
    })
}

/// Where RFC 8414 places an issuer's metadata (for an issuer without a path).
const RFC8414_PATH: &str = "/.well-known/oauth-authorization-server";

async fn discovery(State(state): State<Arc<IssuerState>>) -> Response {
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    if let Some(response) = misbehave(&state, Endpoint::Discovery).await {
        return response;
    }
    Json(metadata(&state)).into_response()
}

/// RFC 8414 metadata: the discovery document, when the test asked for it; else 404.
async fn authorization_server_metadata(State(state): State<Arc<IssuerState>>) -> Response {
    state.rfc8414_fetches.fetch_add(1, Ordering::SeqCst);
    if !state.rfc8414.load(Ordering::SeqCst) {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(metadata(&state)).into_response()
}

/// The issuer's metadata, as OpenID discovery and RFC 8414 both publish it.
fn metadata(state: &IssuerState) -> Value {
    let mut metadata = json!({
        "issuer": state.issuer,
        "jwks_uri": state.jwks_uri(),
        "token_endpoint": format!("{}oauth/token", state.issuer),
        "introspection_endpoint": format!("{}oauth/introspect", state.issuer),
        "revocation_endpoint": format!("{}oauth/revoke", state.issuer),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    if state.opaque.signed_responses() {
        metadata["introspection_signing_alg_values_supported"] = json!(["RS256"]);
    }
    metadata
}

/// The JWK set at its current path; 404 for every other path.
async fn jwks_or_not_found(
    State(state): State<Arc<IssuerState>>,
    method: http::Method,
    uri: http::Uri,
    request: HeaderMap,
) -> Response {
    let at_jwks_path = *state.jwks_path.read().expect("lock") == uri.path();
    match (at_jwks_path, method) {
        (false, _) => StatusCode::NOT_FOUND.into_response(),
        (true, http::Method::GET | http::Method::HEAD) => jwks(state, request).await,
        (true, _) => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

async fn jwks(state: Arc<IssuerState>, request: HeaderMap) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if let Some(response) = misbehave(&state, Endpoint::KeySet).await {
        return response;
    }
    let (document, cache_control, etag) = {
        let behaviour = state.behaviour.read().expect("lock");
        let mut keys: Vec<Value> = state
            .published
            .read()
            .expect("lock")
            .iter()
            .map(SigningKey::jwk)
            .collect();
        keys.extend(behaviour.extra_jwks.iter().cloned());
        let document = json!({ "keys": keys }).to_string();
        let etag = behaviour.etag.then(|| {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            document.hash(&mut hasher);
            format!("\"{:016x}\"", hasher.finish())
        });
        (document, behaviour.cache_control.clone(), etag)
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(value) = cache_control.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    if let Some(etag) = etag {
        let matches = request
            .get(header::IF_NONE_MATCH)
            .is_some_and(|seen| seen.as_bytes() == etag.as_bytes());
        headers.insert(
            header::ETAG,
            HeaderValue::from_str(&etag).expect("hex etag"),
        );
        if matches {
            state.not_modified.fetch_add(1, Ordering::SeqCst);
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
    }
    (headers, document).into_response()
}
