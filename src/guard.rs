//! Route guards: [`RequireScopes`] and [`RequireClaims`] authorize what
//! [`BearerLayer`](crate::BearerLayer) authenticated, per route.
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

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::VerifiedClaims;
use crate::error::AuthError;
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
