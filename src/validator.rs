//! [`Validator`]: one issuer, or several chosen by the token's `iss` (a fixed list, or
//! resolved per request), behind one cheap handle.
//!
//! This is the facade: the pipeline of each issuer lives in `issuer`, the configuration
//! (`Validator::builder`, presets, `for_issuers`, `resolved_issuers`) in `config`, the
//! admission of issuers per request in `resolver`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::claims::VerifiedClaims;
use crate::dpop::Binder;
use crate::error::{AuthError, TokenProblem};
use crate::introspection::{IntrospectionStats, is_compact_jws};
use crate::issuer::{Issuer, Validation};
use crate::jwks::{KeyFetchError, KeySetStatus, KeyStats};
use crate::resolver::{RequestView, ResolvedIssuers};
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
}

enum Routing {
    One(Route),
    Many(ManyIssuers),
    PerRequest(PerRequest),
}

/// One issuer's pipeline and the sender-constraint settings (DPoP, mTLS) its tokens are
/// checked with: an issuer combined with others keeps its own.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) issuer: Arc<Issuer>,
    pub(crate) binder: Arc<Binder>,
}

/// Several issuers, each with its own rules, keys, caches and binding rules, chosen by the
/// token's `iss`.
struct ManyIssuers {
    by_issuer: HashMap<String, Route>,
    /// The one issuer that introspects, if exactly one does: opaque tokens carry no `iss`,
    /// so they go there.
    introspecting: Option<Route>,
    max_token_bytes: usize,
    responder: Responder,
    /// Whether some issuer takes `Bearer` tokens, and whether some checks DPoP proofs: the
    /// token is read from the request before its issuer is known, then its issuer's own
    /// binder decides.
    accepts_bearer: bool,
    recognises_dpop: bool,
}

/// Issuers admitted per request by an `IssuerResolver`, each built from one template.
struct PerRequest {
    issuers: ResolvedIssuers<Route>,
    /// The template's pipeline, built with a sample issuer: it never validates a token; it
    /// says which schemes are read, how refusals are written, and what diagnosis shows for
    /// a token no issuer was resolved for.
    template: Route,
    /// The accepted issuers, when listed.
    names: Vec<String>,
    /// What they look like, for diagnosis (the template, or what admits them).
    shown: Vec<String>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Routing::PerRequest(per_request) = &*self.routing {
            return f
                .debug_struct("Validator")
                .field("resolved_issuers", &per_request.shown)
                .finish_non_exhaustive();
        }
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
            routing: Arc::new(Routing::One(Route {
                issuer: Arc::new(issuer),
                binder: Arc::new(binder),
            })),
        }
    }

    /// Several issuers under one validator; `routes` is not empty and has unique names,
    /// and refusals are written by `responder`.
    pub(crate) fn many(routes: Vec<Route>, responder: Responder) -> Self {
        let max_token_bytes = routes.iter().map(|r| r.issuer.max_token_bytes()).max();
        let mut introspecting = routes.iter().filter(|route| route.issuer.introspects());
        let introspecting = match (introspecting.next(), introspecting.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        };
        Validator {
            routing: Arc::new(Routing::Many(ManyIssuers {
                max_token_bytes: max_token_bytes.unwrap_or(0),
                introspecting,
                accepts_bearer: routes.iter().any(|r| r.binder.accepts_bearer()),
                recognises_dpop: routes.iter().any(|r| r.binder.recognises_dpop()),
                by_issuer: routes
                    .into_iter()
                    .map(|route| (route.issuer.name().to_owned(), route))
                    .collect(),
                responder,
            })),
        }
    }

    /// Issuers admitted per request, built from `template`'s settings; `names` when they
    /// are listed, `shown` for diagnosis.
    pub(crate) fn resolved(
        issuers: ResolvedIssuers<Route>,
        template: Route,
        names: Vec<String>,
        shown: Vec<String>,
    ) -> Self {
        Validator {
            routing: Arc::new(Routing::PerRequest(PerRequest {
                issuers,
                template,
                names,
                shown,
            })),
        }
    }

    /// Whether the issuers are resolved per request ([`resolved_issuers`](Self::resolved_issuers)).
    pub(crate) fn resolves_per_request(&self) -> bool {
        matches!(&*self.routing, Routing::PerRequest(_))
    }

    /// Whether the `Bearer` scheme (and the other token sources) are read: by the one
    /// issuer, or by some of several (whose own binder then decides).
    pub(crate) fn accepts_bearer(&self) -> bool {
        match &*self.routing {
            Routing::One(route) => route.binder.accepts_bearer(),
            Routing::Many(many) => many.accepts_bearer,
            Routing::PerRequest(per_request) => per_request.template.binder.accepts_bearer(),
        }
    }

    /// Whether the `DPoP` scheme is read (see [`accepts_bearer`](Self::accepts_bearer)).
    pub(crate) fn recognises_dpop(&self) -> bool {
        match &*self.routing {
            Routing::One(route) => route.binder.recognises_dpop(),
            Routing::Many(many) => many.recognises_dpop,
            Routing::PerRequest(per_request) => per_request.template.binder.recognises_dpop(),
        }
    }

    /// The DPoP proof algorithms to advertise: those of the issuers that check proofs
    /// (`for_issuers` made sure they agree).
    pub(crate) fn advertised_dpop_algs(&self) -> Option<&str> {
        self.routes()
            .find_map(|route| route.binder.advertised_algs())
    }

    /// Whether every issuer requires DPoP-bound tokens.
    pub(crate) fn requires_dpop(&self) -> bool {
        self.routes().all(|route| route.binder.requires_dpop())
    }

    /// Validates a token (the part after `Bearer `), fetching the key set if it is needed,
    /// and applies the validator's claim rules. A token bound to a sender (`cnf.jkt`,
    /// `cnf["x5t#S256"]`) is refused: without the request, its binding cannot be checked.
    /// Waiting for the key set or an introspection call needs a Tokio runtime (they run as
    /// its tasks); polled outside one, the answer is [`AuthError::NoRuntime`].
    ///
    /// With issuers resolved per request and a
    /// [`tenant_of_request`](crate::resolver::IssuerResolver::tenant_of_request) mapping,
    /// every token is refused here: use [`validate_request`](Self::validate_request).
    pub async fn validate(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        self.validate_with(token, None).await
    }

    /// [`validate`](Self::validate), for a token presented with `request`: issuers resolved
    /// per request may depend on it (its host, path or headers).
    pub async fn validate_request(
        &self,
        token: &str,
        request: &RequestView<'_>,
    ) -> Result<VerifiedClaims, AuthError> {
        self.validate_with(token, Some(request)).await
    }

    async fn validate_with(
        &self,
        token: &str,
        request: Option<&RequestView<'_>>,
    ) -> Result<VerifiedClaims, AuthError> {
        let route = self.route(token, request)?;
        let claims = match route.issuer.start(token) {
            Validation::Done(decided) => decided,
            Validation::NeedsKeys(pending) => pending.finish().await,
        }?;
        claims
            .refuse_bearer_use()
            .map_err(AuthError::InvalidToken)?;
        Ok(claims)
    }

    /// The issuer configuration for a token, with its binding rules: the only one, or the
    /// one its unverified `iss` names (which is then verified like every other claim), or
    /// the one the resolver admits for it on `request`. Its issuer's `start` is the first
    /// step of [`validate`](Self::validate).
    pub(crate) fn route(
        &self,
        token: &str,
        request: Option<&RequestView<'_>>,
    ) -> Result<Cow<'_, Route>, AuthError> {
        match &*self.routing {
            Routing::One(route) => Ok(Cow::Borrowed(route)),
            Routing::Many(many) => {
                if token.len() > many.max_token_bytes {
                    return Err(AuthError::InvalidToken(TokenProblem::TooLarge));
                }
                if let Some(route) = &many.introspecting
                    && !is_compact_jws(token)
                {
                    return Ok(Cow::Borrowed(route));
                }
                let iss = validate::unverified_issuer(token).map_err(AuthError::InvalidToken)?;
                many.by_issuer
                    .get(iss.as_str())
                    .map(Cow::Borrowed)
                    .ok_or(AuthError::InvalidToken(TokenProblem::WrongIssuer))
            }
            Routing::PerRequest(per_request) => {
                if token.len() > per_request.template.issuer.max_token_bytes() {
                    return Err(AuthError::InvalidToken(TokenProblem::TooLarge));
                }
                let iss = validate::unverified_issuer(token).map_err(AuthError::InvalidToken)?;
                per_request
                    .issuers
                    .resolve(&iss, request)
                    .map(Cow::Owned)
                    .map_err(AuthError::InvalidToken)
            }
        }
    }

    /// Every configured issuer with its binding rules; with issuers resolved per request,
    /// the template's (which says how tokens are read, and validates none).
    pub(crate) fn routes(&self) -> Box<dyn Iterator<Item = &Route> + '_> {
        match &*self.routing {
            Routing::One(route) => Box::new(std::iter::once(route)),
            Routing::Many(many) => Box::new(many.by_issuer.values()),
            Routing::PerRequest(per_request) => Box::new(std::iter::once(&per_request.template)),
        }
    }

    /// Every issuer that validates tokens now: the configured ones, or those resolved and
    /// kept so far.
    pub(crate) fn issuers(&self) -> Vec<Arc<Issuer>> {
        match &*self.routing {
            Routing::PerRequest(per_request) => per_request
                .issuers
                .active()
                .into_iter()
                .map(|route| route.issuer)
                .collect(),
            _ => self
                .routes()
                .map(|route| Arc::clone(&route.issuer))
                .collect(),
        }
    }

    /// How many issuers' pipelines (key set, verified-token cache) are kept now: with issuers
    /// resolved per request, those resolved and not yet dropped (at most
    /// [`max_issuers`](crate::resolver::IssuerResolver::max_issuers)); else every configured one.
    pub fn issuer_count(&self) -> u64 {
        match &*self.routing {
            Routing::PerRequest(per_request) => per_request.issuers.len(),
            _ => self.routes().count() as u64,
        }
    }

    /// How many verified tokens the cache holds (0 when it is off).
    pub fn cached_tokens(&self) -> u64 {
        self.issuers()
            .iter()
            .map(|issuer| issuer.cached_tokens())
            .sum()
    }

    /// What the verified-token cache weighs against its budget
    /// ([`token_cache_bytes`](crate::ValidatorBuilder::token_cache_bytes)), in estimated bytes.
    pub fn cached_token_bytes(&self) -> u64 {
        self.issuers()
            .iter()
            .map(|issuer| issuer.cached_token_bytes())
            .sum()
    }

    /// The issuers this validator accepts; with issuers resolved per request, the listed
    /// ones (none when a callback admits them).
    pub fn issuer_names(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match &*self.routing {
            Routing::PerRequest(per_request) => {
                Box::new(per_request.names.iter().map(String::as_str))
            }
            _ => Box::new(self.routes().map(|route| route.issuer.name())),
        }
    }

    /// The accepted issuers as a diagnosis shows them: their names, or with issuers
    /// resolved per request by a callback, the template or what admits them.
    pub(crate) fn shown_issuers(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match &*self.routing {
            Routing::PerRequest(per_request) => {
                Box::new(per_request.shown.iter().map(String::as_str))
            }
            _ => self.issuer_names(),
        }
    }

    /// Fetches the key set now (secret mode: nothing to do), for start-up: call it before
    /// serving so that the first requests do not wait, and to fail fast on a wrong issuer.
    /// With several issuers, every one is fetched; with issuers resolved per request, those
    /// resolved so far (the others are not known yet).
    pub async fn warm_up(&self) -> Result<(), KeyFetchError> {
        for issuer in self.issuers() {
            issuer.warm_up().await?;
        }
        Ok(())
    }

    /// Whether tokens can be verified right now without waiting for the issuer (every issuer,
    /// with several): for a readiness probe.
    pub fn is_ready(&self) -> bool {
        self.issuers().iter().all(|issuer| issuer.is_ready())
    }

    /// The cached key set's size, age and freshness (`None` in secret mode, before the first
    /// successful fetch, and with several issuers).
    pub fn key_set_status(&self) -> Option<KeySetStatus> {
        match &*self.routing {
            Routing::One(route) => route.issuer.key_set_status(),
            Routing::Many(_) | Routing::PerRequest(_) => None,
        }
    }

    /// What token introspection has done so far: calls to the endpoint, cache hits,
    /// failures, and the result cache's size (all zero without introspection; summed over
    /// the issuers, with several).
    pub fn introspection_stats(&self) -> IntrospectionStats {
        self.issuers()
            .iter()
            .map(|issuer| issuer.introspection_stats())
            .fold(IntrospectionStats::default(), IntrospectionStats::add)
    }

    /// What the key set caches have done so far (all zero in secret mode; summed over the
    /// issuers, with several).
    pub fn key_stats(&self) -> KeyStats {
        self.issuers()
            .iter()
            .map(|issuer| issuer.key_stats())
            .fold(KeyStats::default(), KeyStats::add)
    }

    pub(crate) fn max_token_bytes(&self) -> usize {
        match &*self.routing {
            Routing::One(route) => route.issuer.max_token_bytes(),
            Routing::Many(many) => many.max_token_bytes,
            Routing::PerRequest(per_request) => per_request.template.issuer.max_token_bytes(),
        }
    }

    /// How this validator's refusals are written; the layer hands it on to the route guards
    /// and the extractors through the request extensions.
    pub(crate) fn responder(&self) -> &Responder {
        match &*self.routing {
            Routing::One(route) => route.issuer.responder(),
            Routing::Many(many) => &many.responder,
            Routing::PerRequest(per_request) => per_request.template.issuer.responder(),
        }
    }
}
