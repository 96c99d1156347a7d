//! One issuer's validation pipeline: the size cap, the verified-token cache, decryption (an
//! encrypted token, where keys for it are configured), parsing, the key
//! set (or secret), the claim checks and the claim rules, in that order; or, for a token
//! that is not a compact JWS when introspection is configured, the introspection result
//! cache and the issuer's introspection endpoint, then the claim rules.
//!
//! [`Issuer::start`] decides a token without waiting or locking whenever the keys (or the
//! cached introspection results) at hand can; otherwise it hands back a
//! [`PendingValidation`] that carries the parsed token into the wait for the key set, or
//! the opaque token into its introspection call, so the work continues where it stopped.

use std::sync::Arc;

use crate::claims::VerifiedClaims;
use crate::error::{AuthError, TokenProblem};
use crate::introspection::{self, IntrospectionStats, Introspector, Lookup};
use crate::jwe::{self, Decrypter};
use crate::jwks::{JwksCache, KeyFetchError, KeySetStatus, KeyStats};
use crate::keys::KeySet;
use crate::respond::Responder;
use crate::rules::ClaimRule;
use crate::token_cache::{Entry, TokenCache};
pub(crate) use crate::validate::unix_now;
use crate::validate::{self, Outcome, Parsed, Rules};

/// Where an issuer's keys come from.
pub(crate) enum Keys {
    /// Its key set, fetched and cached.
    Jwks(Arc<JwksCache>),
    /// A shared secret (HMAC).
    Secret(KeySet),
    /// Public keys given at build time: never fetched, never refreshed.
    Static(Arc<KeySet>),
}

/// One issuer's rules, keys and caches.
pub(crate) struct Issuer {
    rules: Rules,
    keys: Keys,
    max_token_bytes: usize,
    responder: Responder,
    token_cache: Option<TokenCache>,
    claim_rules: Vec<ClaimRule>,
    /// Opaque tokens go here, when configured.
    introspection: Option<Arc<Introspector>>,
    /// Whether compact JWS tokens are validated locally (always without introspection; in
    /// mixed mode with it). Without, every token is introspected.
    local_jwt: bool,
    /// Encrypted tokens (five segments) are decrypted with this, when configured; without,
    /// they are refused as before.
    decrypter: Option<Decrypter>,
}

/// The first step of a validation: a decision, or the parsed token waiting for keys.
pub(crate) enum Validation {
    Done(Result<VerifiedClaims, AuthError>),
    NeedsKeys(PendingValidation),
}

/// A token that must wait: a parsed token whose key set must be fetched first (none yet,
/// or an unknown `kid`), or an opaque token to introspect.
pub(crate) struct PendingValidation {
    issuer: Arc<Issuer>,
    wait: Wait,
}

enum Wait {
    /// `outer`: the encrypted token the parsed one came out of, which is what the
    /// verified-token cache keeps it under.
    Keys {
        parsed: Parsed<Box<str>>,
        outer: Option<Box<str>>,
    },
    Introspection {
        key: [u8; 32],
        token: Box<str>,
    },
}

impl PendingValidation {
    /// Waits for the key set (joining a fetch in flight, or starting one when the cooldown
    /// allows) and finishes the validation with it; or introspects the token (joining the
    /// call in flight for it, if any).
    /// Both run as Tokio tasks: outside a Tokio runtime the answer is
    /// [`AuthError::NoRuntime`], not a panic.
    pub(crate) async fn finish(self) -> Result<VerifiedClaims, AuthError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(AuthError::NoRuntime);
        }
        let PendingValidation { issuer, wait } = self;
        let (parsed, outer) = match wait {
            Wait::Keys { parsed, outer } => (parsed, outer),
            Wait::Introspection { key, token } => {
                let Some(introspector) = &issuer.introspection else {
                    return Err(AuthError::InvalidToken(TokenProblem::Malformed));
                };
                let claims = introspector.introspect(key, &token).await?;
                return issuer.apply_rules(claims);
            }
        };
        let Keys::Jwks(cache) = &issuer.keys else {
            // A secret has no fresher version to wait for: no key of it fits the token.
            return Err(AuthError::InvalidToken(TokenProblem::UnknownKey));
        };
        let snapshot = cache
            .refreshed()
            .await
            .map_err(|retry_after| AuthError::KeysUnavailable { retry_after })?;
        let outcome = validate::verify(&parsed, &snapshot.keys, &issuer.rules, unix_now());
        let cache_key = outer.as_deref().unwrap_or(parsed.token());
        issuer.conclude(cache_key, &parsed, outcome)
    }
}

impl Issuer {
    pub(crate) fn new(
        rules: Rules,
        keys: Keys,
        max_token_bytes: usize,
        responder: Responder,
        token_cache: Option<TokenCache>,
        claim_rules: Vec<ClaimRule>,
    ) -> Self {
        Issuer {
            rules,
            keys,
            max_token_bytes,
            responder,
            token_cache,
            claim_rules,
            introspection: None,
            local_jwt: true,
            decrypter: None,
        }
    }

    /// Decrypts encrypted tokens (compact JWE) with `decrypter` before validating the
    /// signed token inside.
    pub(crate) fn with_decryption(mut self, decrypter: Decrypter) -> Self {
        self.decrypter = Some(decrypter);
        self
    }

    /// Whether this issuer decrypts encrypted tokens (decryption keys were configured).
    pub(crate) fn decrypts(&self) -> bool {
        self.decrypter.is_some()
    }

    /// The decrypter, when `token` is an encrypted token this issuer decrypts.
    fn decrypter_for(&self, token: &str) -> Option<&Decrypter> {
        self.decrypter
            .as_ref()
            .filter(|_| jwe::is_compact_jwe(token))
    }

    /// Introspects opaque tokens with `introspector`; compact JWS tokens are still validated
    /// locally when `local_jwt` (mixed mode), else introspected too.
    pub(crate) fn with_introspection(
        mut self,
        introspector: Introspector,
        local_jwt: bool,
    ) -> Self {
        self.introspection = Some(Arc::new(introspector));
        self.local_jwt = local_jwt;
        self
    }

    /// Whether this issuer introspects opaque tokens.
    pub(crate) fn introspects(&self) -> bool {
        self.introspection.is_some()
    }

    /// Whether `token` goes to the introspection endpoint rather than being validated
    /// locally: with introspection, every token but, in mixed mode, a compact JWS, and an
    /// encrypted token this issuer decrypts.
    pub(crate) fn introspects_token(&self, token: &str) -> bool {
        self.introspection.is_some()
            && !(self.local_jwt && introspection::is_compact_jws(token))
            && self.decrypter_for(token).is_none()
    }

    /// The issuer identifier tokens must carry in `iss`.
    pub(crate) fn name(&self) -> &str {
        &self.rules.issuer
    }

    pub(crate) fn rules(&self) -> &Rules {
        &self.rules
    }

    pub(crate) fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    pub(crate) fn responder(&self) -> &Responder {
        &self.responder
    }

    /// Decides `token` with the keys at hand, never waiting or locking; or hands back what
    /// must wait for the key set.
    pub(crate) fn start(self: &Arc<Self>, token: &str) -> Validation {
        if token.len() > self.max_token_bytes {
            return Validation::Done(Err(AuthError::InvalidToken(TokenProblem::TooLarge)));
        }
        if let Some(introspector) = &self.introspection
            && self.introspects_token(token)
        {
            return match introspector.lookup(token) {
                Lookup::Decided(decided) => Validation::Done(
                    decided
                        .map_err(AuthError::InvalidToken)
                        .and_then(|claims| self.apply_rules(claims)),
                ),
                Lookup::Miss(key) => Validation::NeedsKeys(PendingValidation {
                    issuer: Arc::clone(self),
                    wait: Wait::Introspection {
                        key,
                        token: token.into(),
                    },
                }),
            };
        }
        // An encrypted token is cached as presented: a hit skips the decryption too.
        if let Some(claims) = self.cached(token) {
            return Validation::Done(self.apply_rules(claims));
        }
        let decrypted;
        let (jws, outer) = match self.decrypter_for(token) {
            None => (token, None),
            Some(decrypter) => match decrypter.decrypt(token) {
                Ok(inner) => {
                    decrypted = inner;
                    (decrypted.as_str(), Some(token))
                }
                Err(problem) => return Validation::Done(Err(AuthError::InvalidToken(problem))),
            },
        };
        let parsed = match validate::parse(jws, &self.rules) {
            Ok(parsed) => parsed,
            Err(problem) => return Validation::Done(Err(AuthError::InvalidToken(problem))),
        };
        let outcome =
            self.with_keys(|keys| validate::verify(&parsed, keys, &self.rules, unix_now()));
        match outcome {
            None | Some(Outcome::UnknownKey) => Validation::NeedsKeys(PendingValidation {
                issuer: Arc::clone(self),
                wait: Wait::Keys {
                    parsed: parsed.into_owned(),
                    outer: outer.map(Box::from),
                },
            }),
            Some(decided) => Validation::Done(self.conclude(token, &parsed, decided)),
        }
    }

    /// A hit of the verified-token cache that is still valid now, with the current keys.
    fn cached(self: &Arc<Self>, token: &str) -> Option<VerifiedClaims> {
        let cache = self.token_cache.as_ref()?;
        let leeway = self.rules.leeway_secs;
        let hit = cache
            .get(token, |entry| {
                self.with_keys(|keys| entry.still_valid(unix_now(), leeway, keys))?
                    .then(|| entry.claims.clone())
            })
            .flatten();
        crate::telemetry::token_cache_lookup(hit.is_some());
        hit
    }

    /// Runs `use_keys` on the keys at hand: the secret, or the current usable key set.
    fn with_keys<R>(self: &Arc<Self>, use_keys: impl FnOnce(&KeySet) -> R) -> Option<R> {
        match &self.keys {
            Keys::Secret(keys) => Some(use_keys(keys)),
            Keys::Static(keys) => Some(use_keys(keys)),
            Keys::Jwks(cache) => cache.with_current(use_keys),
        }
    }

    /// The end of a full validation: a valid token enters the verified-token cache (under
    /// `cache_key`: the token as presented, encrypted or not), then the claim rules apply.
    fn conclude(
        &self,
        cache_key: &str,
        parsed: &Parsed<impl AsRef<str>>,
        outcome: Outcome,
    ) -> Result<VerifiedClaims, AuthError> {
        let claims = match outcome {
            Outcome::Valid(claims, key) => {
                if let Some(cache) = &self.token_cache {
                    let entry = Entry::new(
                        claims.clone(),
                        key,
                        parsed.kid.as_deref(),
                        parsed.alg,
                        unix_now(),
                        self.rules.leeway_secs,
                    );
                    cache.insert(cache_key, entry);
                }
                claims
            }
            Outcome::Invalid(problem) => return Err(AuthError::InvalidToken(problem)),
            Outcome::UnknownKey => return Err(AuthError::InvalidToken(TokenProblem::UnknownKey)),
        };
        self.apply_rules(claims)
    }

    /// The validator's claim rules, checked on every request (cache hits included).
    fn apply_rules(&self, claims: VerifiedClaims) -> Result<VerifiedClaims, AuthError> {
        // Without rules the clock is not read: it costs as much as the rest of a cache hit's
        // checks.
        if !self.claim_rules.is_empty() {
            crate::rules::check_all(&self.claim_rules, &claims, unix_now())?;
        }
        Ok(claims)
    }

    /// The `kid`s of the keys at hand, for the diagnosis report: `None` with a shared secret
    /// (no `kid`s to show) or before the first fetch. Never fetches.
    pub(crate) fn key_ids(self: &Arc<Self>) -> Option<Vec<String>> {
        match &self.keys {
            Keys::Secret(_) => None,
            Keys::Jwks(_) | Keys::Static(_) => self.with_keys(KeySet::kids),
        }
    }

    /// Whether tokens are verified with a shared secret (`hs256_secret`).
    pub(crate) fn uses_secret(&self) -> bool {
        matches!(self.keys, Keys::Secret(_))
    }

    /// How many verified tokens the cache holds (0 when it is off).
    pub(crate) fn cached_tokens(&self) -> u64 {
        self.token_cache.as_ref().map_or(0, TokenCache::len)
    }

    /// What the verified-token cache weighs, in estimated bytes (0 when it is off).
    pub(crate) fn cached_token_bytes(&self) -> u64 {
        self.token_cache
            .as_ref()
            .map_or(0, TokenCache::weighed_bytes)
    }

    /// Fetches the key set now (secret and static keys: nothing to do). With introspection
    /// only, the key set is fetched lazily, for signed responses: nothing to do either.
    pub(crate) async fn warm_up(&self) -> Result<(), KeyFetchError> {
        match &self.keys {
            Keys::Jwks(cache) if self.local_jwt => cache.warm_up().await.map(drop),
            _ => Ok(()),
        }
    }

    /// Whether tokens can be decided right now without waiting for the issuer's key set.
    pub(crate) fn is_ready(&self) -> bool {
        match &self.keys {
            Keys::Jwks(cache) if self.local_jwt => cache.status().is_some(),
            _ => true,
        }
    }

    /// The cached key set's size, age and freshness (`None` with a secret or static keys,
    /// or before the first successful fetch).
    pub(crate) fn key_set_status(&self) -> Option<KeySetStatus> {
        match &self.keys {
            Keys::Jwks(cache) => cache.status(),
            Keys::Secret(_) | Keys::Static(_) => None,
        }
    }

    /// What the key set cache has done so far (all zero with a secret or static keys).
    pub(crate) fn key_stats(&self) -> KeyStats {
        match &self.keys {
            Keys::Jwks(cache) => cache.stats(),
            Keys::Secret(_) | Keys::Static(_) => self
                .introspection
                .as_ref()
                .map_or_else(KeyStats::default, |introspector| introspector.key_stats()),
        }
    }

    /// What introspection has done so far (all zero without it).
    pub(crate) fn introspection_stats(&self) -> IntrospectionStats {
        self.introspection
            .as_ref()
            .map_or_else(IntrospectionStats::default, |i| i.stats())
    }
}
