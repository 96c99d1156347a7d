//! [`Validator`]: one issuer, or several chosen by the token's `iss`, behind one cheap handle.
//!
//! This is the facade: the pipeline of each issuer lives in `issuer`, the configuration
//! (`Validator::builder`, presets, `for_issuers`) in `config`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::claims::VerifiedClaims;
use crate::dpop::Binder;
use crate::error::{AuthError, TokenProblem};
use crate::introspection::{IntrospectionStats, is_compact_jws};
use crate::issuer::{Issuer, Validation};
use crate::jwks::{KeyFetchError, KeySetStatus, KeyStats};
use crate::respond::Responder;
use crate::validate;

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
    binder: Arc<Binder>,
}

enum Routing {
    One(Arc<Issuer>),
    Many(ManyIssuers),
}

/// Several issuers, each with its own rules, keys and caches, chosen by the token's `iss`.
struct ManyIssuers {
    by_issuer: HashMap<String, Arc<Issuer>>,
    /// The one issuer that introspects, if exactly one does: opaque tokens carry no `iss`,
    /// so they go there.
    introspecting: Option<Arc<Issuer>>,
    max_token_bytes: usize,
    responder: Responder,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for issuer in self.issuers() {
            let rules = issuer.rules();
            list.entry(&format_args!(
                "{} for {:?} with {:?}",
                rules.issuer, rules.audiences, rules.algorithms
            ));
        }
        list.finish()
    }
}

impl Validator {
    pub(crate) fn one(issuer: Issuer, binder: Binder) -> Self {
        Validator {
            routing: Arc::new(Routing::One(Arc::new(issuer))),
            binder: Arc::new(binder),
        }
    }

    /// Several issuers under one validator; `issuers` is not empty and has unique names,
    /// and refusals are written by `responder`.
    pub(crate) fn many(
        issuers: Vec<Arc<Issuer>>,
        responder: Responder,
        binder: Arc<Binder>,
    ) -> Self {
        let max_token_bytes = issuers.iter().map(|i| i.max_token_bytes()).max();
        let mut introspecting = issuers.iter().filter(|issuer| issuer.introspects());
        let introspecting = match (introspecting.next(), introspecting.next()) {
            (Some(only), None) => Some(Arc::clone(only)),
            _ => None,
        };
        Validator {
            routing: Arc::new(Routing::Many(ManyIssuers {
                max_token_bytes: max_token_bytes.unwrap_or(0),
                introspecting,
                by_issuer: issuers
                    .into_iter()
                    .map(|issuer| (issuer.name().to_owned(), issuer))
                    .collect(),
                responder,
            })),
            binder,
        }
    }

    /// The sender-constraint settings (DPoP, mTLS) the layer checks bindings with.
    pub(crate) fn binder(&self) -> &Arc<Binder> {
        &self.binder
    }

    /// Validates a token (the part after `Bearer `), fetching the key set if it is needed,
    /// and applies the validator's claim rules. A token bound to a sender (`cnf.jkt`,
    /// `cnf["x5t#S256"]`) is refused: without the request, its binding cannot be checked.
    pub async fn validate(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        let claims = match self.start(token) {
            Validation::Done(decided) => decided,
            Validation::NeedsKeys(pending) => pending.finish().await,
        }?;
        claims
            .refuse_bearer_use()
            .map_err(AuthError::InvalidToken)?;
        Ok(claims)
    }

    /// The first step of [`validate`](Self::validate): decided at once with the keys at hand
    /// (never waiting or locking), or the parsed token that must wait for the key set.
    pub(crate) fn start(&self, token: &str) -> Validation {
        match self.route(token) {
            Ok(issuer) => issuer.start(token),
            Err(error) => Validation::Done(Err(error)),
        }
    }

    /// The issuer configuration for a token: the only one, or the one its unverified `iss`
    /// names (which is then verified like every other claim).
    fn route(&self, token: &str) -> Result<&Arc<Issuer>, AuthError> {
        match &*self.routing {
            Routing::One(issuer) => Ok(issuer),
            Routing::Many(many) => {
                if token.len() > many.max_token_bytes {
                    return Err(AuthError::InvalidToken(TokenProblem::TooLarge));
                }
                if let Some(issuer) = &many.introspecting
                    && !is_compact_jws(token)
                {
                    return Ok(issuer);
                }
                let iss = validate::unverified_issuer(token).map_err(AuthError::InvalidToken)?;
                many.by_issuer
                    .get(iss.as_str())
                    .ok_or(AuthError::InvalidToken(TokenProblem::WrongIssuer))
            }
        }
    }

    pub(crate) fn issuers(&self) -> Box<dyn Iterator<Item = &Arc<Issuer>> + '_> {
        match &*self.routing {
            Routing::One(issuer) => Box::new(std::iter::once(issuer)),
            Routing::Many(many) => Box::new(many.by_issuer.values()),
        }
    }

    /// How many verified tokens the cache holds (0 when it is off).
    pub fn cached_tokens(&self) -> u64 {
        self.issuers().map(|issuer| issuer.cached_tokens()).sum()
    }

    /// What the verified-token cache weighs against its budget
    /// ([`token_cache_bytes`](crate::ValidatorBuilder::token_cache_bytes)), in estimated bytes.
    pub fn cached_token_bytes(&self) -> u64 {
        self.issuers()
            .map(|issuer| issuer.cached_token_bytes())
            .sum()
    }

    /// The issuers this validator accepts.
    pub fn issuer_names(&self) -> impl Iterator<Item = &str> {
        self.issuers().map(|issuer| issuer.name())
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
        self.issuers().all(|issuer| issuer.is_ready())
    }

    /// The cached key set's size, age and freshness (`None` in secret mode, before the first
    /// successful fetch, and with several issuers).
    pub fn key_set_status(&self) -> Option<KeySetStatus> {
        match &*self.routing {
            Routing::One(issuer) => issuer.key_set_status(),
            Routing::Many(_) => None,
        }
    }

    /// What token introspection has done so far: calls to the endpoint, cache hits,
    /// failures, and the result cache's size (all zero without introspection; summed over
    /// the issuers, with several).
    pub fn introspection_stats(&self) -> IntrospectionStats {
        self.issuers()
            .map(|issuer| issuer.introspection_stats())
            .fold(IntrospectionStats::default(), IntrospectionStats::add)
    }

    /// What the key set caches have done so far (all zero in secret mode; summed over the
    /// issuers, with several).
    pub fn key_stats(&self) -> KeyStats {
        self.issuers()
            .map(|issuer| issuer.key_stats())
            .fold(KeyStats::default(), KeyStats::add)
    }

    pub(crate) fn max_token_bytes(&self) -> usize {
        match &*self.routing {
            Routing::One(issuer) => issuer.max_token_bytes(),
            Routing::Many(many) => many.max_token_bytes,
        }
    }

    /// How this validator's refusals are written; the layer hands it on to the route guards
    /// and the extractors through the request extensions.
    pub(crate) fn responder(&self) -> &Responder {
        match &*self.routing {
            Routing::One(issuer) => issuer.responder(),
            Routing::Many(many) => &many.responder,
        }
    }
}
