//! The router every request goes through, and the fixture around it: a test issuer, a
//! validator for it, and that router.

use axum::routing::get;
use axum::{Extension, Json, Router};
use bearer_guard::axum::Claims;
use bearer_guard::testing::{TestIssuer, TokenBuilder};
use bearer_guard::{
    BearerLayer, ClaimRule, RequireClaims, RequireScopes, Validator, ValidatorBuilder,
    VerifiedClaims,
};
use serde_json::{Value, json};

use super::reply::{Reply, send_token};

pub const PUBLIC: &str = "/api/public";
pub const PRIVATE: &str = "/api/private";
pub const SCOPED: &str = "/api/private-scoped";
/// The scope `/api/private-scoped` requires.
pub const SCOPE: &str = "read:messages";

/// The quickstart router: `/api/public` open, `/api/private` behind [`BearerLayer`],
/// `/api/private-scoped` also behind `RequireScopes::all(["read:messages"])`. Protected
/// handlers echo the verified claims ([`echo_claims`]).
pub fn app(validator: Validator) -> Router {
    Router::new()
        .route(SCOPED, get(echo_claims))
        .route_layer(RequireScopes::all([SCOPE]))
        .route(PRIVATE, get(echo_claims))
        .layer(BearerLayer::new(validator))
        .route(PUBLIC, get(|| async { Json(json!({ "public": true })) }))
}

/// The protected handler of the fixtures: the verified claims as JSON (`iss`, `sub`, `aud`,
/// `exp`, `client_id`, `scopes`, and `all`, every claim as sent).
pub async fn echo_claims(Extension(claims): Extension<VerifiedClaims>) -> Json<Value> {
    Json(json!({
        "iss": claims.issuer(),
        "sub": claims.subject(),
        "aud": claims.audiences(),
        "exp": claims.expires_at(),
        "client_id": claims.client_id(),
        "scopes": claims.scopes().iter().collect::<Vec<_>>(),
        "all": claims.all(),
    }))
}

/// A test issuer, a validator for it and the quickstart router around that validator.
pub struct Fixture {
    pub issuer: TestIssuer,
    pub validator: Validator,
    pub app: Router,
}

impl Fixture {
    /// A fresh issuer (one key, `kid` `key-1`) and a validator with the default settings.
    pub async fn start() -> Self {
        Self::with_issuer(TestIssuer::start().await, |builder| builder)
    }

    /// A fresh issuer and a validator configured by `configure`.
    pub async fn start_with(configure: impl FnOnce(ValidatorBuilder) -> ValidatorBuilder) -> Self {
        Self::with_issuer(TestIssuer::start().await, configure)
    }

    /// A validator for `issuer` (discovery, default audience) configured by `configure`.
    pub fn with_issuer(
        issuer: TestIssuer,
        configure: impl FnOnce(ValidatorBuilder) -> ValidatorBuilder,
    ) -> Self {
        let validator = configure(issuer.validator())
            .build()
            .expect("valid configuration");
        Fixture {
            app: app(validator.clone()),
            validator,
            issuer,
        }
    }

    /// Starts an issuer, lets `prepare` publish extra keys, then builds the validator with
    /// `configure` and warms it up (one discovery, one key set fetch).
    pub async fn warm(
        prepare: impl FnOnce(&TestIssuer),
        configure: impl FnOnce(ValidatorBuilder) -> ValidatorBuilder,
    ) -> Self {
        let issuer = TestIssuer::start().await;
        prepare(&issuer);
        let fixture = Self::with_issuer(issuer, configure);
        fixture
            .validator
            .warm_up()
            .await
            .expect("the key set loads");
        fixture
    }

    /// A fresh issuer and a warmed-up validator with the default settings.
    pub async fn warm_default() -> Self {
        Self::warm(|_| {}, |builder| builder).await
    }

    /// A valid token from the issuer carrying [`SCOPE`].
    pub fn token(&self) -> TokenBuilder {
        self.issuer.token().scope(SCOPE)
    }

    /// `GET path` with `Authorization: Bearer {token}`.
    pub async fn send(&self, path: &str, token: &str) -> Reply {
        send_token(&self.app, path, token).await
    }

    /// Asserts the fetch counts, both as the issuer saw them and as the validator reports.
    #[track_caller]
    pub fn assert_fetches(&self, discovery: usize, jwks: usize) {
        let stats = self.validator.key_stats();
        assert_eq!(
            (self.issuer.discovery_fetches(), self.issuer.jwks_fetches()),
            (discovery, jwks),
            "(discovery, jwks) fetches served by the issuer; validator stats: {stats:?}"
        );
        assert_eq!(
            (stats.discovery_fetches, stats.jwks_fetches),
            (discovery as u64, jwks as u64),
            "(discovery, jwks) fetches counted by the validator"
        );
    }
}

/// A route guarded by a claim rule (`roles` must include `admin`, else 403).
pub const RULED: &str = "/api/ruled";
/// A route whose handler needs claims of the [`Shaped`] form (else 401).
pub const SHAPED: &str = "/api/shaped";

/// The custom claims [`SHAPED`] requires.
#[derive(serde::Deserialize)]
pub struct Shaped {
    pub org_id: String,
}

/// Every way a route behind the layer can refuse: `PRIVATE` (authentication), `SCOPED`
/// (`RequireScopes`), `RULED` (`RequireClaims`) and `SHAPED` (the `Claims<T>` extractor).
pub fn guarded_app(validator: Validator) -> Router {
    let scoped = Router::new()
        .route(SCOPED, get(|| async { "scoped" }))
        .route_layer(RequireScopes::all([SCOPE]));
    let ruled = Router::new()
        .route(RULED, get(|| async { "ruled" }))
        .route_layer(RequireClaims::new(
            ClaimRule::includes("roles", "admin").or_forbidden(),
        ));
    Router::new()
        .merge(scoped)
        .merge(ruled)
        .route(PRIVATE, get(|| async { "private" }))
        .route(SHAPED, get(|_: Claims<Shaped>| async { "shaped" }))
        .layer(BearerLayer::new(validator))
}

/// A loopback HTTP server that counts every TCP connection it accepts and answers each with
/// `body` as `application/json`: the attacker's server behind `jku` / `x5u`.
pub struct CountingServer {
    pub url: String,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingServer {
    pub async fn start(body: String) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
        CountingServer {
            url,
            connections,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for CountingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
