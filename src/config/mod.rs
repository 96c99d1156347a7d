//! Building a [`Validator`]: every setting, checked all at once by [`ValidatorBuilder::build`]
//! (`check`), then assembled into the issuer's pipeline (`assemble`, both in `build`).

mod build;
mod decryption;
mod introspection;
mod issuers;
mod limits;
mod problem;
mod resolved;
mod sender;
mod static_keys;

pub use problem::{ConfigError, ConfigProblem};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::algorithm::Algorithm;
use base64::Engine;

use crate::dpop::{Dpop, Mtls};
use crate::error::AuthError;
use crate::jwks::{CacheSettings, FetchLimits};
use crate::respond::{BodyHook, ErrorBody};
use crate::rules::ClaimRule;
use crate::scope::{ScopeClaims, ScopeHierarchy};
use crate::validator::Validator;

/// The shortest HMAC secret accepted: RFC 7518 §3.2 asks for a key at least as long as the
/// hash output (32 bytes for HS256).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;
/// The largest leeway accepted: beyond this, "expired" stops meaning much.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// The default budget of the verified-token cache: about 10,000 typical access tokens.
pub const DEFAULT_TOKEN_CACHE_BYTES: u64 = 32 << 20;

const DAY: Duration = Duration::from_secs(24 * 3600);

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
    key_source: KeySource,
    /// A secret and an explicit key set URL were both given.
    key_sources_conflict: bool,
    http_client: Option<reqwest::Client>,
    scope_claims: ScopeClaims,
    scope_hierarchy: ScopeHierarchy,
    initial_scopes: Option<Vec<String>>,
    /// The `scopes_supported` of the document given to `protected_resource`: the 401's
    /// `scope=` when `initial_scopes` is not set.
    supported_scopes: Vec<String>,
    max_token_bytes: usize,
    cache: CacheSettings,
    limits: FetchLimits,
    realm: Option<String>,
    token_cache_bytes: u64,
    rfc9068: bool,
    claim_rules: Vec<ClaimRule>,
    resource_metadata: Option<String>,
    error_body: Option<Arc<BodyHook>>,
    introspection: introspection::IntrospectionConfig,
    dpop: Dpop,
    mtls: Option<Mtls>,
    decryption: decryption::DecryptionConfig,
}

/// Where the keys come from.
#[derive(Clone)]
enum KeySource {
    /// The key set named by the issuer's metadata.
    Discovery,
    /// The key set at this URL; `by_preset` when a preset chose it.
    KeySetUri { uri: String, by_preset: bool },
    /// A shared secret.
    Secret(Secret),
    /// Public keys given at build time.
    Static(static_keys::StaticKeys),
}

#[derive(Clone)]
enum Secret {
    Bytes(Vec<u8>),
    NotBase64,
}

impl fmt::Debug for ValidatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.key_source {
            KeySource::Discovery => "discovery".to_owned(),
            KeySource::KeySetUri { uri, .. } => format!("key set at {uri}"),
            KeySource::Secret(_) => "secret <redacted>".to_owned(),
            KeySource::Static(_) => "static keys".to_owned(),
        };
        f.debug_struct("ValidatorBuilder")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .field("keys", &keys)
            .field("scope_claims", &self.scope_claims)
            .field("introspection", &self.introspection)
            .field("decryption_key_sources", &self.decryption.sources())
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
            key_source: KeySource::Discovery,
            key_sources_conflict: false,
            http_client: None,
            scope_claims: ScopeClaims::default(),
            scope_hierarchy: ScopeHierarchy::default(),
            initial_scopes: None,
            supported_scopes: Vec::new(),
            max_token_bytes: 16 * 1024,
            cache: CacheSettings {
                ttl: Duration::from_secs(600),
                min_ttl: Duration::from_secs(60),
                max_ttl: DAY,
                stale_if_error: DAY,
                refetch_cooldown: Duration::from_secs(30),
                max_keys: 100,
            },
            limits: FetchLimits {
                timeout: Duration::from_secs(5),
                max_body_bytes: 1024 * 1024,
            },
            realm: None,
            token_cache_bytes: DEFAULT_TOKEN_CACHE_BYTES,
            rfc9068: false,
            claim_rules: Vec::new(),
            resource_metadata: None,
            error_body: None,
            introspection: introspection::IntrospectionConfig::default(),
            dpop: Dpop::default(),
            mtls: None,
            decryption: decryption::DecryptionConfig::default(),
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
        self.set_key_source(KeySource::KeySetUri {
            uri: uri.into(),
            by_preset: false,
        });
        self
    }

    /// Verify `HS256` tokens with this shared secret instead of a key set. The secret is the
    /// raw bytes of the string, as Auth0 shows an API's signing secret; at least 32 bytes.
    pub fn hs256_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.set_key_source(KeySource::Secret(Secret::Bytes(secret.into())));
        self
    }

    /// Like [`hs256_secret`](Self::hs256_secret), for a secret given base64-encoded
    /// (standard or URL-safe alphabet, padding optional).
    pub fn hs256_secret_base64(mut self, encoded: &str) -> Self {
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        let trimmed = encoded.trim().trim_end_matches('=');
        let decoded = URL_SAFE_NO_PAD
            .decode(trimmed)
            .or_else(|_| STANDARD_NO_PAD.decode(trimmed));
        self.set_key_source(KeySource::Secret(match decoded {
            Ok(bytes) => Secret::Bytes(bytes),
            Err(_) => Secret::NotBase64,
        }));
        self
    }

    /// Sets where the keys come from. A secret (or static keys) replaces a key set URL that
    /// a preset chose (Auth0 APIs may sign with HS256), but two explicit key sources
    /// together (a secret, a key set URL, static keys) are a mistake that `build` reports.
    fn set_key_source(&mut self, source: KeySource) {
        let conflict = match (&self.key_source, &source) {
            (KeySource::Discovery, _) => false,
            (
                KeySource::KeySetUri { by_preset, .. },
                KeySource::Secret(_) | KeySource::Static(_),
            ) => !by_preset,
            (KeySource::Static(_), KeySource::Static(_)) => false,
            (old, new) => std::mem::discriminant(old) != std::mem::discriminant(new),
        };
        self.key_sources_conflict |= conflict;
        self.key_source = source;
    }

    /// The HTTP client for discovery, key set fetches and token introspection (proxy, extra
    /// root CA, ...). The default one follows redirects only within the same origin and
    /// times out after 5 s.
    ///
    /// The crate cannot see or change a given client's redirect policy, so it does not rely
    /// on it: an answer from another origin than the one asked is refused, and the
    /// introspection request, which carries the token and the API's credentials, is sent
    /// with a body no client can send twice, so a 307/308 to another origin re-sends nothing
    /// (the redirect itself is refused: 503). Build the client with
    /// `reqwest::redirect::Policy::none()` anyway: it then never even asks another origin.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Which claims carry scopes (default: `scope` and `scp`).
    pub fn scope_claims(mut self, claims: ScopeClaims) -> Self {
        self.scope_claims = claims;
        self
    }

    /// Which scopes imply which (default: none). Every scope decision behind this validator
    /// uses it: [`RequireScopes`](crate::RequireScopes), [`ScopePolicy::check`] on the
    /// claims' scopes (in an axum handler) and `McpScopes`, since the token's scopes are
    /// expanded once, when it is verified. A name that is not an RFC 6749 scope-token is a
    /// [`ConfigProblem::InvalidScope`].
    ///
    /// [`ScopePolicy::check`]: crate::ScopePolicy::check
    pub fn scope_hierarchy(mut self, hierarchy: ScopeHierarchy) -> Self {
        self.scope_hierarchy = hierarchy;
        self
    }

    /// The scopes a client should start with: `scope="..."` on every 401 challenge, as the
    /// MCP authorization specification asks, so that a client requests least privilege.
    /// Default: the `scopes_supported` of the document given to
    /// [`protected_resource`](Self::protected_resource), else no `scope=`. An empty list
    /// sends no `scope=`. A name that is not an RFC 6749 scope-token is a
    /// [`ConfigProblem::InvalidScope`].
    pub fn initial_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.initial_scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The API's RFC 9728 metadata document: its URL goes in `resource_metadata=` (as
    /// [`resource_metadata`](Self::resource_metadata)), and its `scopes_supported` in the
    /// 401's `scope=` unless [`initial_scopes`](Self::initial_scopes) names a smaller set
    /// (each must be an RFC 6749 scope-token, else [`ConfigProblem::InvalidScope`]).
    pub fn protected_resource(mut self, metadata: &crate::ProtectedResourceMetadata) -> Self {
        self.resource_metadata = Some(metadata.url());
        self.supported_scopes = metadata.supported_scopes().to_vec();
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
    /// the lower bound at least 1 s, the upper bound at most 7 days); `no-cache` and `no-store` count as the lower bound.
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
        self.limits.max_body_bytes = bytes;
        self
    }

    /// The most keys a key set may have; a larger one is refused whole (default 100).
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.cache.max_keys = keys;
        self
    }

    /// The least time between two fetches caused by unknown `kid`s (default 30 s, at least
    /// 1 s, at most 1 h). A token signed with a key the issuer just published is accepted at the latest
    /// one cooldown after it is first seen.
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.cache.refetch_cooldown = cooldown;
        self
    }

    /// The total time a discovery or key set request may take (default 5 s, at most 60 s).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
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

    /// DPoP-bound tokens (RFC 9449): the mode ([`Dpop::off`], [`Dpop::allowed`], the
    /// default, or [`Dpop::required`]), the API's public URL the proofs' `htu` must name,
    /// the replay store, server nonces (see [`Dpop`]).
    pub fn dpop(mut self, dpop: Dpop) -> Self {
        self.dpop = dpop;
        self
    }

    /// Accepts certificate-bound tokens (RFC 8705, `cnf["x5t#S256"]`) when the request's
    /// client certificate has that thumbprint (see [`Mtls`]). Without it, such tokens are
    /// refused.
    pub fn mtls(mut self, mtls: Mtls) -> Self {
        self.mtls = Some(mtls);
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenges.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// The Auth0 preset (see [`Validator::auth0`]).
    fn auth0(domain: &str, audience: &str) -> Self {
        let host = domain
            .trim()
            .trim_start_matches("https://")
            .trim_end_matches('/');
        let mut builder = ValidatorBuilder::default()
            .issuer(format!("https://{host}/"))
            .audience(audience)
            .scope_claims(ScopeClaims::default().permissions(true));
        // An Auth0 API signed with HS256 has no key set: a secret given later replaces it.
        builder.key_source = KeySource::KeySetUri {
            uri: format!("https://{host}/.well-known/jwks.json"),
            by_preset: true,
        };
        builder
    }
}

impl Validator {
    /// A builder with the secure defaults; set at least the issuer and the audience.
    pub fn builder() -> ValidatorBuilder {
        ValidatorBuilder::default()
    }

    /// The Auth0 preset: issuer `https://{domain}/`, key set
    /// `https://{domain}/.well-known/jwks.json`, `RS256`, and scopes read from `scope` and
    /// from the RBAC `permissions` claim. `audience` is the API's identifier.
    pub fn auth0(domain: &str, audience: &str) -> ValidatorBuilder {
        ValidatorBuilder::auth0(domain, audience)
    }
}
