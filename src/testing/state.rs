//! What the test issuer's endpoints share: the keys it publishes and signs with, its
//! registry of APIs and clients, its counters, and the faults it is told to show.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde_json::Value;

use super::registry::Registry;
use super::tokens::SigningKey;

/// A misbehaviour of the issuer, for outage and hostile-response tests. Set with
/// [`TestIssuer::set_fault`](super::TestIssuer::set_fault) it applies to every endpoint (discovery, the JWK set and the
/// token endpoint), with [`TestIssuer::set_fault_at`](super::TestIssuer::set_fault_at) to one [`Endpoint`], until cleared.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this HTTP status and a short text body.
    Status(u16),
    /// Answer 200 with an HTML page.
    Html,
    /// Answer 200 `application/json` with a body of this many bytes.
    HugeBody(usize),
    /// Answer 302 to this URL.
    RedirectTo(String),
    /// Never answer.
    Hang,
}

/// One of the issuer's endpoints, for [`TestIssuer::set_fault_at`](super::TestIssuer::set_fault_at).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// The OpenID discovery document, `{issuer}.well-known/openid-configuration`. (RFC 8414
    /// metadata, `/.well-known/oauth-authorization-server`, is served only when
    /// [`TestIssuer::set_authorization_server_metadata`](super::TestIssuer::set_authorization_server_metadata)
    /// says so, and answers 404 otherwise.)
    Discovery,
    /// The JWK set, at [`TestIssuer::jwks_uri`](super::TestIssuer::jwks_uri) (see [`TestIssuer::set_jwks_path`](super::TestIssuer::set_jwks_path)).
    KeySet,
    /// The token endpoint, [`TestIssuer::token_endpoint`](super::TestIssuer::token_endpoint).
    Token,
    /// The introspection endpoint, [`TestIssuer::introspection_endpoint`](super::TestIssuer::introspection_endpoint).
    Introspection,
    /// The revocation endpoint, [`TestIssuer::revocation_endpoint`](super::TestIssuer::revocation_endpoint).
    Revocation,
}

/// Where the JWK set is served unless [`TestIssuer::set_jwks_path`](super::TestIssuer::set_jwks_path) moves it.
pub(super) const DEFAULT_JWKS_PATH: &str = "/.well-known/jwks.json";

/// How a client authenticated to one of the test issuer's endpoints (token, introspection,
/// revocation), as [`TestIssuer::client_authentications`](crate::testing::TestIssuer::client_authentications)
/// records it: so that a test can tell which method an API or client really used, not only
/// that one of them worked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthentication {
    /// HTTP Basic credentials (`client_secret_basic`, RFC 6749 §2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the body (`client_secret_post`).
    Post,
}

/// What the issuer publishes, how it behaves, and what it counts.
pub(super) struct IssuerState {
    pub(super) issuer: String,
    pub(super) published: RwLock<Vec<SigningKey>>,
    pub(super) signing: RwLock<SigningKey>,
    /// The path the JWK set is served at (and discovery names).
    pub(super) jwks_path: RwLock<String>,
    pub(super) behaviour: RwLock<Behaviour>,
    pub(super) discovery_fetches: AtomicUsize,
    pub(super) jwks_fetches: AtomicUsize,
    pub(super) not_modified: AtomicUsize,
    pub(super) registry: RwLock<Registry>,
    pub(super) token_requests: AtomicUsize,
    /// How each client that authenticated did so, in order.
    pub(super) client_authentications: Mutex<Vec<ClientAuthentication>>,
    /// Whether RFC 8414 metadata is served, and how often it was.
    pub(super) rfc8414: AtomicBool,
    pub(super) rfc8414_fetches: AtomicUsize,
    /// Opaque tokens, and what the introspection and revocation endpoints counted.
    pub(super) opaque: super::opaque::OpaqueTokens,
}

#[derive(Default)]
pub(super) struct Behaviour {
    /// The fault of every endpoint.
    pub(super) fault: Option<Fault>,
    /// Faults of single endpoints, which take precedence over `fault`.
    pub(super) faults_at: std::collections::HashMap<Endpoint, Fault>,
    pub(super) delay: Duration,
    pub(super) extra_jwks: Vec<Value>,
    pub(super) cache_control: Option<String>,
    pub(super) etag: bool,
}

impl IssuerState {
    pub(super) fn jwks_uri(&self) -> String {
        let path = self.jwks_path.read().expect("lock");
        format!("{}{}", self.issuer.trim_end_matches('/'), path)
    }
}

/// Applies the configured delay, then the endpoint's fault (its own, else the one of every
/// endpoint) if there is one.
pub(super) async fn misbehave(state: &IssuerState, endpoint: Endpoint) -> Option<Response> {
    let (delay, fault) = {
        let behaviour = state.behaviour.read().expect("lock");
        let fault = behaviour
            .faults_at
            .get(&endpoint)
            .or(behaviour.fault.as_ref());
        (behaviour.delay, fault.cloned())
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let response = match fault? {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, "issuer failure").into_response()
        }
        Fault::Html => (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Maintenance</body></html>",
        )
            .into_response(),
        Fault::HugeBody(bytes) => (
            [(header::CONTENT_TYPE, "application/json")],
            " ".repeat(bytes),
        )
            .into_response(),
        Fault::RedirectTo(location) => {
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        Fault::Hang => std::future::pending().await,
    };
    Some(response)
}
