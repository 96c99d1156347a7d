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
mod endpoint;
mod introspect;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::issuer::TestIssuer;
use crate::{Algorithm, ValidatorBuilder};
pub use client::{OAuthError, TokenResponse};
pub(super) use endpoint::token_endpoint;
pub use introspect::OpaqueTokenBuilder;
pub(super) use introspect::{OpaqueTokens, introspection_endpoint, revocation_endpoint};

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
    opaque: bool,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("identifier", &self.identifier)
            .field("algorithm", &self.algorithm())
            .field("scopes", &self.scopes)
            .field("token_lifetime", &self.token_lifetime)
            .field("rfc9068", &self.rfc9068)
            .field("opaque", &self.opaque)
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
            opaque: false,
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

    /// Issues opaque access tokens instead of JWTs (as Okta, Keycloak, Ory Hydra and others
    /// can): random strings whose claims (the same as a JWT's) the issuer's introspection
    /// endpoint answers with, until they expire or are revoked.
    pub fn opaque_tokens(mut self) -> Self {
        self.opaque = true;
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

    fn registry(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.state.registry.write().expect("lock")
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        assert!(is_scope_token("read:messages"));
        assert!(is_scope_token("https://api.example.com/read"));
        for bad in ["", "a b", "quote\"", "back\\slash", "é", "tab\t"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }
}
