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
//! | an opaque token the introspection endpoint could not decide | 503 | none; `Retry-After` set |
//!
//! The body is `{"error": ..., "error_description": ...}`; descriptions are fixed texts that
//! never echo the token.
//!
//! ## What is where
//! The crate root holds the vocabulary of the quickstart; each module holds the rest of its
//! subject, with its own docs and examples. How the code is built (a request's path, the
//! layers, the invariants) is in the repository's `ARCHITECTURE.md`.
//!
//! - [`Validator`] / [`ValidatorBuilder`] ([`config`]): configuration, checked up front;
//!   presets such as [`Validator::auth0`]; several issuers with [`Validator::for_issuers`];
//!   key set health with [`Validator::warm_up`], [`Validator::is_ready`] and
//!   [`Validator::key_stats`] ([`jwks`]); static keys ([`ValidatorBuilder::static_key_set`]).
//! - [`introspection`]: opaque access tokens by RFC 7662 token introspection
//!   ([`ValidatorBuilder::introspection`]), cached, with RFC 9701 signed responses and mixed
//!   mode.
//! - [`BearerLayer`] ([`layer`]: optional authentication, token sources): the
//!   authenticating middleware; [`RequireScopes`], [`RequireClaims`] and
//!   [`RequireAuthentication`] (step-up, RFC 9470) ([`guard`]): the route guards behind it.
//!   gRPC requests are refused with gRPC statuses.
//! - [`VerifiedClaims`] ([`claims`]), [`ScopePolicy`] ([`scope`]), [`ClaimRule`] ([`rules`]):
//!   what handlers see and what routes require.
//! - [`diagnose`]: why a token is refused, check by check ([`Validator::explain`]), a
//!   development aid.
//! - [`AuthError`] ([`error`]): why a request was refused; [`ErrorBody`]: your error format.
//! - [`ProtectedResourceMetadata`] ([`metadata`]): the RFC 9728 document.
//! - [`dpop`]: sender-constrained tokens: DPoP proofs (RFC 9449), replay stores, server
//!   nonces, certificate-bound tokens (RFC 8705); [`VerifiedClaims::binding`] says how a
//!   token was bound.
//! - [`axum`] (feature `axum`): `Claims<T>` and `Option<Claims<T>>` extractors.
//! - [`mcp`] (feature `mcp`): MCP servers: per-tool and per-method scopes read from the
//!   JSON-RPC body, and how the rest of the MCP authorization specification maps onto the crate.
//! - [`testing`] (feature `test-util`): a loopback test issuer (discovery, JWKS, a client
//!   credentials token endpoint, opaque tokens with introspection and revocation endpoints,
//!   key rotation and faults) and a token builder.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod actor;
mod algorithm;
mod backend;
mod challenge;
pub mod claims;
pub mod config;
pub mod diagnose;
pub mod dpop;
pub mod error;
mod extract;
pub mod guard;
pub mod introspection;
mod issuer;
mod json_members;
pub mod jwe;
pub mod jwks;
mod keys;
pub mod layer;
pub mod metadata;
pub mod resolver;
mod respond;
mod roca;
pub mod rules;
pub mod scope;
mod shards;
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

// The vocabulary of the quickstart; everything else lives in its module.
pub use actor::{Actor, MAX_ACTOR_DEPTH};
pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use claims::VerifiedClaims;
pub use config::{ConfigError, ValidatorBuilder};
pub use error::AuthError;
pub use guard::{RequireAuthentication, RequireClaims, RequireScopes};
pub use layer::BearerLayer;
pub use metadata::ProtectedResourceMetadata;
pub use resolver::IssuerResolver;
pub use respond::ErrorBody;
pub use rules::ClaimRule;
pub use scope::{ScopeHierarchy, ScopePolicy};
pub use validator::Validator;

/// The README's code blocks, compiled as doc tests so that they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
