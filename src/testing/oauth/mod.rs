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

mod authenticate;
mod client;
pub(super) mod endpoint;
pub(super) mod introspect;
mod request;

use std::sync::atomic::Ordering;

use super::issuer::TestIssuer;
use super::registry::{Api, Registry};
pub use super::state::ClientAuthentication;
use crate::ValidatorBuilder;
pub use client::{OAuthError, OpaqueTokenBuilder, TokenResponse};

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
    /// `reqwest`'s `basic_auth` or `curl -u` do not do. [`generate_secret`](super::generate_secret) makes secrets
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

    /// How each client that authenticated to the token, introspection or revocation endpoint
    /// did so, in order (a refused authentication is not recorded).
    pub fn client_authentications(&self) -> Vec<ClientAuthentication> {
        self.state
            .client_authentications
            .lock()
            .expect("lock")
            .clone()
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

    fn registry(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.state.registry.write().expect("lock")
    }
}
