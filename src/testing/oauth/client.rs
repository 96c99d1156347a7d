//! The client side of the issuer: getting a token as a machine client does (and the token
//! response or OAuth error it gets back), and minting and revoking opaque tokens.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::header;
use serde_json::{Map, Value, json};

use super::super::issuer::{DEFAULT_AUDIENCE, TestIssuer};
use super::super::registry::CLIENT_CREDENTIALS;
use super::super::state::IssuerState;
use crate::issuer::unix_now;

impl TestIssuer {
    /// Gets a token from [`token_endpoint`](Self::token_endpoint) as a machine client does:
    /// `POST` with `grant_type=client_credentials`, `audience`, `scope` when given, and the
    /// client's credentials by HTTP Basic (form-urlencoded as RFC 6749 §2.3.1 says).
    ///
    /// # Errors
    /// The endpoint's refusal: its status and RFC 6749 §5.2 `error`.
    ///
    /// # Panics
    /// When the endpoint cannot be reached or answers something that is not OAuth (a
    /// [`Fault`](crate::testing::Fault), say).
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        audience: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let mut params = vec![("audience", audience)];
        params.extend(scope.map(|scope| ("scope", scope)));
        self.token_request(client_id, client_secret, &params, None)
            .await
    }

    /// [`client_credentials`](Self::client_credentials) with a DPoP proof of `key` (RFC 9449
    /// §5): the token is bound to the key (`cnf.jkt`) and its `token_type` is `DPoP`; a bad
    /// proof is refused with `invalid_dpop_proof`.
    ///
    /// # Errors
    /// As [`client_credentials`](Self::client_credentials), and `invalid_dpop_proof`.
    ///
    /// # Panics
    /// As [`client_credentials`](Self::client_credentials).
    pub async fn client_credentials_dpop(
        &self,
        client_id: &str,
        client_secret: &str,
        audience: &str,
        scope: Option<&str>,
        proof: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let mut params = vec![("audience", audience)];
        params.extend(scope.map(|scope| ("scope", scope)));
        self.token_request(client_id, client_secret, &params, Some(proof))
            .await
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
        self.token_request(client_id, client_secret, &params, None)
            .await
    }

    /// `POST`s a client credentials request with these parameters, authenticated by HTTP
    /// Basic.
    async fn token_request(
        &self,
        client_id: &str,
        client_secret: &str,
        params: &[(&str, &str)],
        dpop: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", CLIENT_CREDENTIALS);
        for (name, value) in params {
            form.append_pair(name, value);
        }
        let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
        let (user, password): (String, String) = (encode(client_id), encode(client_secret));
        let mut request = reqwest::Client::new().post(self.token_endpoint());
        if let Some(proof) = dpop {
            request = request.header("dpop", proof);
        }
        let response = request
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
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token, a JWT.
    pub access_token: String,
    /// `Bearer`, or `DPoP` for a token bound to the key of the request's DPoP proof.
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
    /// `invalid_scope`, `unsupported_grant_type`, RFC 8707's `invalid_target`, or RFC 9449's
    /// `invalid_dpop_proof`.
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

/// An opaque access token being made: the claims the introspection endpoint will answer
/// with. Made by [`TestIssuer::opaque_token`].
#[derive(Clone)]
#[must_use]
pub struct OpaqueTokenBuilder {
    state: Arc<IssuerState>,
    claims: Map<String, Value>,
}

impl std::fmt::Debug for OpaqueTokenBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpaqueTokenBuilder")
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

impl OpaqueTokenBuilder {
    /// Sets a member of the introspection response (any JSON value, `active` included).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a member of the introspection response.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets `scope` (space-delimited).
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", scope)
    }

    /// Sets `exp` to now plus `seconds` (negative: in the past).
    pub fn expires_in_secs(self, seconds: i64) -> Self {
        self.claim("exp", unix_now() + seconds)
    }

    /// Registers the token with the issuer and returns it: a random string of 44
    /// base64url characters, which says nothing by itself.
    pub fn issue(self) -> String {
        self.state.opaque.issue(self.claims)
    }
}

impl TestIssuer {
    /// An opaque access token for this issuer: its introspection endpoint answers it with
    /// `active: true`, `iss`, `sub`, `aud` = [`DEFAULT_AUDIENCE`], `client_id`
    /// (`test-client`), `iat`, `exp` in one hour and `token_type: Bearer`, until it is
    /// [revoked](Self::revoke); an unknown token with `active: false`. The claims are
    /// answered as set, whatever they say (an `exp` in the past included), so that tests
    /// can make the endpoint answer what a faulty server would.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::testing::TestIssuer;
    ///
    /// let issuer = TestIssuer::start().await;
    /// issuer.register_client("my-api", "my-api-secret");
    /// let validator = issuer.validator().introspection("my-api", "my-api-secret").build().unwrap();
    ///
    /// let token = issuer.opaque_token().scope("read:messages").issue();
    /// let claims = validator.validate(&token).await.unwrap();
    /// assert!(claims.has_scope("read:messages"));
    /// assert_eq!(issuer.introspection_requests(), 1);
    /// # }
    /// ```
    pub fn opaque_token(&self) -> OpaqueTokenBuilder {
        let now = unix_now();
        let claims = json!({
            "active": true,
            "iss": self.issuer(),
            "sub": "test-client@clients",
            "aud": DEFAULT_AUDIENCE,
            "client_id": "test-client",
            "iat": now,
            "exp": now + 3600,
            "token_type": "Bearer",
        });
        OpaqueTokenBuilder {
            state: Arc::clone(&self.state),
            claims: claims.as_object().cloned().unwrap_or_default(),
        }
    }

    /// Revokes an opaque token, as its revocation endpoint would: from now on introspection
    /// answers `active: false` for it.
    pub fn revoke(&self, token: &str) {
        self.state
            .opaque
            .tokens
            .write()
            .expect("lock")
            .remove(token);
    }

    /// The introspection endpoint, `{issuer}oauth/introspect`, also advertised by discovery
    /// as `introspection_endpoint`.
    pub fn introspection_endpoint(&self) -> String {
        format!("{}oauth/introspect", self.issuer())
    }

    /// The revocation endpoint (RFC 7009), `{issuer}oauth/revoke`, also advertised by
    /// discovery as `revocation_endpoint`.
    pub fn revocation_endpoint(&self) -> String {
        format!("{}oauth/revoke", self.issuer())
    }

    /// How many requests the introspection endpoint received (answered or not).
    pub fn introspection_requests(&self) -> usize {
        self.state.opaque.introspections.load(Ordering::SeqCst)
    }

    /// The most introspection requests the endpoint was answering at once (with
    /// [`set_delay`](Self::set_delay), how many calls the API had in flight).
    pub fn max_concurrent_introspections(&self) -> usize {
        self.state.opaque.max_concurrent.load(Ordering::SeqCst)
    }

    /// How many requests the revocation endpoint received.
    pub fn revocation_requests(&self) -> usize {
        self.state.opaque.revocations.load(Ordering::SeqCst)
    }

    /// Signs introspection responses (RFC 9701) from now on, for callers that ask for them
    /// with `Accept: application/token-introspection+jwt`: discovery then advertises
    /// `introspection_signing_alg_values_supported: ["RS256"]`, and the response is a JWT
    /// signed by the current key, `typ: token-introspection+jwt`, with `iss`, `aud` (the
    /// caller's client id), `iat` and the response in `token_introspection`.
    pub fn set_signed_introspection(&self, signed: bool) {
        self.state
            .opaque
            .signed_responses
            .store(signed, Ordering::SeqCst);
    }

    /// Sets members of the envelope of every signed introspection answer from now on (a
    /// `null` value removes the member), as a faulty or hostile issuer would: `aud` naming
    /// another party, an old `iat`, ... `None` restores the honest envelope.
    pub fn set_signed_introspection_envelope(&self, members: Option<Value>) {
        let members = members
            .and_then(|members| members.as_object().cloned())
            .unwrap_or_default();
        *self.state.opaque.envelope.write().expect("lock") = members;
    }

    /// Answers introspection with plain JSON even when a signed answer was asked for (while
    /// discovery still advertises signing), as an attacker on the path who strips the
    /// signature would.
    pub fn set_introspection_downgrade(&self, downgrade: bool) {
        self.state
            .opaque
            .downgrade
            .store(downgrade, Ordering::SeqCst);
    }
}
