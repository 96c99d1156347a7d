//! Building a [`Validator`]: every setting, checked all at once by [`ValidatorBuilder::build`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::Algorithm;
use reqwest::Url;

use crate::error::AuthError;
use crate::jwks::{self, CacheSettings, JwksCache, JwksLocation};
use crate::keys::KeySet;
use crate::respond::{BodyHook, ErrorBody, Responder};
use crate::rules::ClaimRule;
use crate::scope::ScopeClaims;
use crate::token_cache::TokenCache;
use crate::validate::Rules;
use crate::validator::{Issuer, Keys, Validator};

/// The shortest HMAC secret accepted: RFC 7518 §3.2 asks for a key at least as long as the
/// hash output (32 bytes for HS256).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;
/// The largest leeway accepted: beyond this, "expired" stops meaning much.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// The default budget of the verified-token cache: about 10,000 typical access tokens.
pub const DEFAULT_TOKEN_CACHE_BYTES: u64 = 32 << 20;

const DAY: Duration = Duration::from_secs(24 * 3600);
/// The bounds of the duration settings: past them a setting means nothing useful, and every
/// sum of them stays far from overflowing a clock.
const DURATION_BOUNDS: [(&str, Duration); 5] = [
    ("jwks_ttl", Duration::from_secs(7 * 24 * 3600)),
    ("jwks_ttl_bounds", Duration::from_secs(7 * 24 * 3600)),
    ("stale_if_error", Duration::from_secs(7 * 24 * 3600)),
    ("refetch_cooldown", Duration::from_secs(3600)),
    ("fetch_timeout", Duration::from_secs(60)),
];

/// Builds a [`Validator`]. Start from [`Validator::builder`] or a preset such as
/// [`Validator::auth0`].
///
/// Defaults: key set by discovery from the issuer, `RS256` (or `HS256` with a secret),
/// 60 s leeway, 16 KiB token cap, scopes from `scope` and `scp`; key set TTL 10 min
/// (`max-age` honoured within 1 min to 24 h), stale-if-error 24 h, refetch cooldown 30 s,
/// fetch timeout 5 s, body cap 1 MiB, at most 100 keys; verified-token cache of 32 MiB.
#[derive(Clone)]
#[must_use]
pub struct ValidatorBuilder {
    issuer: Option<String>,
    audiences: Vec<String>,
    algorithms: Option<Vec<Algorithm>>,
    leeway: Duration,
    jwks_uri: Option<String>,
    /// Set by a preset, and replaced by a secret given afterwards.
    jwks_uri_from_preset: bool,
    secret: Option<Secret>,
    http_client: Option<reqwest::Client>,
    scope_claims: ScopeClaims,
    max_token_bytes: usize,
    cache: CacheSettings,
    realm: Option<String>,
    token_cache_bytes: u64,
    rfc9068: bool,
    claim_rules: Vec<ClaimRule>,
    resource_metadata: Option<String>,
    error_body: Option<Arc<BodyHook>>,
}

#[derive(Clone)]
enum Secret {
    Bytes(Vec<u8>),
    NotBase64,
}

impl fmt::Debug for ValidatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorBuilder")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .field("jwks_uri", &self.jwks_uri)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("scope_claims", &self.scope_claims)
            .finish_non_exhaustive()
    }
}

impl Default for ValidatorBuilder {
    fn default() -> Self {
        ValidatorBuilder {
            issuer: None,
            audiences: Vec::new(),
            algorithms: None,
            leeway: Duration::from_secs(60),
            jwks_uri: None,
            jwks_uri_from_preset: false,
            secret: None,
            http_client: None,
            scope_claims: ScopeClaims::default(),
            max_token_bytes: 16 * 1024,
            cache: CacheSettings {
                ttl: Duration::from_secs(600),
                min_ttl: Duration::from_secs(60),
                max_ttl: DAY,
                stale_if_error: DAY,
                refetch_cooldown: Duration::from_secs(30),
                timeout: Duration::from_secs(5),
                max_body_bytes: 1024 * 1024,
                max_keys: 100,
            },
            realm: None,
            token_cache_bytes: DEFAULT_TOKEN_CACHE_BYTES,
            rfc9068: false,
            claim_rules: Vec::new(),
            resource_metadata: None,
            error_body: None,
        }
    }
}

impl ValidatorBuilder {
    /// The issuer, exactly as tokens carry it in `iss` (Auth0: `https://{domain}/`, with the
    /// trailing slash). Must be `https`, or `http` on a loopback host.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Adds an accepted audience: your API identifier (Auth0: the API's "Identifier").
    /// A token is accepted when its `aud` contains any of the configured audiences.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The accepted signature algorithms, replacing the default (`RS256`, or `HS256` with a
    /// secret). Key set mode takes asymmetric algorithms only, secret mode `HS*` only.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Clock skew allowed on `exp`, `nbf` and `iat` (default 60 s, at most 5 min).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The key set URL, instead of discovering it from the issuer.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self.jwks_uri_from_preset = false;
        self
    }

    /// Verify `HS256` tokens with this shared secret instead of a key set. The secret is the
    /// raw bytes of the string, as Auth0 shows an API's signing secret; at least 32 bytes.
    pub fn hs256_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.secret = Some(Secret::Bytes(secret.into()));
        self.drop_preset_key_set();
        self
    }

    fn drop_preset_key_set(&mut self) {
        if self.jwks_uri_from_preset {
            self.jwks_uri = None;
            self.jwks_uri_from_preset = false;
        }
    }

    /// Like [`hs256_secret`](Self::hs256_secret), for a secret given base64-encoded
    /// (standard or URL-safe alphabet, padding optional).
    pub fn hs256_secret_base64(mut self, encoded: &str) -> Self {
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        let trimmed = encoded.trim().trim_end_matches('=');
        let decoded = URL_SAFE_NO_PAD
            .decode(trimmed)
            .or_else(|_| STANDARD_NO_PAD.decode(trimmed));
        self.secret = Some(match decoded {
            Ok(bytes) => Secret::Bytes(bytes),
            Err(_) => Secret::NotBase64,
        });
        self.drop_preset_key_set();
        self
    }

    /// The HTTP client for discovery and key set fetches (proxy, extra root CA, ...). The
    /// default one follows redirects only within the same origin and times out after 5 s.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Which claims carry scopes (default: `scope` and `scp`).
    pub fn scope_claims(mut self, claims: ScopeClaims) -> Self {
        self.scope_claims = claims;
        self
    }

    /// The largest token accepted, checked before any decoding (default 16 KiB).
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// How long a fetched key set is fresh when the issuer sends no `Cache-Control:
    /// max-age` (default 10 min, at most 7 days). The key set is refreshed in the background
    /// before then.
    pub fn jwks_ttl(mut self, ttl: Duration) -> Self {
        self.cache.ttl = ttl;
        self
    }

    /// The bounds an issuer's `Cache-Control: max-age` is clamped to (default 1 min to 24 h;
    /// the upper bound at most 7 days); `no-cache` and `no-store` count as the lower bound.
    pub fn jwks_ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.cache.min_ttl = min;
        self.cache.max_ttl = max;
        self
    }

    /// How long past its freshness the last good key set keeps verifying tokens while the
    /// issuer cannot be reached or answers garbage (default 24 h, at most 7 days). After
    /// that, requests get 503 until a fetch succeeds.
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.cache.stale_if_error = window;
        self
    }

    /// The largest key set or metadata document accepted (default 1 MiB).
    pub fn max_jwks_bytes(mut self, bytes: usize) -> Self {
        self.cache.max_body_bytes = bytes;
        self
    }

    /// The most keys a key set may have; a larger one is refused whole (default 100).
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.cache.max_keys = keys;
        self
    }

    /// The least time between two fetches caused by unknown `kid`s (default 30 s, at most
    /// 1 h). A token signed with a key the issuer just published is accepted at the latest
    /// one cooldown after it is first seen.
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.cache.refetch_cooldown = cooldown;
        self
    }

    /// The total time a discovery or key set request may take (default 5 s, at most 60 s).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.cache.timeout = timeout;
        self
    }

    /// The memory budget of the verified-token cache, in bytes (default 32 MiB; `0` turns
    /// the cache off).
    ///
    /// A token that passed every check is served from this cache until it expires: its time
    /// claims are rechecked on each hit and the entry is not used once its key has left the
    /// key set. Each entry is weighed as the token's length plus an estimate of its decoded
    /// claims in memory: about 2-3 KiB for a typical access token (so the default holds
    /// about 10,000), but far more for a large token of many small JSON values, which is why
    /// the budget is in bytes rather than entries.
    pub fn token_cache_bytes(mut self, bytes: u64) -> Self {
        self.token_cache_bytes = bytes;
        self
    }

    /// RFC 9068 strict mode: the header's `typ` must be `at+jwt` (or `application/at+jwt`,
    /// in any letter case), and `sub`, `client_id`, `iat` and `jti` are required besides
    /// `iss`, `exp` and `aud`. This refuses ID tokens and other JWTs presented as access
    /// tokens. Off by default because Auth0 and several other issuers send `typ: JWT`.
    pub fn rfc9068(mut self) -> Self {
        self.rfc9068 = true;
        self
    }

    /// Adds a rule every token must meet on every route (see [`ClaimRule`]); rules for
    /// single routes go in [`RequireClaims`](crate::RequireClaims).
    pub fn claim_rule(mut self, rule: ClaimRule) -> Self {
        self.claim_rules.push(rule);
        self
    }

    /// Adds `resource_metadata="{url}"` to every challenge (RFC 9728 §5.1): the URL of this
    /// API's protected resource metadata, from which OAuth 2.1 and MCP clients learn where to
    /// get a token. Serve the document with
    /// [`ProtectedResourceMetadata`](crate::ProtectedResourceMetadata).
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Writes the body of every refusal with `hook` (your API's error format, RFC 9457
    /// problem details, ...). The status code, the `WWW-Authenticate` challenge and
    /// `Retry-After` stay as the behaviour contract says; only the body changes.
    pub fn error_body(
        mut self,
        hook: impl Fn(&AuthError) -> ErrorBody + Send + Sync + 'static,
    ) -> Self {
        self.error_body = Some(Arc::new(hook));
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenges.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Checks the whole configuration and reports every problem at once.
    pub fn build(self) -> Result<Validator, ConfigError> {
        let mut problems = Vec::new();

        let issuer = match &self.issuer {
            None => {
                problems.push(ConfigProblem::MissingIssuer);
                None
            }
            Some(issuer) => match check_url(issuer, "issuer") {
                Ok(_) => Some(issuer.clone()),
                Err(problem) => {
                    problems.push(problem);
                    None
                }
            },
        };
        if self.audiences.is_empty() {
            problems.push(ConfigProblem::MissingAudience);
        }
        if self.audiences.iter().any(|aud| aud.trim().is_empty()) {
            problems.push(ConfigProblem::EmptyAudience);
        }

        let secret = match &self.secret {
            None => None,
            Some(Secret::NotBase64) => {
                problems.push(ConfigProblem::SecretNotBase64);
                None
            }
            Some(Secret::Bytes(bytes)) => {
                if bytes.len() < MIN_HMAC_SECRET_BYTES {
                    problems.push(ConfigProblem::SecretTooShort { bytes: bytes.len() });
                }
                Some(bytes)
            }
        };
        if secret.is_some() && self.jwks_uri.is_some() {
            problems.push(ConfigProblem::SecretAndKeySet);
        }
        let jwks_uri = self
            .jwks_uri
            .as_deref()
            .and_then(|uri| match check_url(uri, "jwks_uri") {
                Ok(url) => Some(url),
                Err(problem) => {
                    problems.push(problem);
                    None
                }
            });

        let algorithms = self.algorithms.clone().unwrap_or_else(|| {
            vec![if self.secret.is_some() {
                Algorithm::HS256
            } else {
                Algorithm::RS256
            }]
        });
        if algorithms.is_empty() {
            problems.push(ConfigProblem::NoAlgorithm);
        }
        for &alg in &algorithms {
            let symmetric = matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512);
            if let Some(secret) = secret.filter(|s| s.len() >= MIN_HMAC_SECRET_BYTES) {
                if symmetric && !crate::keys::hmac_secret_fits(secret.len(), alg) {
                    problems.push(ConfigProblem::SecretShorterThanHash(alg));
                }
            }
            if self.secret.is_some() && !symmetric {
                problems.push(ConfigProblem::AlgorithmNeedsKeySet(alg));
            }
            if self.secret.is_none() && symmetric {
                problems.push(ConfigProblem::AlgorithmNeedsSecret(alg));
            }
        }

        if self.leeway > MAX_LEEWAY {
            problems.push(ConfigProblem::LeewayTooLarge(self.leeway));
        }
        if self.max_token_bytes == 0 {
            problems.push(ConfigProblem::ZeroLimit("max_token_bytes"));
        }
        if self.cache.ttl.is_zero() {
            problems.push(ConfigProblem::ZeroLimit("jwks_ttl"));
        }
        if self.cache.timeout.is_zero() {
            problems.push(ConfigProblem::ZeroLimit("fetch_timeout"));
        }
        if self.cache.max_body_bytes == 0 {
            problems.push(ConfigProblem::ZeroLimit("max_jwks_bytes"));
        }
        if self.cache.max_keys == 0 {
            problems.push(ConfigProblem::ZeroLimit("max_keys"));
        }
        if self.cache.min_ttl > self.cache.max_ttl {
            problems.push(ConfigProblem::TtlBoundsReversed);
        }
        let durations = [
            self.cache.ttl,
            self.cache.max_ttl,
            self.cache.stale_if_error,
            self.cache.refetch_cooldown,
            self.cache.timeout,
        ];
        for ((setting, max), value) in DURATION_BOUNDS.into_iter().zip(durations) {
            if value > max {
                problems.push(ConfigProblem::DurationTooLong { setting, max });
            }
        }
        if let Err(error) = crate::backend::self_test() {
            problems.push(ConfigProblem::CryptoBackend(match error {
                crate::backend::BackendError::Missing => {
                    "no crypto backend: enable the `aws-lc-rs` or `rust-crypto` feature"
                }
                crate::backend::BackendError::Rejected => {
                    "the crypto backend failed its known-answer test"
                }
            }));
        }

        let Some(issuer) = issuer.filter(|_| problems.is_empty()) else {
            return Err(ConfigError { problems });
        };
        let keys = match secret {
            Some(secret) => Keys::Secret(Arc::new(KeySet::secret(secret, &algorithms))),
            None => {
                let client = match self.http_client {
                    Some(client) => client,
                    None => default_client(self.cache.timeout).map_err(|error| ConfigError {
                        problems: vec![ConfigProblem::HttpClient(error.to_string())],
                    })?,
                };
                let location = match jwks_uri {
                    Some(uri) => JwksLocation::Uri(uri),
                    None => JwksLocation::Discover {
                        issuer: issuer.clone(),
                    },
                };
                Keys::Jwks(Arc::new(JwksCache::new(
                    &issuer,
                    location,
                    client,
                    self.cache.clone(),
                    algorithms.clone(),
                )))
            }
        };
        let leeway_secs = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        Ok(Validator::from_issuer(Issuer {
            rules: Rules {
                issuer,
                audiences: self.audiences,
                algorithms,
                leeway_secs,
                scope_claims: self.scope_claims,
                rfc9068: self.rfc9068,
            },
            keys,
            max_token_bytes: self.max_token_bytes,
            responder: Responder::new(
                self.realm.as_deref(),
                self.resource_metadata.as_deref(),
                self.error_body,
            ),
            token_cache: (self.token_cache_bytes > 0)
                .then(|| TokenCache::new(self.token_cache_bytes)),
            claim_rules: self.claim_rules,
        }))
    }

    pub(crate) fn auth0(domain: &str, audience: &str) -> Self {
        let host = domain
            .trim()
            .trim_start_matches("https://")
            .trim_end_matches('/');
        let mut builder = ValidatorBuilder::default()
            .issuer(format!("https://{host}/"))
            .jwks_uri(format!("https://{host}/.well-known/jwks.json"))
            .audience(audience)
            .scope_claims(ScopeClaims {
                permissions: true,
                ..ScopeClaims::default()
            });
        // An Auth0 API signed with HS256 has no key set: a secret given later replaces it.
        builder.jwks_uri_from_preset = true;
        builder
    }
}

/// The default HTTP client: same-origin redirects only, connect and total timeouts.
fn default_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(jwks::same_origin_redirects())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("bearer-guard/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Parses a URL and applies the transport rule: https, or http on a loopback host.
fn check_url(raw: &str, role: &'static str) -> Result<Url, ConfigProblem> {
    match Url::parse(raw) {
        Ok(url) if url.query().is_none() && url.fragment().is_none() => {
            if jwks::is_allowed_url(&url) {
                Ok(url)
            } else {
                Err(ConfigProblem::InsecureUrl(role))
            }
        }
        _ => Err(ConfigProblem::InvalidUrl(role)),
    }
}

/// Everything wrong with a configuration, found by one [`ValidatorBuilder::build`].
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
    /// Two validators given to [`Validator::for_issuers`] have the same issuer.
    #[error("the issuer {0} is configured twice")]
    DuplicateIssuer(String),
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
    /// Both a secret and a key set URL were given.
    #[error("both a shared secret and a jwks_uri are configured; choose one")]
    SecretAndKeySet,
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
    /// The crypto backend is missing or broken.
    #[error("{0}")]
    CryptoBackend(&'static str),
    /// The default HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(builder: ValidatorBuilder) -> Vec<ConfigProblem> {
        builder
            .build()
            .err()
            .map(|e| e.problems)
            .unwrap_or_default()
    }

    #[test]
    fn reports_every_problem_at_once() {
        let found = problems(
            ValidatorBuilder::default()
                .issuer("http://issuer.example/")
                .audience(" ")
                .hs256_secret("short")
                .algorithms([Algorithm::RS256])
                .leeway(Duration::from_secs(3600)),
        );
        assert_eq!(
            found,
            [
                ConfigProblem::InsecureUrl("issuer"),
                ConfigProblem::EmptyAudience,
                ConfigProblem::SecretTooShort { bytes: 5 },
                ConfigProblem::AlgorithmNeedsKeySet(Algorithm::RS256),
                ConfigProblem::LeewayTooLarge(Duration::from_secs(3600)),
            ]
        );
    }

    #[test]
    fn issuer_and_audience_are_required() {
        assert_eq!(
            problems(ValidatorBuilder::default()),
            [ConfigProblem::MissingIssuer, ConfigProblem::MissingAudience]
        );
    }

    #[test]
    fn key_set_mode_refuses_hmac_and_empty_algorithm_lists() {
        let base = ValidatorBuilder::default()
            .issuer("https://issuer.example/")
            .audience("api");
        assert_eq!(
            problems(base.clone().algorithms([Algorithm::HS256])),
            [ConfigProblem::AlgorithmNeedsSecret(Algorithm::HS256)]
        );
        assert_eq!(problems(base.algorithms([])), [ConfigProblem::NoAlgorithm]);
    }

    #[test]
    fn hs384_and_hs512_need_secrets_as_long_as_their_hash() {
        let found = problems(
            ValidatorBuilder::default()
                .issuer("https://issuer.example/")
                .audience("api")
                .hs256_secret([7u8; 48])
                .algorithms([Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]),
        );
        assert_eq!(
            found,
            [ConfigProblem::SecretShorterThanHash(Algorithm::HS512)]
        );
    }

    #[test]
    fn the_auth0_preset_takes_an_hs256_secret_instead_of_its_key_set() {
        let built = ValidatorBuilder::auth0("tenant.auth0.com", "https://api.example.com")
            .hs256_secret([7u8; 32])
            .build();
        assert!(built.is_ok(), "{built:?}");
        let explicit = ValidatorBuilder::auth0("tenant.auth0.com", "https://api.example.com")
            .jwks_uri("https://tenant.auth0.com/keys")
            .hs256_secret([7u8; 32]);
        assert_eq!(problems(explicit), [ConfigProblem::SecretAndKeySet]);
    }

    #[test]
    fn secret_and_jwks_uri_conflict() {
        let found = problems(
            ValidatorBuilder::default()
                .issuer("https://issuer.example/")
                .audience("api")
                .hs256_secret([7u8; 32])
                .jwks_uri("https://issuer.example/jwks"),
        );
        assert_eq!(found, [ConfigProblem::SecretAndKeySet]);
    }

    #[test]
    fn base64_secrets_are_decoded_and_checked() {
        let base = ValidatorBuilder::default()
            .issuer("https://issuer.example/")
            .audience("api");
        assert!(
            base.clone()
                .hs256_secret_base64(&"QUFB".repeat(11))
                .build()
                .is_ok()
        );
        assert_eq!(
            problems(base.clone().hs256_secret_base64("not base64!")),
            [ConfigProblem::SecretNotBase64]
        );
        assert_eq!(
            problems(base.hs256_secret_base64("QUFB")),
            [ConfigProblem::SecretTooShort { bytes: 3 }]
        );
    }

    #[test]
    fn every_duration_setting_is_bounded() {
        let huge = Duration::MAX;
        let found = problems(
            ValidatorBuilder::default()
                .issuer("https://issuer.example/")
                .audience("api")
                .jwks_ttl(huge)
                .jwks_ttl_bounds(Duration::from_secs(60), huge)
                .stale_if_error(huge)
                .refetch_cooldown(huge)
                .fetch_timeout(huge),
        );
        let settings: Vec<_> = found
            .iter()
            .map(|problem| match problem {
                ConfigProblem::DurationTooLong { setting, .. } => *setting,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            settings,
            [
                "jwks_ttl",
                "jwks_ttl_bounds",
                "stale_if_error",
                "refetch_cooldown",
                "fetch_timeout"
            ]
        );
        let at_the_bounds = ValidatorBuilder::default()
            .issuer("https://issuer.example/")
            .audience("api")
            .jwks_ttl(7 * DAY)
            .jwks_ttl_bounds(Duration::from_secs(60), 7 * DAY)
            .stale_if_error(7 * DAY)
            .refetch_cooldown(Duration::from_secs(3600))
            .fetch_timeout(Duration::from_secs(60))
            .build();
        assert!(at_the_bounds.is_ok(), "{at_the_bounds:?}");
    }

    #[test]
    fn loopback_http_is_allowed() {
        let built = ValidatorBuilder::default()
            .issuer("http://127.0.0.1:9/")
            .audience("api")
            .build();
        assert!(built.is_ok(), "{built:?}");
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let text = format!(
            "{:?}",
            ValidatorBuilder::default().hs256_secret("s3cr3t-value")
        );
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}
