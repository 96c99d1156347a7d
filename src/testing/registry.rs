//! What an authorization server knows of its APIs and machine clients: the APIs with their
//! scopes and signing, the clients with their secrets, and the grants between them.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::EncryptionKey;
use crate::Algorithm;

/// How long an access token from the token endpoint lives unless the [`Api`] says otherwise:
/// 86,400 s, Auth0's default "Token Expiration" for an API.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// The `grant_type` of the client credentials grant.
pub(super) const CLIENT_CREDENTIALS: &str = "client_credentials";

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
    pub(super) identifier: String,
    pub(super) secret: Option<Vec<u8>>,
    pub(super) scopes: Vec<String>,
    pub(super) token_lifetime: Duration,
    pub(super) rfc9068: bool,
    pub(super) opaque: bool,
    pub(super) encryption: Option<EncryptionKey>,
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
            .field(
                "encryption_kid",
                &self.encryption.as_ref().map(EncryptionKey::kid),
            )
            .finish_non_exhaustive()
    }
}

impl Api {
    /// An API with this identifier (the `audience`), signing its tokens with RS256 (the
    /// issuer's current key, as [`TestIssuer::token`](super::TestIssuer::token) does), with no scopes yet.
    pub fn new(identifier: impl Into<String>) -> Self {
        Api {
            identifier: identifier.into(),
            secret: None,
            scopes: Vec::new(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            rfc9068: false,
            opaque: false,
            encryption: None,
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
    /// endpoint answers with, until they are revoked.
    pub fn opaque_tokens(mut self) -> Self {
        self.opaque = true;
        self
    }

    /// Encrypts the API's access tokens to `key` (Auth0's "JSON Web Encryption" setting of an
    /// API): the signed token goes out as a compact JWE, `RSA-OAEP-256` and `A256GCM`, with
    /// the key's `kid` and `cty: JWT` in its header. The validator decrypts them with the
    /// private key ([`decryption_key_pem`](crate::ValidatorBuilder::decryption_key_pem)).
    pub fn encrypted_to(mut self, key: EncryptionKey) -> Self {
        self.encryption = Some(key);
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

/// A random `jti`: 16 bytes, base64url.
pub(in crate::testing) fn random_id() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// APIs, clients and grants: what the token endpoint decides by.
#[derive(Default)]
pub(super) struct Registry {
    pub(super) apis: HashMap<String, Api>,
    /// Client id to secret.
    pub(super) clients: HashMap<String, Vec<u8>>,
    /// (client id, API identifier) to the scopes granted.
    pub(super) grants: HashMap<(String, String), Vec<String>>,
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub(super) fn is_scope_token(scope: &str) -> bool {
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
