//! The tower middleware: [`BearerLayer`] authenticates, [`RequireScopes`] authorizes.
//!
//! Both are generic over the request and response bodies, so the same layer serves axum,
//! plain hyper and tonic. A refusal is answered with a small JSON body; the response body
//! type is therefore [`Either`] of the inner service's body and [`Full<Bytes>`].
//!
//! tower-http's `AsyncRequireAuthorization` was weighed and not used: it boxes a future for
//! every request and must build the refusal in the inner body type. Here a request whose
//! keys are cached is decided synchronously, and only a key set fetch costs a boxed future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use http_body_util::{Either, Full};
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::VerifiedClaims;
use crate::error::AuthError;
use crate::extract::{self, TokenSource};
use crate::issuer::{Validation, unix_now};
use crate::respond::Responder;
use crate::rules::ClaimRule;
use crate::scope::ScopePolicy;
use crate::validator::Validator;

/// The response body of the middleware: the inner service's, or a refusal's JSON.
pub type BearerBody<B> = Either<B, Full<Bytes>>;

/// Authenticates every request with a bearer token and puts the [`VerifiedClaims`] into the
/// request extensions; refuses the rest per the behaviour contract.
///
/// ```
/// use axum::{Router, routing::get};
/// use bearer_guard::{BearerLayer, Validator};
///
/// # fn app() -> Result<Router, bearer_guard::ConfigError> {
/// let validator = Validator::builder()
///     .issuer("https://my-tenant.us.auth0.com/")
///     .audience("https://api.example.com")
///     .build()?;
/// let app = Router::new()
///     .route("/api/private", get(|| async { "hello" }))
///     .layer(BearerLayer::new(validator));
/// # Ok(app) }
/// ```
#[derive(Clone, Debug)]
pub struct BearerLayer {
    validator: Validator,
    optional: bool,
    sources: Arc<[TokenSource]>,
}

impl BearerLayer {
    /// A layer that validates with `validator`.
    pub fn new(validator: Validator) -> Self {
        BearerLayer {
            validator,
            optional: false,
            sources: Arc::new([]),
        }
    }

    /// Optional authentication: a request without any token passes on without claims
    /// (handlers take `Option<Claims<T>>`), but a token that is presented must be valid —
    /// an invalid one is still refused, unlike a "skip auth on error" mode.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Also looks for the token in `source` (a cookie, another header, the query). A request
    /// with a token in more than one place is refused with 400 `invalid_request`.
    pub fn token_source(mut self, source: TokenSource) -> Self {
        let mut sources = self.sources.to_vec();
        sources.push(source);
        self.sources = sources.into();
        self
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = BearerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`BearerLayer`].
#[derive(Clone, Debug)]
pub struct BearerService<S> {
    inner: S,
    layer: BearerLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BearerService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<BearerBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let validator = &self.layer.validator;
        let max_len = validator.max_token_bytes();
        let token = match extract::request_token(&request, &self.layer.sources, max_len) {
            Ok(token) => token,
            Err(AuthError::MissingToken) if self.layer.optional => {
                // Always left here, so that extractors requiring claims know a layer ran.
                request
                    .extensions_mut()
                    .insert(validator.responder().clone());
                return ResponseFuture::inner(self.inner.call(request));
            }
            Err(error) => {
                let response = validator.responder().respond_to(request.headers(), &error);
                return ResponseFuture::rejected(response);
            }
        };
        match validator.start(&token) {
            Validation::Done(Ok(claims)) => {
                authenticated(&mut request, claims, validator);
                ResponseFuture::inner(self.inner.call(request))
            }
            Validation::Done(Err(error)) => {
                let response = validator.responder().respond_to(request.headers(), &error);
                ResponseFuture::rejected(response)
            }
            Validation::NeedsKeys(pending) => {
                // The parsed token waits for the key set. The ready service goes into the
                // future; a fresh clone takes its place for the next request.
                let validator = validator.clone();
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(Box::pin(async move {
                    match pending.finish().await {
                        Ok(claims) => {
                            authenticated(&mut request, claims, &validator);
                            inner.call(request).await.map(|r| r.map(Either::Left))
                        }
                        Err(error) => {
                            let response =
                                validator.responder().respond_to(request.headers(), &error);
                            Ok(response.map(Either::Right))
                        }
                    }
                }))
            }
        }
    }
}

/// Hands the verified claims, and how to write later refusals, to the inner service.
fn authenticated<B>(request: &mut Request<B>, claims: VerifiedClaims, validator: &Validator) {
    crate::telemetry::request_accepted();
    request.extensions_mut().insert(claims);
    hand_on_responder(request, validator);
}

/// Leaves the validator's way of writing refusals for the route guards and extractors.
fn hand_on_responder<B>(request: &mut Request<B>, validator: &Validator) {
    let responder = validator.responder();
    if !responder.is_default() {
        request.extensions_mut().insert(responder.clone());
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`BearerService`] and [`AuthorizeService`].
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response<Full<Bytes>>> },
        Waiting { future: BoxFuture<'static, Result<Response<BearerBody<B>>, E>> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    fn inner(future: F) -> Self {
        ResponseFuture {
            state: State::Inner { future },
        }
    }

    fn rejected(response: Response<Full<Bytes>>) -> Self {
        ResponseFuture {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    fn waiting(future: BoxFuture<'static, Result<Response<BearerBody<B>>, E>>) -> Self {
        ResponseFuture {
            state: State::Waiting { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<BearerBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(Either::Left)))
            }
            StateProj::Rejected { response } => {
                let response = response.take().expect("polled after completion");
                Poll::Ready(Ok(response.map(Either::Right)))
            }
            StateProj::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}

/// Authorizes a route: the token authenticated by [`BearerLayer`] must satisfy a
/// [`ScopePolicy`], else 403 `insufficient_scope`. A request that reached it without
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
    /// behind the [`BearerLayer`], if it has one).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }
}

impl<S> Layer<S> for RequireScopes {
    type Service = AuthorizeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthorizeService {
            inner,
            requirement: Requirement::Scopes(self.policy.clone()),
            realm: self.realm.clone(),
        }
    }
}

/// Authorizes a route with [`ClaimRule`]s: all must pass, each failure answered as the rule
/// says (401 `invalid_token` or 403 `insufficient_scope`). Like [`RequireScopes`], it needs
/// [`BearerLayer`] in front and never passes a request without verified claims.
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

impl<S> Layer<S> for RequireClaims {
    type Service = AuthorizeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthorizeService {
            inner,
            requirement: Requirement::Claims(self.rules.clone()),
            realm: self.realm.clone(),
        }
    }
}

/// What an [`AuthorizeService`] requires.
#[derive(Clone, Debug)]
enum Requirement {
    Scopes(ScopePolicy),
    Claims(Vec<ClaimRule>),
}

impl Requirement {
    fn check(&self, claims: &VerifiedClaims) -> Result<(), AuthError> {
        match self {
            Requirement::Scopes(policy) => policy.check(claims.scopes()),
            Requirement::Claims(rules) => crate::rules::check_all(rules, claims, unix_now()),
        }
    }
}

/// The service of [`RequireScopes`] and [`RequireClaims`].
#[derive(Clone, Debug)]
pub struct AuthorizeService<S> {
    inner: S,
    requirement: Requirement,
    realm: Option<String>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthorizeService<S>
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
        let verdict = match request.extensions().get::<VerifiedClaims>() {
            None => Err(AuthError::MissingToken),
            Some(claims) => self.requirement.check(claims),
        };
        match verdict {
            Ok(()) => ResponseFuture::inner(self.inner.call(request)),
            Err(error) => {
                let responder = Responder::of(request.extensions())
                    .cloned()
                    .unwrap_or_default()
                    .with_realm(self.realm.as_deref());
                ResponseFuture::rejected(responder.respond_to(request.headers(), &error))
            }
        }
    }
}
