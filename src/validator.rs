//! [`Validator`]: the rules plus the keys, shared by every layer and clone.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::claims::VerifiedClaims;
use crate::config::ValidatorBuilder;
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
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) rules: Rules,
    pub(crate) keys: Keys,
    pub(crate) max_token_bytes: usize,
    pub(crate) responder: Responder,
    pub(crate) token_cache: Option<TokenCache>,
    pub(crate) claim_rules: Vec<ClaimRule>,
}

pub(crate) enum Keys {
    Jwks(Arc<JwksCache>),
    Secret(KeySet),
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rules = &self.inner.rules;
        f.debug_struct("Validator")
            .field("issuer", &rules.issuer)
            .field("audiences", &rules.audiences)
            .field("algorithms", &rules.algorithms)
            .finish_non_exhaustive()
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

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Validator {
            inner: Arc::new(inner),
        }
    }

    /// Validates a token (the part after `Bearer `), fetching the key set if it is needed,
    /// and applies the validator's claim rules.
    pub async fn validate(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
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
        crate::rules::check_all(&self.inner.claim_rules, &claims, unix_now())?;
        Ok(claims)
    }

    fn validate_with_cached_keys(&self, token: &str) -> Option<Result<VerifiedClaims, AuthError>> {
        let inner = &*self.inner;
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
        let entry = self.inner.token_cache.as_ref()?.get(token)?;
        let leeway = self.inner.rules.leeway_secs;
        self.with_keys(|keys| entry.still_valid(unix_now(), leeway, keys))?
            .then(|| entry.claims.clone())
    }

    /// Runs `use_keys` on the keys at hand: the secret, or the current usable key set.
    fn with_keys<R>(&self, use_keys: impl FnOnce(&KeySet) -> R) -> Option<R> {
        match &self.inner.keys {
            Keys::Secret(keys) => Some(use_keys(keys)),
            Keys::Jwks(cache) => cache.with_current(use_keys),
        }
    }

    async fn validate_with_fresh_keys(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        let rules = &self.inner.rules;
        let parsed = validate::parse(token, rules).map_err(AuthError::InvalidToken)?;
        let Keys::Jwks(cache) = &self.inner.keys else {
            return Err(AuthError::InvalidToken(TokenProblem::UnknownKey));
        };
        let kid = parsed.kid.as_deref();
        let snapshot = cache
            .refreshed(kid)
            .await
            .map_err(|retry_after| AuthError::KeysUnavailable { retry_after })?;
        let outcome = validate::verify(&parsed, &snapshot.keys, rules, unix_now());
        if let (Outcome::UnknownKey, Some(kid)) = (&outcome, kid) {
            cache.remember_unknown(kid);
        }
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
                if let Some(cache) = &self.inner.token_cache {
                    let leeway = self.inner.rules.leeway_secs;
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
    pub fn cached_tokens(&self) -> u64 {
        self.inner.token_cache.as_ref().map_or(0, TokenCache::len)
    }

    /// Fetches the key set now (secret mode: nothing to do), for start-up: call it before
    /// serving so that the first requests do not wait, and to fail fast on a wrong issuer.
    pub async fn warm_up(&self) -> Result<(), KeyFetchError> {
        match &self.inner.keys {
            Keys::Jwks(cache) => cache.warm_up().await.map(drop),
            Keys::Secret(_) => Ok(()),
        }
    }

    /// Whether tokens can be verified right now without waiting for the issuer: for a
    /// readiness probe.
    pub fn is_ready(&self) -> bool {
        match &self.inner.keys {
            Keys::Jwks(cache) => cache.status().is_some(),
            Keys::Secret(_) => true,
        }
    }

    /// The cached key set's size, age and freshness (`None` in secret mode or before the
    /// first successful fetch).
    pub fn key_set_status(&self) -> Option<KeySetStatus> {
        match &self.inner.keys {
            Keys::Jwks(cache) => cache.status(),
            Keys::Secret(_) => None,
        }
    }

    /// What the key set cache has done so far (all zero in secret mode).
    pub fn key_stats(&self) -> KeyStats {
        match &self.inner.keys {
            Keys::Jwks(cache) => cache.stats(),
            Keys::Secret(_) => KeyStats::default(),
        }
    }

    pub(crate) fn max_token_bytes(&self) -> usize {
        self.inner.max_token_bytes
    }

    /// How this validator's refusals are written; the layer hands it on to the route guards
    /// and the extractors through the request extensions.
    pub(crate) fn responder(&self) -> &Responder {
        &self.inner.responder
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
