//! Why a request was refused: [`AuthError`] and the problems it names ([`TokenProblem`],
//! [`RequestProblem`], [`Claim`]), each with a fixed description that never echoes the token.
//!
//! This module says only what went wrong. How a refusal is written (status,
//! `WWW-Authenticate` challenge, body, gRPC status) is decided in one place, `respond.rs`.

use std::fmt;
use std::time::Duration;

/// A request that bearer-guard refused.
///
/// Convert it into a response with [`AuthError::to_response`] (or, with the `axum` feature,
/// return it from a handler: it implements `IntoResponse`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header, or one with another scheme (`Basic ...`): 401 with a bare
    /// `Bearer` challenge, so the client learns which scheme to use.
    #[error("no bearer token in the request")]
    MissingToken,
    /// The `Authorization` header is not a well-formed bearer credential: 400 `invalid_request`.
    #[error("malformed bearer credentials: {0}")]
    InvalidRequest(RequestProblem),
    /// A token was presented and failed validation: 401 `invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(TokenProblem),
    /// The token is valid but lacks the scopes the route needs: 403 `insufficient_scope`.
    #[error("insufficient scope: requires {required}")]
    InsufficientScope {
        /// The scopes the route asks for, space-delimited, as in the `scope` challenge parameter.
        required: String,
    },
    /// A [`ClaimRule`](crate::ClaimRule) refused the token: 401 `invalid_token`, or 403
    /// `insufficient_scope` for rules made with
    /// [`or_forbidden`](crate::ClaimRule::or_forbidden).
    #[error("claim rule failed: {description}")]
    RuleFailed {
        /// The rule's description, sent as `error_description`.
        description: String,
        /// Whether the answer is 403 `insufficient_scope` rather than 401.
        insufficient_scope: bool,
    },
    /// The token is valid, but the user authentication behind it is not the one the route
    /// needs (its `acr`, `amr`) or not recent enough (its `auth_time`): 401
    /// `insufficient_user_authentication` with the route's `acr_values` and `max_age`, so that
    /// the client authenticates the user again (RFC 9470 §3).
    #[error("insufficient user authentication: {}", .0.description)]
    InsufficientUserAuthentication(Box<StepUp>),
    /// No key set could be obtained from the issuer yet: 503 with `Retry-After`.
    #[error("the issuer's signing keys are unavailable")]
    KeysUnavailable {
        /// When the client may try again.
        retry_after: Duration,
    },
    /// The DPoP proof of the request failed a check of RFC 9449 §4.3: 401
    /// `invalid_dpop_proof` on the `DPoP` challenge.
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(DpopProblem),
    /// The API requires server nonces and the proof has none, or a stale or forged one: 401
    /// `use_dpop_nonce` with this nonce in the `DPoP-Nonce` header (RFC 9449 §9).
    #[error("a fresh DPoP nonce is required")]
    UseDpopNonce {
        /// The nonce the client must put in its next proof.
        nonce: String,
    },
    /// The DPoP replay store could not be reached or failed: 503 with `Retry-After` (unless
    /// the API is configured to fail open).
    #[error("the DPoP replay store is unavailable")]
    ReplayStoreUnavailable {
        /// When the client may try again.
        retry_after: Duration,
    },
    /// The token can only be decided after fetching the key set or introspecting it, which
    /// run as Tokio tasks, and the validation is not running inside a Tokio runtime: 503, and
    /// a message saying so (instead of a panic).
    #[error("no Tokio runtime is running to fetch the issuer's keys or introspect the token")]
    NoRuntime,
    /// The issuer's introspection endpoint could not decide an opaque token (unreachable,
    /// 5xx, a timeout, a malformed answer, or the API's own credentials refused): 503 with
    /// `Retry-After`. The token is never accepted then.
    #[error("the issuer's token introspection is unavailable")]
    IntrospectionUnavailable {
        /// When the client may try again.
        retry_after: Duration,
    },
}

/// What a step-up refusal ([`AuthError::InsufficientUserAuthentication`]) tells the client:
/// the RFC 9470 challenge parameters. Boxed in the error, which stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepUp {
    /// What fell short, sent as `error_description` (fixed text, never token content).
    pub description: &'static str,
    /// The acceptable `acr` values, space-delimited in order of preference, as in the
    /// `acr_values` challenge parameter.
    pub acr_values: Option<String>,
    /// The most seconds allowed since the user last authenticated, as in the `max_age`
    /// challenge parameter.
    pub max_age: Option<u64>,
}

/// Why a DPoP proof was refused (401 `invalid_dpop_proof`): one named problem for each check
/// of RFC 9449 §4.3. The `Display` text is the `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopProblem {
    /// The `DPoP` scheme without a `DPoP` header.
    #[error("the DPoP proof is missing")]
    Missing,
    /// More than one `DPoP` header.
    #[error("more than one DPoP proof")]
    SeveralProofs,
    /// Not a compact JWS of three base64url segments (or larger than accepted).
    #[error("the DPoP proof is not a compact JWS")]
    Malformed,
    /// The JOSE header is not a JSON object of the expected shape (or has `crit`).
    #[error("the DPoP proof header is malformed")]
    MalformedHeader,
    /// `typ` is not `dpop+jwt`.
    #[error("the DPoP proof type is not dpop+jwt")]
    WrongType,
    /// `alg` is not on the allow-list (never `none` or an HMAC).
    #[error("the DPoP proof algorithm is not accepted")]
    AlgorithmNotAllowed,
    /// No `jwk` in the header, or not a JSON object.
    #[error("the DPoP proof has no public key")]
    MissingKey,
    /// The `jwk` holds private key members (`d`, `p`, `q`, ...) or a symmetric key.
    #[error("the DPoP proof key is not a public key")]
    PrivateKey,
    /// The `jwk` fails the key policy or does not fit `alg`.
    #[error("the DPoP proof key is not usable")]
    UnusableKey,
    /// The signature does not verify under the embedded `jwk`.
    #[error("the DPoP proof signature is invalid")]
    InvalidSignature,
    /// The payload is not a JSON object (or repeats a claim name).
    #[error("the DPoP proof claims are malformed")]
    MalformedClaims,
    /// No `jti`, or not a non-empty string of at most 256 characters.
    #[error("the DPoP proof lacks a valid jti")]
    MissingJti,
    /// No `htm`, or not a string.
    #[error("the DPoP proof lacks htm")]
    MissingHtm,
    /// No `htu`, or not a string.
    #[error("the DPoP proof lacks htu")]
    MissingHtu,
    /// No `iat`, or not a number.
    #[error("the DPoP proof lacks iat")]
    MissingIat,
    /// No `ath`, or not a string.
    #[error("the DPoP proof lacks ath")]
    MissingAth,
    /// `htm` is not the request's method.
    #[error("the DPoP proof is for another method")]
    WrongMethod,
    /// `htu` is not the request's URI (after normalisation).
    #[error("the DPoP proof is for another URI")]
    WrongUri,
    /// The API cannot know the request's public URI (no public URL configured, or the trusted
    /// proxy's headers are missing), so no proof can be checked.
    #[error("this API cannot check the URI of DPoP proofs")]
    UnknownUri,
    /// `iat` is older than the accepted window.
    #[error("the DPoP proof is too old")]
    Stale,
    /// `iat` is further in the future than the accepted skew.
    #[error("the DPoP proof was issued in the future")]
    IssuedInFuture,
    /// `ath` is not the hash of the access token.
    #[error("the DPoP proof is for another access token")]
    WrongAth,
    /// The proof's key is not the key the token is bound to (`cnf.jkt`).
    #[error("the DPoP proof key is not the key the token is bound to")]
    KeyMismatch,
    /// This proof was already used (its `jti` for this URI, within its window).
    #[error("the DPoP proof was already used")]
    Replayed,
}

/// What is wrong with the `Authorization` header itself (400 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestProblem {
    /// `Bearer` with no token after it.
    #[error("the bearer token is empty")]
    EmptyToken,
    /// More than one token after `Bearer`.
    #[error("more than one bearer token")]
    SeveralTokens,
    /// Characters outside the RFC 6750 `b64token` syntax.
    #[error("the bearer token has characters outside the b64token syntax")]
    InvalidCharacters,
    /// Several `Authorization` headers.
    #[error("more than one Authorization header")]
    SeveralAuthorizationHeaders,
    /// A token in more than one place (header, cookie, query, ...).
    #[error("the request carries a token in more than one place")]
    TokenInSeveralPlaces,
}

/// A standard claim, named in token problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// `iss`
    Issuer,
    /// `aud`
    Audience,
    /// `exp`
    ExpiresAt,
    /// `nbf`
    NotBefore,
    /// `iat`
    IssuedAt,
    /// `sub`
    Subject,
    /// `scope`, `scp` or `permissions`
    Scope,
    /// `client_id`
    ClientId,
    /// `jti`
    TokenId,
    /// `cnf` (RFC 7800): the key or certificate the token is bound to.
    Confirmation,
    /// `act` (RFC 8693 §4.1): the delegation chain of an exchanged token.
    Actor,
}

impl Claim {
    /// The claim's name in the token.
    pub fn name(self) -> &'static str {
        match self {
            Claim::Issuer => "iss",
            Claim::Audience => "aud",
            Claim::ExpiresAt => "exp",
            Claim::NotBefore => "nbf",
            Claim::IssuedAt => "iat",
            Claim::Subject => "sub",
            Claim::Scope => "scope",
            Claim::ClientId => "client_id",
            Claim::TokenId => "jti",
            Claim::Confirmation => "cnf",
            Claim::Actor => "act",
        }
    }
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a presented token was rejected (401 `invalid_token`).
///
/// The `Display` text is the `error_description`: short, fixed and free of token content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenProblem {
    /// Longer than the configured size cap; rejected before decoding.
    #[error("the token is larger than the accepted size")]
    TooLarge,
    /// Not three base64url segments separated by dots.
    #[error("the token is not a compact JWS")]
    Malformed,
    /// Five segments: an encrypted token (JWE).
    #[error("encrypted tokens are not accepted")]
    Encrypted,
    /// The header is not a JSON object of the expected shape.
    #[error("the token header is malformed")]
    MalformedHeader,
    /// `alg` is not on the allow-list (this includes `none` in any letter case).
    #[error("the token algorithm is not accepted")]
    AlgorithmNotAllowed,
    /// `crit` names extensions this crate does not implement.
    #[error("the token has critical header parameters that are not supported")]
    UnsupportedCritical,
    /// An encrypted token (JWE) that cannot be decrypted: no configured key has its `kid`
    /// (or it has none and several keys are configured), or the key, the content key's
    /// padding, the IV or the authentication tag is wrong. One problem for all of them, so
    /// that the answer is no oracle.
    #[error("the encrypted token cannot be decrypted")]
    Undecryptable,
    /// An encrypted token with `zip` (compressed plaintext): refused before decryption.
    #[error("compressed encrypted tokens are not accepted")]
    Compressed,
    /// `b64: false` (RFC 7797 unencoded payload).
    #[error("unencoded payloads are not accepted")]
    UnencodedPayload,
    /// `cty: JWT`: a nested token.
    #[error("nested tokens are not accepted")]
    Nested,
    /// No key in the issuer's key set has the token's `kid`.
    #[error("no signing key matches the token")]
    UnknownKey,
    /// No `kid`, and the key set has more than one key usable for the algorithm.
    #[error("the token has no key id and the key set has several keys")]
    AmbiguousKey,
    /// The key named by `kid` cannot verify this algorithm (family, curve or JWK `alg`).
    #[error("the signing key does not fit the token algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("the token signature is invalid")]
    InvalidSignature,
    /// The payload is not a JSON object (or repeats a claim name).
    #[error("the token claims are malformed")]
    MalformedClaims,
    /// A required claim is absent.
    #[error("the token lacks a required claim")]
    MissingClaim(Claim),
    /// A claim has the wrong type or an unusable value.
    #[error("a token claim has an invalid value")]
    InvalidClaim(Claim),
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// `iss` is not the configured issuer.
    #[error("the token issuer is not accepted")]
    WrongIssuer,
    /// `aud` does not contain a configured audience.
    #[error("the token is not intended for this API")]
    WrongAudience,
    /// The token is not an access token: its `typ` names another kind of JWT (`dpop+jwt`,
    /// `logout+jwt`, ... in every mode), or, in RFC 9068 strict mode, is not `at+jwt`.
    #[error("the token is not a JWT access token (typ at+jwt)")]
    NotAnAccessToken,
    /// Introspection: the issuer says the token is not active (unknown, revoked or expired).
    #[error("the token is not active")]
    Inactive,
    /// The `DPoP` scheme with a token that is not bound to a DPoP key (no `cnf.jkt`).
    #[error("the DPoP scheme needs a DPoP-bound token")]
    NotDpopBound,
    /// The token is bound to a client certificate and the request has none.
    #[error("the token is bound to a client certificate and none was presented")]
    CertificateMissing,
    /// The request's client certificate is not the one the token is bound to.
    #[error("the client certificate is not the one the token is bound to")]
    CertificateMismatch,
    /// The token is bound to a DPoP key (`cnf.jkt`, RFC 9449) but was not presented with the
    /// `DPoP` scheme and a proof of that key: a bearer use of a sender-constrained token
    /// (§7.2, the downgrade) is refused in every mode.
    #[error("the token is bound to a DPoP key and needs the DPoP scheme and a proof")]
    DpopBound,
    /// The token is bound to a client certificate (`cnf["x5t#S256"]`, RFC 8705) and this API
    /// does not check certificate bindings: it cannot be used as a bearer token.
    #[error("the token is bound to a client certificate this API does not check")]
    CertificateBound,
    /// The token's `cnf` claim (RFC 7800) names no confirmation method this crate checks
    /// (only `jwk`, `kid`, `x5t`, `jwe`, ..., or nothing): it is bound to something no one
    /// would verify, so it is refused rather than accepted as a bearer token.
    #[error("the token is bound to its sender by a method this API cannot check")]
    UnknownConfirmation,
    /// The token's issuer does not take tokens presented with this authorization scheme:
    /// with several issuers, one that requires DPoP refuses its tokens as `Bearer`, and one
    /// that checks no DPoP proofs refuses the `DPoP` scheme.
    #[error("the token's issuer does not accept this authorization scheme")]
    SchemeNotAccepted,
    /// The claims do not have the shape the API's handler expects.
    #[error("the token claims do not have the shape this API expects")]
    UnexpectedClaims,
    /// The token's issuer is accepted, but not on this request: with issuers resolved per
    /// request, the request (its host, say) belongs to another tenant.
    #[error("the token's issuer is not the tenant this request is for")]
    WrongTenant,
    /// The token's tenant claim (`tid` unless
    /// [`IssuerResolver::tenant_claim`](crate::IssuerResolver::tenant_claim) names another) is
    /// missing or names another tenant than its `iss`: with an issuer template
    /// (`{tenantid}`), both must name the same tenant.
    #[error("the token's tenant claim does not name the tenant of its issuer")]
    TenantMismatch,
}

impl TokenProblem {
    /// A description for the challenge, naming the claim where there is one.
    fn description(self) -> String {
        match self {
            TokenProblem::MissingClaim(claim) => format!("the token lacks the {claim} claim"),
            TokenProblem::InvalidClaim(claim) => format!("the {claim} claim is invalid"),
            other => other.to_string(),
        }
    }
}

impl AuthError {
    /// The human-readable `error_description`: fixed text, never token content.
    pub fn description(&self) -> String {
        match self {
            AuthError::MissingToken => "a bearer token is required".to_owned(),
            AuthError::InvalidRequest(problem) => problem.to_string(),
            AuthError::InvalidToken(problem) => problem.description(),
            AuthError::InsufficientScope { .. } => {
                "the token does not have the scopes this resource requires".to_owned()
            }
            AuthError::RuleFailed { description, .. } => description.clone(),
            AuthError::InsufficientUserAuthentication(step_up) => step_up.description.to_owned(),
            AuthError::KeysUnavailable { .. } => {
                "the issuer's signing keys are unavailable; try again later".to_owned()
            }
            AuthError::InvalidDpopProof(problem) => problem.to_string(),
            AuthError::UseDpopNonce { .. } => {
                "a DPoP proof with the server's nonce is required".to_owned()
            }
            AuthError::ReplayStoreUnavailable { .. } => {
                "DPoP proofs cannot be checked right now; try again later".to_owned()
            }
            AuthError::IntrospectionUnavailable { .. } => {
                "the issuer's token introspection is unavailable; try again later".to_owned()
            }
            AuthError::NoRuntime => {
                "the token cannot be checked right now: the server runs no Tokio runtime".to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_problems_name_the_claim() {
        let error = AuthError::InvalidToken(TokenProblem::MissingClaim(Claim::ExpiresAt));
        assert_eq!(error.description(), "the token lacks the exp claim");
    }
}
