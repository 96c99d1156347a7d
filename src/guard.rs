//! Route guards: [`RequireScopes`] and [`RequireClaims`] authorize what
//! [`BearerLayer`](crate::BearerLayer) authenticated, per route; [`RequireAuthentication`]
//! asks for a stronger or more recent user authentication (RFC 9470 step-up).
//!
//! Named as in tower-http: the layer [`RequireScopes`] makes a [`RequireScopesService`], the
//! layer [`RequireClaims`] a [`RequireClaimsService`]; both answer with the
//! [`ResponseFuture`] of the bearer layer. A guard decides synchronously from the
//! [`VerifiedClaims`] the layer left on the request, and writes a refusal the way that layer's
//! validator does (realm, `resource_metadata`, error body hook). A request that reaches a guard
//! without verified claims (no layer in front, or an anonymous request behind an optional one)
//! gets a bare 401 challenge, never a pass.
//!
//! ```
//! use axum::{Router, routing::get};
//! use bearer_guard::{ClaimRule, RequireClaims, RequireScopes};
//!
//! let app: Router = Router::new()
//!     .route("/api/messages", get(|| async { "messages" }))
//!     .route_layer(RequireScopes::all(["read:messages"]))
//!     .route("/api/invoices", get(|| async { "invoices" }))
//!     .route_layer(RequireClaims::new(ClaimRule::client_id_in(["billing-service"])));
//! ```

use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::VerifiedClaims;
use crate::error::{AuthError, StepUp};
use crate::issuer::unix_now;
use crate::layer::{BearerBody, ResponseFuture};
use crate::respond::Responder;
use crate::rules::ClaimRule;
use crate::scope::ScopePolicy;

/// The `Layer` impl of a guard, and its service: the guard's `check` on the verified claims,
/// then [`authorize`].
macro_rules! guard_service {
    ($guard:ident, $service:ident) => {
        impl<S> Layer<S> for $guard {
            type Service = $service<S>;

            fn layer(&self, inner: S) -> Self::Service {
                $service {
                    inner,
                    guard: self.clone(),
                }
            }
        }

        #[doc = concat!("The service of [`", stringify!($guard), "`].")]
        #[derive(Clone, Debug)]
        pub struct $service<S> {
            inner: S,
            guard: $guard,
        }

        impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for $service<S>
        where
            S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        {
            type Response = Response<BearerBody<ResBody>>;
            type Error = S::Error;
            type Future = ResponseFuture<S::Future, ResBody, S::Error>;

            fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
                self.inner.poll_ready(cx)
            }

            fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
                let guard = &self.guard;
                let realm = guard.realm.as_deref();
                authorize(&mut self.inner, request, realm, |claims| {
                    guard.check(claims)
                })
            }
        }
    };
}

/// Authorizes a route: the token authenticated by [`BearerLayer`](crate::BearerLayer) must
/// satisfy a [`ScopePolicy`], else 403 `insufficient_scope`. A request that reached it without
/// verified claims (no `BearerLayer` in front) gets a bare 401 challenge, never a pass.
///
/// ```
/// use axum::{Router, routing::get};
/// use bearer_guard::{RequireScopes, ScopePolicy};
///
/// let scoped: Router = Router::new()
///     .route("/api/private-scoped", get(|| async { "scoped" }))
///     .route_layer(RequireScopes::all(["read:messages"]))
///     .route("/api/admin", get(|| async { "admin" }))
///     .route_layer(RequireScopes::policy(ScopePolicy::any_of_all([
///         vec!["admin"],
///         vec!["read:messages", "write:messages"],
///     ])));
/// ```
#[derive(Clone, Debug)]
pub struct RequireScopes {
    policy: ScopePolicy,
    realm: Option<String>,
}

impl RequireScopes {
    /// Every one of `scopes` is required.
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::policy(ScopePolicy::all(scopes))
    }

    /// At least one of `scopes` is required.
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::policy(ScopePolicy::any(scopes))
    }

    /// Any scope policy.
    pub fn policy(policy: ScopePolicy) -> Self {
        RequireScopes {
            policy,
            realm: None,
        }
    }

    /// The `realm` of the challenges this guard sends (default: the realm of the validator
    /// behind the [`BearerLayer`](crate::BearerLayer), if it has one).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }
}

impl RequireScopes {
    fn check(&self, claims: &VerifiedClaims) -> Result<(), AuthError> {
        self.policy.check(claims.scopes())
    }
}

guard_service!(RequireScopes, RequireScopesService);

/// Authorizes a route with [`ClaimRule`]s: all must pass, each failure answered as the rule
/// says (401 `invalid_token` or 403 `insufficient_scope`). Like [`RequireScopes`], it needs
/// [`BearerLayer`](crate::BearerLayer) in front and never passes a request without verified
/// claims.
///
/// ```
/// use axum::{Router, routing::get};
/// use bearer_guard::{ClaimRule, RequireClaims};
///
/// let billing: Router = Router::new()
///     .route("/api/invoices", get(|| async { "invoices" }))
///     .route_layer(RequireClaims::new(
///         ClaimRule::client_id_in(["billing-service"]).or_forbidden(),
///     ));
/// ```
#[derive(Clone, Debug)]
pub struct RequireClaims {
    rules: Vec<ClaimRule>,
    realm: Option<String>,
}

impl RequireClaims {
    /// Requires `rule`.
    pub fn new(rule: ClaimRule) -> Self {
        RequireClaims {
            rules: vec![rule],
            realm: None,
        }
    }

    /// Requires `rule` as well.
    pub fn and(mut self, rule: ClaimRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The `realm` of the challenges this guard sends (default: the validator's).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }
}

impl RequireClaims {
    fn check(&self, claims: &VerifiedClaims) -> Result<(), AuthError> {
        crate::rules::check_all(&self.rules, claims, unix_now())
    }
}

guard_service!(RequireClaims, RequireClaimsService);

/// Requires a user authentication of a given kind or age on a route (RFC 9470 step-up): the
/// token's `acr` among the listed values, its `amr` holding the listed methods, its
/// `auth_time` at most `max_age` ago. Otherwise 401 `insufficient_user_authentication` with
/// `acr_values` and `max_age` in the challenge, which tells the client to authenticate the user
/// again with them. A token without `auth_time` fails a `max_age` requirement: its age cannot
/// be checked. Like [`RequireScopes`], it needs [`BearerLayer`](crate::BearerLayer) in front.
///
/// ```
/// use std::time::Duration;
///
/// use axum::{Router, routing::post};
/// use bearer_guard::RequireAuthentication;
///
/// const MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";
///
/// let app: Router = Router::new()
///     .route("/api/transfers", post(|| async { "sent" }))
///     .route_layer(RequireAuthentication::acr([MFA]).max_age(Duration::from_secs(300)))
///     .route("/api/password", post(|| async { "changed" }))
///     .route_layer(RequireAuthentication::default().max_age(Duration::from_secs(60)));
/// ```
#[derive(Clone, Debug)]
pub struct RequireAuthentication {
    acr: Vec<String>,
    amr: Vec<String>,
    max_age: Option<Duration>,
    realm: Option<String>,
    /// The names of the `acr`, `amr` and `auth_time` claims, in that order.
    names: [String; 3],
}

/// No requirement yet: add them with [`max_age`](RequireAuthentication::max_age) and
/// [`amr`](RequireAuthentication::amr).
impl Default for RequireAuthentication {
    fn default() -> Self {
        RequireAuthentication {
            acr: Vec::new(),
            amr: Vec::new(),
            max_age: None,
            realm: None,
            names: ["acr", "amr", "auth_time"].map(String::from),
        }
    }
}

impl RequireAuthentication {
    /// The token's `acr` must be one of `values`, listed in order of preference (the order of
    /// `acr_values` in the challenge).
    pub fn acr<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireAuthentication {
            acr: values.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The user must have authenticated at most `max_age` ago (the token's `auth_time`), to
    /// the second.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The token's `amr` (RFC 8176 method names, e.g. `mfa`, `otp`) must hold every one of
    /// `methods`. The challenge cannot name methods (RFC 9470 has no such parameter), so
    /// pair this with the `acr` the issuer maps them to.
    pub fn amr<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.amr = methods.into_iter().map(Into::into).collect();
        self
    }

    /// Reads the claims as `{namespace}acr`, `{namespace}amr` and `{namespace}auth_time`:
    /// for issuers that will not put the standard names in access tokens (Auth0 reserves
    /// them, so an Action adds them under a namespace such as `https://api.example.com/`).
    pub fn claim_namespace(mut self, namespace: &str) -> Self {
        self.names = ["acr", "amr", "auth_time"].map(|name| format!("{namespace}{name}"));
        self
    }

    /// The `realm` of the challenges this guard sends (default: the validator's).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }
}

impl RequireAuthentication {
    fn check(&self, claims: &VerifiedClaims) -> Result<(), AuthError> {
        let [acr, amr, auth_time] = &self.names;
        let acr_ok = self.acr.is_empty()
            || claims
                .get(acr)
                .and_then(|acr| acr.as_str())
                .is_some_and(|acr| self.acr.iter().any(|wanted| wanted == acr));
        if !acr_ok {
            return Err(self.refusal("a different authentication level is required"));
        }
        let amr_ok = self.amr.is_empty()
            || claims
                .get(amr)
                .and_then(|amr| amr.as_array())
                .is_some_and(|amr| {
                    self.amr
                        .iter()
                        .all(|wanted| amr.iter().any(|method| method.as_str() == Some(wanted)))
                });
        if !amr_ok {
            return Err(self.refusal("other authentication methods are required"));
        }
        if let Some(max_age) = self.max_age {
            // A NumericDate read as `ClaimRule::max_age` reads `iat` (a fraction rounded
            // down); not a number: refused. One ahead of the clock (skew) is fresh: the issuer
            // signed it.
            let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
            let fresh = claims
                .get(auth_time)
                .and_then(serde_json::Value::as_f64)
                .is_some_and(|time| unix_now().saturating_sub(time.floor() as i64) <= max_age);
            if !fresh {
                return Err(self.refusal("a more recent authentication is required"));
            }
        }
        Ok(())
    }

    /// The RFC 9470 refusal: every requirement of the route in the challenge, so that one
    /// new authentication meets them all.
    fn refusal(&self, description: &'static str) -> AuthError {
        AuthError::InsufficientUserAuthentication(Box::new(StepUp {
            description,
            acr_values: (!self.acr.is_empty()).then(|| self.acr.join(" ")),
            max_age: self.max_age.map(|max_age| max_age.as_secs()),
        }))
    }
}

guard_service!(RequireAuthentication, RequireAuthenticationService);

/// Passes the request on if it carries verified claims that `check` accepts; otherwise
/// answers with the refusal, written by the responder the layer left (with this guard's realm).
fn authorize<S, ReqBody, ResBody>(
    inner: &mut S,
    request: Request<ReqBody>,
    realm: Option<&str>,
    check: impl FnOnce(&VerifiedClaims) -> Result<(), AuthError>,
) -> ResponseFuture<S::Future, ResBody, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    let verdict = match request.extensions().get::<VerifiedClaims>() {
        None => Err(AuthError::MissingToken),
        Some(claims) => check(claims),
    };
    match verdict {
        Ok(()) => ResponseFuture::inner(inner.call(request)),
        Err(error) => {
            let responder = Responder::of(request.extensions())
                .cloned()
                .unwrap_or_default()
                .with_realm(realm);
            ResponseFuture::rejected(responder.respond_to(
                request.uri().path(),
                request.headers(),
                &error,
            ))
        }
    }
}
