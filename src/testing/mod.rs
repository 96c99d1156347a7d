//! A loopback test issuer and a token builder, for this crate's tests and yours
//! (feature `test-util`).
//!
//! [`TestIssuer`] serves OIDC discovery, a JWK set, a client credentials token endpoint, and
//! for opaque tokens ([`TestIssuer::opaque_token`], [`Api::opaque_tokens`]) an introspection
//! endpoint (RFC 7662, RFC 9701 signed responses on demand) and a revocation endpoint (RFC
//! 7009), over real HTTP on `127.0.0.1`, counts what it serves, and rotates keys and misbehaves on
//! demand. [`TokenBuilder`] mints RS256 or HS256 tokens with every header member and claim
//! settable, including malformed ones.
//!
//! Mint tokens directly:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use bearer_guard::testing::TestIssuer;
//!
//! let issuer = TestIssuer::start().await;
//! let validator = issuer.validator().build().unwrap();
//! let token = issuer.token().scope("read:messages").sign();
//! let claims = validator.validate(&token).await.unwrap();
//! assert!(claims.has_scope("read:messages"));
//! # }
//! ```
//!
//! Or set up what an Auth0 tenant's dashboard would (an [`Api`] with its scopes, a machine
//! client, a grant of some scopes) and get tokens from `POST /oauth/token` by the client
//! credentials grant, as a real client does (see [`TestIssuer::register_api`]):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use bearer_guard::testing::{Api, TestIssuer};
//!
//! let api = "https://api.example.com";
//! let issuer = TestIssuer::start().await;
//! issuer.register_api(Api::new(api).scopes(["read:messages", "write:messages"]));
//! issuer.register_client("m2m-client", "m2m-secret");
//! issuer.grant("m2m-client", api, ["read:messages"]);
//!
//! let token = issuer.client_credentials("m2m-client", "m2m-secret", api, None).await.unwrap();
//! assert_eq!(token.scope, "read:messages");
//! // A scope the client was not granted.
//! let refused = issuer
//!     .client_credentials("m2m-client", "m2m-secret", api, Some("write:messages"))
//!     .await
//!     .unwrap_err();
//! assert_eq!((refused.status, refused.error.as_str()), (400, "invalid_scope"));
//! # }
//! ```
//!
//! The token endpoint (`{issuer}oauth/token`, advertised by discovery as `token_endpoint`):
//!
//! - takes `grant_type=client_credentials`, `audience` (the API identifier, as Auth0) and an
//!   optional `scope` (none: every granted scope), as `application/x-www-form-urlencoded`
//!   (RFC 6749 §4.4) or a JSON object (as Auth0 also accepts);
//! - authenticates the client by HTTP Basic (`client_secret_basic`) or by `client_id` and
//!   `client_secret` in the body (`client_secret_post`), exactly one of them, comparing
//!   secrets in constant time;
//! - answers `{access_token, token_type: "Bearer", expires_in, scope}` with
//!   `Cache-Control: no-store`; the token is signed as the API says (RS256 with the issuer's
//!   current key, or HS256 with the API's secret) and carries Auth0's claims: `iss`,
//!   `sub` = `{client_id}@clients`, `aud`, `iat`, `exp`, `scope`, `azp`, `gty` =
//!   `client-credentials`, plus `client_id` and `jti`;
//! - refuses with RFC 6749 §5.2 errors, status 400 (401 with `WWW-Authenticate: Basic` for
//!   `invalid_client` after HTTP Basic):
//!
//! | `error` | when |
//! |---|---|
//! | `invalid_request` | body not a form (or JSON), a repeated parameter, no `grant_type`, no `audience`, an `audience` that is no registered API, two client authentication methods |
//! | `invalid_client` | no client authentication, an unknown client, a wrong secret |
//! | `unsupported_grant_type` | any `grant_type` but `client_credentials` |
//! | `unauthorized_client` | the client has no grant for the API |
//! | `invalid_scope` | a requested scope the API does not define or the client was not granted |

mod answer;
mod dpop;
mod encrypt;
mod issuer;
mod oauth;
mod opaque;
mod registry;
mod signature;
mod state;
mod tokens;

pub use answer::{AnswerRules, read_introspection_answer};
pub use dpop::DpopProof;
pub use encrypt::{DecryptionKeyPair, EncryptionKey};
pub use issuer::{DEFAULT_AUDIENCE, TestIssuer};
pub use oauth::{ClientAuthentication, OAuthError, OpaqueTokenBuilder, TokenResponse};
pub use registry::{Api, DEFAULT_TOKEN_LIFETIME, generate_secret};
pub use signature::verify_signature;
pub use state::{Endpoint, Fault};
pub use tokens::{SigningKey, TokenBuilder, certificate_pem, certificate_thumbprint};
