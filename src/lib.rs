//! # bearer-guard
//!
//! One tower layer that protects an HTTP API with OAuth 2.0 bearer access tokens: it takes
//! the token from `Authorization: Bearer ...`, verifies it (RS256 against the issuer's cached
//! JWKS, or HS256 against a shared secret), checks that it was issued for this API by the
//! expected issuer and is still valid, and enforces the scopes each route requires.
//!
//! ## Quickstart (axum)
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use bearer_guard::{BearerLayer, RequireScopes, Validator};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Auth0: issuer https://{domain}/, JWKS at /.well-known/jwks.json, RS256.
//!     let validator = Validator::auth0("my-tenant.us.auth0.com", "https://api.example.com")
//!         .build()?;
//!
//!     let app = Router::new()
//!         .route("/api/private-scoped", get(|| async { "scoped" }))
//!         .route_layer(RequireScopes::all(["read:messages"]))
//!         .route("/api/private", get(|| async { "private" }))
//!         .layer(BearerLayer::new(validator))
//!         .route("/api/public", get(|| async { "public" }));
//!
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3010").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! ## What a client gets back
//!
//! | situation | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no `Authorization` header, or another scheme | 401 | `Bearer` |
//! | `Bearer` with no token, two tokens, bad characters, several headers | 400 | `Bearer error="invalid_request", ...` |
//! | a token that fails validation | 401 | `Bearer error="invalid_token", error_description="..."` |
//! | a valid token without the route's scopes | 403 | `Bearer error="insufficient_scope", scope="..."` |
//! | no key set could be obtained yet | 503 | none; `Retry-After` set |
//!
//! The body is `{"error": ..., "error_description": ...}`; descriptions are fixed texts that
//! never echo the token.
//!
//! ## What is where
//! - [`Validator`] / [`ValidatorBuilder`]: configuration, checked up front; presets such as
//!   [`Validator::auth0`]; several issuers with [`Validator::for_issuers`]; key set health with
//!   [`Validator::warm_up`], [`Validator::is_ready`] and [`Validator::key_stats`].
//! - [`BearerLayer`] (optional authentication, [`TokenSource`]s): the authenticating
//!   middleware; [`RequireScopes`] and [`RequireClaims`]: the route guards behind it. gRPC
//!   requests are refused with gRPC statuses.
//! - [`VerifiedClaims`], [`Scopes`], [`ScopePolicy`], [`ClaimRule`]: what handlers see and what
//!   routes require.
//! - [`dpop`]: sender-constrained tokens: DPoP proofs (RFC 9449), replay stores, server
//!   nonces, certificate-bound tokens (RFC 8705); [`VerifiedClaims::binding`] says how a
//!   token was bound.
//! - [`ProtectedResourceMetadata`]: the RFC 9728 document; [`ErrorBody`]: your error format.
//! - [`axum`] (feature `axum`): `Claims<T>` and `Option<Claims<T>>` extractors.
//! - [`mcp`] (feature `mcp`): MCP servers: per-tool and per-method scopes read from the
//!   JSON-RPC body, and how the rest of the MCP authorization specification maps onto the crate.
//! - [`testing`] (feature `test-util`): a loopback test issuer (discovery, JWKS, a client
//!   credentials token endpoint, key rotation and faults) and a token builder.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod algorithm;
mod backend;
mod challenge;
mod claims;
mod config;
pub mod dpop;
mod error;
mod extract;
mod guard;
mod issuer;
mod jwks;
mod keys;
mod layer;
mod metadata;
mod respond;
mod roca;
mod rules;
mod scope;
mod telemetry;
mod token_cache;
mod transport;
mod validate;
mod validator;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "mcp")]
pub mod mcp;
#[cfg(feature = "test-util")]
pub mod testing;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use claims::{Binding, VerifiedClaims};
pub use config::{
    ConfigError, ConfigProblem, DEFAULT_TOKEN_CACHE_BYTES, MAX_LEEWAY, MIN_HMAC_SECRET_BYTES,
    ValidatorBuilder,
};
pub use error::{AuthError, Claim, DpopProblem, RequestProblem, TokenProblem};
pub use extract::TokenSource;
pub use guard::{RequireClaims, RequireClaimsService, RequireScopes, RequireScopesService};
pub use jwks::{KeyFetchError, KeySetStatus, KeyStats};
pub use layer::{BearerBody, BearerLayer, BearerService, ResponseFuture};
pub use metadata::{MetadataService, ProtectedResourceMetadata};
pub use respond::ErrorBody;
pub use rules::ClaimRule;
pub use scope::{ScopeClaims, ScopePolicy, Scopes};
pub use validator::Validator;

/// The README's code blocks, compiled as doc tests so that they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
