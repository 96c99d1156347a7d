//! [`Validator`]: the rules plus the keys, shared by every layer and clone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::claims::VerifiedClaims;
use crate::config::{ConfigError, ConfigProblem, ValidatorBuilder};
use crate::error::{AuthError, TokenProblem};
use crate::jwks::{JwksCache, KeyFetchError, KeySetStatus, KeyStats};
use crate::keys::KeySet;
use crate::respond::Responder;
use crate::rules::ClaimRule;
use crate::token_cache::{Entry, TokenCache};
use crate::validate::{self, Outcome, Rules};

/// Verifies access tokens: signature, issuer, audience, time and scopes claims.
///
/// Cheap to clone (an `Arc` inside); every clone shares one key set cache. Build one with
/// [`Validator::builder`] or [`Validator::auth0`].
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use bearer_guard::Validator;
///
/// let validator = Validator::auth0("my-tenant.us.auth0.com", "https://api.example.com").build()?;
/// let claims = validator.validate("eyJhbGciOi...").await?;
/// println!("client {:?} has scopes {:?}", claims.subject(), claims.scopes());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Validator {
    routing: Arc<Routing>,
}

enum Routing {
    One(Issuer),
    Many(ManyIssuers),
}

/// Several issuers, each with its own rules, keys and caches, chosen by the token's `iss`.
struct ManyIssuers {
    by_issuer: HashMap<String, Issuer>,
    max_token_bytes: usize,
    responder: Responder,
}

/// One issuer's configuration: its rules, its keys and its verified-token cache.
#[derive(Clone)]
pub(crate) struct Issuer {
    pub(crate) rules: Rules,
    pub(crate) keys: Keys,
    pub(crate) max_token_bytes: usize,
    pub(crate) responder: Responder,
    pub(crate) token_cache: Option<TokenCache>,
    pub(crate) claim_rules: Vec<ClaimRule>,
}

#[derive(Clone)]
pub(crate) enum Keys {
    Jwks(Arc<JwksCache>),
    Secret(Arc<KeySet>),
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for issuer in self.issuers() {
            list.entry(&format_args!(
                "{} for {:?} with {:?}",
                issuer.rules.issuer, issuer.rules.audiences, issuer.rules.algorithms
            ));
        }
        list.finish()
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

    pub(crate) fn from_issuer(issuer: Issuer) -> Self {
        Validator {
            routing: Arc::new(Routing::One(issuer)),
        }
    }

    /// One validator for several issuers (multi-tenant APIs, Auth0 custom domains, moving
    /// between tenants). Each keeps its own audiences, algorithms, rules and key set (fetched
    /// lazily, one cache each). A token's unverified `iss` only selects the configuration;
    /// the signature and every claim are then verified against it. A token from an issuer
    /// not on the list is refused without any network request; keys of one issuer never
    /// verify another's tokens.
    ///
    /// The way refusals are written (realm, error body, `resource_metadata`) is the first
    /// validator's.
    ///
    /// ```
    /// use bearer_guard::Validator;
    ///
    /// let tenant_a = Validator::auth0("tenant-a.eu.auth0.com", "https://api.example.com").build()?;
    /// let tenant_b = Validator::auth0("login.example.com", "https://api.example.com").build()?;
    /// let both = Validator::for_issuers([tenant_a, tenant_b])?;
    /// # Ok::<(), bearer_guard::ConfigError>(())
    /// ```
    pub fn for_issuers(
        validators: impl IntoIterator<Item = Validator>,
    ) -> Result<Self, ConfigError> {
        let mut by_issuer: HashMap<String, Issuer> = HashMap::new();
        let mut problems = Vec::new();
        let mut first_responder = None;
        for validator in validators {
            for issuer in validator.issuers().cloned().collect::<Vec<_>>() {
                first_responder.get_or_insert_with(|| issuer.responder.clone());
                let name = issuer.rules.issuer.clone();
                if by_issuer.insert(name.clone(), issuer).is_some() {
                    problems.push(ConfigProblem::DuplicateIssuer(name));
                }
            }
        }
        if by_issuer.is_empty() {
            problems.push(ConfigProblem::MissingIssuer);
        }
        if !problems.is_empty() {
            return Err(ConfigError::new(problems));
        }
        let max_token_bytes = by_issuer
            .values()
            .map(|i| i.max_token_bytes)
            .max()
            .unwrap_or(0);
        Ok(Validator {
            routing: Arc::new(Routing::Many(ManyIssuers {
                by_issuer,
                max_token_bytes,
                responder: first_responder.unwrap_or_default(),
            })),
        })
    }

    /// Validates a token (the part after `Bearer `), fetching the key set if it is needed,
    /// and applies the validator's claim rules.
    pub async fn validate(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        self.route(token)?.validate(token).await
    }

    /// [`validate`](Self::validate) without waiting: `None` when a key set must be fetched
    /// first (none yet, or an unknown `kid`). Never waits or takes a lock.
    pub(crate) fn validate_now(&self, token: &str) -> Option<Result<VerifiedClaims, AuthError>> {
        match self.route(token) {
            Ok(issuer) => issuer.validate_now(token),
            Err(error) => Some(Err(error)),
        }
    }

    /// The issuer configuration for a token: the only one, or the one its unverified `iss`
    /// names (which is then verified like every other claim).
    fn route(&self, token: &str) -> Result<&Issuer, AuthError> {
        match &*self.routing {
            Routing::One(issuer) => Ok(issuer),
            Routing::Many(many) => {
                if token.len() > many.max_token_bytes {
                    return Err(AuthError::InvalidToken(TokenProblem::TooLarge));
                }
                let iss = validate::unverified_issuer(token).map_err(AuthError::InvalidToken)?;
                many.by_issuer
                    .get(iss.as_str())
                    .ok_or(AuthError::InvalidToken(TokenProblem::WrongIssuer))
            }
        }
    }

    fn issuers(&self) -> Box<dyn Iterator<Item = &Issuer> + '_> {
        match &*self.routing {
            Routing::One(issuer) => Box::new(std::iter::once(issuer)),
            Routing::Many(many) => Box::new(many.by_issuer.values()),
        }
    }

    /// How many verified tokens the cache holds (0 when it is off).
    pub fn cached_tokens(&self) -> u64 {
        self.issuers().map(Issuer::cached_tokens).sum()
    }

    /// What the verified-token cache weighs against its budget
    /// ([`token_cache_bytes`](ValidatorBuilder::token_cache_bytes)), in estimated bytes.
    pub fn cached_token_bytes(&self) -> u64 {
        self.issuers()
            .filter_map(|issuer| issuer.token_cache.as_ref())
            .map(TokenCache::weighed_bytes)
            .sum()
    }

    /// The issuers this validator accepts.
    pub fn issuer_names(&self) -> impl Iterator<Item = &str> {
        self.issuers().map(|issuer| issuer.rules.issuer.as_str())
    }

    /// Fetches the key set now (secret mode: nothing to do), for start-up: call it before
    /// serving so that the first requests do not wait, and to fail fast on a wrong issuer.
    /// With several issuers, every one is fetched.
    pub async fn warm_up(&self) -> Result<(), KeyFetchError> {
        for issuer in self.issuers() {
            issuer.warm_up().await?;
        }
        Ok(())
    }

    /// Whether tokens can be verified right now without waiting for the issuer (every issuer,
    /// with several): for a readiness probe.
    pub fn is_ready(&self) -> bool {
        self.issuers().all(Issuer::is_ready)
    }

    /// The cached key set's size, age and freshness (`None` in secret mode, before the first
    /// successful fetch, and with several issuers).
    pub fn key_set_status(&self) -> Option<KeySetStatus> {
        match &*self.routing {
            Routing::One(issuer) => issuer.key_set_status(),
            Routing::Many(_) => None,
        }
    }

    /// What the key set caches have done so far (all zero in secret mode; summed over the
    /// issuers, with several).
    pub fn key_stats(&self) -> KeyStats {
        self.issuers()
            .map(Issuer::key_stats)
            .fold(KeyStats::default(), KeyStats::add)
    }

    pub(crate) fn max_token_bytes(&self) -> usize {
        match &*self.routing {
            Routing::One(issuer) => issuer.max_token_bytes,
            Routing::Many(many) => many.max_token_bytes,
        }
    }

    /// How this validator's refusals are written; the layer hands it on to the route guards
    /// and the extractors through the request extensions.
    pub(crate) fn responder(&self) -> &Responder {
        match &*self.routing {
            Routing::One(issuer) => &issuer.responder,
            Routing::Many(many) => &many.responder,
        }
    }
}

impl Issuer {
    /// Validates a token (the part after `Bearer `), fetching the key set if it is needed,
    /// and applies the validator's claim rules.
    async fn validate(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        match self.validate_now(token) {
            Some(done) => done,
            None => self
                .validate_with_fresh_keys(token)
                .await
                .and_then(|claims| self.apply_rules(claims)),
        }
    }

    /// [`validate`](Self::validate) without waiting: `None` when a key set must be fetched
    /// first (none yet, or an unknown `kid`). Never waits or takes a lock.
    pub(crate) fn validate_now(&self, token: &str) -> Option<Result<VerifiedClaims, AuthError>> {
        self.validate_with_cached_keys(token)
            .map(|result| result.and_then(|claims| self.apply_rules(claims)))
    }

    fn apply_rules(&self, claims: VerifiedClaims) -> Result<VerifiedClaims, AuthError> {
        crate::rules::check_all(&self.claim_rules, &claims, unix_now())?;
        Ok(claims)
    }

    fn validate_with_cached_keys(&self, token: &str) -> Option<Result<VerifiedClaims, AuthError>> {
        let inner = self;
        if token.len() > inner.max_token_bytes {
            return Some(Err(AuthError::InvalidToken(TokenProblem::TooLarge)));
        }
        if let Some(claims) = self.cached(token) {
            return Some(Ok(claims));
        }
        let parsed = match validate::parse(token, &inner.rules) {
            Ok(parsed) => parsed,
            Err(problem) => return Some(Err(AuthError::InvalidToken(problem))),
        };
        let outcome =
            self.with_keys(|keys| validate::verify(&parsed, keys, &inner.rules, unix_now()))?;
        match outcome {
            Outcome::UnknownKey => None,
            decided => Some(self.finish(token, &parsed, decided)),
        }
    }

    /// A hit of the verified-token cache that is still valid now, with the current keys.
    fn cached(&self, token: &str) -> Option<VerifiedClaims> {
        let cache = self.token_cache.as_ref()?;
        let leeway = self.rules.leeway_secs;
        let hit = cache.get(token).and_then(|entry| {
            self.with_keys(|keys| entry.still_valid(unix_now(), leeway, keys))?
                .then(|| entry.claims.clone())
        });
        crate::telemetry::token_cache_lookup(hit.is_some());
        hit
    }

    /// Runs `use_keys` on the keys at hand: the secret, or the current usable key set.
    fn with_keys<R>(&self, use_keys: impl FnOnce(&KeySet) -> R) -> Option<R> {
        match &self.keys {
            Keys::Secret(keys) => Some(use_keys(keys)),
            Keys::Jwks(cache) => cache.with_current(use_keys),
        }
    }

    async fn validate_with_fresh_keys(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        let rules = &self.rules;
        let parsed = validate::parse(token, rules).map_err(AuthError::InvalidToken)?;
        let Keys::Jwks(cache) = &self.keys else {
            return Err(AuthError::InvalidToken(TokenProblem::UnknownKey));
        };
        let snapshot = cache
            .refreshed()
            .await
            .map_err(|retry_after| AuthError::KeysUnavailable { retry_after })?;
        let outcome = validate::verify(&parsed, &snapshot.keys, rules, unix_now());
        self.finish(token, &parsed, outcome)
    }

    /// The result of a full validation; a valid token enters the verified-token cache.
    fn finish(
        &self,
        token: &str,
        parsed: &validate::Parsed<'_>,
        outcome: Outcome,
    ) -> Result<VerifiedClaims, AuthError> {
        match outcome {
            Outcome::Valid(claims, key) => {
                if let Some(cache) = &self.token_cache {
                    let leeway = self.rules.leeway_secs;
                    let entry = Entry::new(
                        claims.clone(),
                        key,
                        parsed.kid.as_deref(),
                        parsed.alg,
                        unix_now(),
                        leeway,
                    );
                    cache.insert(token, entry);
                }
                Ok(claims)
            }
            Outcome::Invalid(problem) => Err(AuthError::InvalidToken(problem)),
            Outcome::UnknownKey => Err(AuthError::InvalidToken(TokenProblem::UnknownKey)),
        }
    }

    /// How many verified tokens the cache holds (0 when it is off).
    fn cached_tokens(&self) -> u64 {
        self.token_cache.as_ref().map_or(0, TokenCache::len)
    }

    /// Fetches the key set now (secret mode: nothing to do), for start-up: call it before
    /// serving so that the first requests do not wait, and to fail fast on a wrong issuer.
    async fn warm_up(&self) -> Result<(), KeyFetchError> {
        match &self.keys {
            Keys::Jwks(cache) => cache.warm_up().await.map(drop),
            Keys::Secret(_) => Ok(()),
        }
    }

    /// Whether tokens can be verified right now without waiting for the issuer: for a
    /// readiness probe.
    fn is_ready(&self) -> bool {
        match &self.keys {
            Keys::Jwks(cache) => cache.status().is_some(),
            Keys::Secret(_) => true,
        }
    }

    /// The cached key set's size, age and freshness (`None` in secret mode or before the
    /// first successful fetch).
    fn key_set_status(&self) -> Option<KeySetStatus> {
        match &self.keys {
            Keys::Jwks(cache) => cache.status(),
            Keys::Secret(_) => None,
        }
    }

    /// What the key set cache has done so far (all zero in secret mode).
    fn key_stats(&self) -> KeyStats {
        match &self.keys {
            Keys::Jwks(cache) => cache.stats(),
            Keys::Secret(_) => KeyStats::default(),
        }
    }
}

/// The current time in Unix seconds, the unit of JWT time claims.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}
