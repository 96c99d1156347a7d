//! What can be wrong with a configuration: every problem `build` found, at once.

use std::time::Duration;

use crate::algorithm::Algorithm;

use super::{MAX_LEEWAY, MIN_HMAC_SECRET_BYTES};

/// Everything wrong with a configuration, found by one [`ValidatorBuilder::build`](crate::ValidatorBuilder::build).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bearer-guard configuration: {}", list(.problems))]
pub struct ConfigError {
    problems: Vec<ConfigProblem>,
}

fn list(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ConfigError {
    pub(crate) fn new(problems: Vec<ConfigProblem>) -> Self {
        ConfigError { problems }
    }

    /// Each problem found.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }
}

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// No issuer was set.
    #[error("no issuer is configured")]
    MissingIssuer,
    /// Two validators given to [`Validator::for_issuers`](crate::Validator::for_issuers) have the same issuer.
    #[error("the issuer {0} is configured twice")]
    DuplicateIssuer(String),
    /// The validators given to [`Validator::for_issuers`](crate::Validator::for_issuers)
    /// write refusals differently (`realm`, `resource_metadata`, `initial_scopes`, `error_body`, the DPoP
    /// proof algorithms of those that check proofs): one API answers one way, so set them
    /// alike (build the validators from clones of one builder).
    #[error("the validators combined by for_issuers have different {0} settings")]
    UnequalIssuerSetting(&'static str),
    /// A name in the [scope hierarchy](crate::ValidatorBuilder::scope_hierarchy) or the
    /// [initial scopes](crate::ValidatorBuilder::initial_scopes) is not an RFC 6749 §3.3
    /// scope-token (empty, or a space, `"`, `\\` or a character outside visible ASCII).
    #[error("the scope name {0:?} is not a valid scope-token")]
    InvalidScope(String),
    /// No audience was set.
    #[error("no audience is configured (use your API identifier)")]
    MissingAudience,
    /// An audience is empty or blank.
    #[error("an audience is empty")]
    EmptyAudience,
    /// A URL does not parse, or has a query or fragment.
    #[error("the {0} is not a valid URL")]
    InvalidUrl(&'static str),
    /// A URL is plain http to a host that is not loopback.
    #[error("the {0} must use https (plain http only for loopback hosts)")]
    InsecureUrl(&'static str),
    /// The algorithm list is empty.
    #[error("no algorithm is allowed")]
    NoAlgorithm,
    /// An asymmetric algorithm was allowed in secret mode.
    #[error("{0:?} needs a key set, but a shared secret is configured")]
    AlgorithmNeedsKeySet(Algorithm),
    /// An HMAC algorithm was allowed in key set mode.
    #[error("{0:?} needs a shared secret; key sets verify asymmetric algorithms only")]
    AlgorithmNeedsSecret(Algorithm),
    /// The HMAC secret is shorter than [`MIN_HMAC_SECRET_BYTES`].
    #[error("the HS256 secret has {bytes} bytes; at least {MIN_HMAC_SECRET_BYTES} are required")]
    SecretTooShort {
        /// Its length.
        bytes: usize,
    },
    /// The secret is shorter than the hash output of an allowed HMAC algorithm (RFC 7518
    /// §3.2: 48 bytes for HS384, 64 for HS512).
    #[error("the secret is shorter than the {0:?} hash output")]
    SecretShorterThanHash(Algorithm),
    /// The base64 secret does not decode.
    #[error("the HS256 secret is not valid base64")]
    SecretNotBase64,
    /// Two key sources were given: a secret and a key set URL, or either of them and static
    /// keys.
    #[error(
        "more than one key source (a shared secret, a jwks_uri, static keys) is configured; choose one"
    )]
    SecretAndKeySet,
    /// A static key set document or PEM key that cannot be used: not a JWK set, not a PEM
    /// public key, or no key passing the key policy.
    #[error("the static keys are unusable: {0}")]
    StaticKeys(String),
    /// An introspection endpoint was given without the API's introspection credentials.
    #[error(
        "introspection_endpoint is set but introspection credentials are not (call introspection(client_id, client_secret))"
    )]
    IntrospectionWithoutCredentials,
    /// The introspection client id is empty.
    #[error("the introspection client id is empty")]
    EmptyIntrospectionClient,
    /// Signed introspection answers were asked for, but the key source is a shared secret:
    /// they are verified with the issuer's public keys.
    #[error(
        "introspection_signed_answers needs the issuer's public keys (a key set or static keys), not a shared secret"
    )]
    SignedIntrospectionWithoutKeys,
    /// An [`OpaqueTokenShape`](crate::introspection::OpaqueTokenShape) that cannot be
    /// meant as given, or one given without introspection.
    #[error("an introspection token shape is unsound: {0}")]
    TokenShape(&'static str),
    /// The leeway exceeds [`MAX_LEEWAY`].
    #[error("a leeway of {0:?} is larger than the {MAX_LEEWAY:?} allowed")]
    LeewayTooLarge(Duration),
    /// A limit or duration that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroLimit(&'static str),
    /// The lower TTL bound exceeds the upper one.
    #[error("the lower bound of jwks_ttl_bounds exceeds the upper bound")]
    TtlBoundsReversed,
    /// A duration setting exceeds its bound.
    #[error("{setting} may be at most {max:?}")]
    DurationTooLong {
        /// The builder method that sets it.
        setting: &'static str,
        /// Its bound.
        max: Duration,
    },
    /// A duration setting is below its lower bound: a cooldown or key set lifetime shorter
    /// than that would let an issuer (`Cache-Control: no-cache`) or a stream of unknown
    /// `kid`s drive fetches in a tight loop.
    #[error("{setting} must be at least {min:?}")]
    DurationTooShort {
        /// The builder method that sets it.
        setting: &'static str,
        /// Its bound.
        min: Duration,
    },
    /// DPoP is required but the API's public URI cannot be known: set
    /// [`Dpop::public_url`](crate::dpop::Dpop::public_url) (or a trusted proxy).
    #[error("DPoP is required but no public_url (or trusted proxy) says what htu to expect")]
    DpopNeedsPublicUrl,
    /// An algorithm that is not asymmetric was allowed for DPoP proofs, or none was.
    #[error("DPoP proofs take asymmetric algorithms only, at least one")]
    DpopAlgorithm,
    /// The DPoP nonce secret is shorter than 32 bytes.
    #[error("the DPoP nonce secret must have at least 32 bytes")]
    DpopNonceSecretTooShort,
    /// A decryption key (for encrypted tokens) that cannot be used: not a PEM `PRIVATE KEY`
    /// or `RSA PRIVATE KEY`, not a private RSA JWK with all its parts, smaller than 2048
    /// bits, marked for another use or algorithm; or any key without the `aws-lc-rs`
    /// backend. The text names the key by its `kid` or position, never its content.
    #[error("a decryption key is unusable: {0}")]
    DecryptionKey(String),
    /// Two decryption keys have the same `kid`: a token could not say which one it needs.
    #[error("two decryption keys have the kid {0:?}")]
    DuplicateDecryptionKeyId(String),
    /// [`encryption_algorithms`](crate::ValidatorBuilder::encryption_algorithms) was given
    /// an empty list, or given without any decryption key.
    #[error("encryption_algorithms needs at least one pair and at least one decryption key")]
    EncryptionAlgorithms,
    /// The crypto backend is missing or broken.
    #[error("{0}")]
    CryptoBackend(&'static str),
    /// The default HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(String),
    /// The template given to [`Validator::resolved_issuers`](crate::Validator::resolved_issuers)
    /// sets an issuer: the [`IssuerResolver`](crate::resolver::IssuerResolver) names them.
    #[error("the template of resolved issuers sets an issuer; the resolver names them")]
    IssuerInTemplate,
    /// An issuer template does not carry `{tenantid}` exactly once, or is no allowed URL
    /// once filled in.
    #[error("the issuer template {0:?} needs {{tenantid}} exactly once in an https URL")]
    InvalidIssuerTemplate(String),
    /// A listed tenant id is not one: see [`IssuerResolver::template`](crate::resolver::IssuerResolver::template).
    #[error("{0:?} is not a tenant id (1 to 64 of A-Z a-z 0-9 - _ ., no leading dot, no ..)")]
    InvalidTenantId(String),
    /// A validator of resolved issuers was given to
    /// [`Validator::for_issuers`](crate::Validator::for_issuers): list its issuers in its
    /// resolver instead.
    #[error("for_issuers cannot combine a validator of resolved issuers")]
    ResolvedIssuersCombined,
    /// An issuer template without a tenant claim
    /// ([`IssuerResolver::without_tenant_claim`](crate::IssuerResolver::without_tenant_claim))
    /// whose keys are one set for every tenant (a `jwks_uri`, static keys or a shared secret
    /// on the template): a token of one tenant would then pass for any other's.
    #[error(
        "an issuer template whose tenants share one key set needs a tenant claim (tid): a token of one tenant would pass for another's"
    )]
    SharedKeysWithoutTenantClaim,
    /// Decryption keys were given to a validator of several issuers (`for_issuers`, or the
    /// template of resolved issuers). An encrypted token's `iss` is inside the encryption,
    /// so it cannot choose its issuer; rather than refuse every encrypted token at run
    /// time, this is refused up front.
    #[error(
        "decryption keys need a validator of one issuer: an encrypted token's iss cannot choose among several"
    )]
    DecryptionWithSeveralIssuers,
}
