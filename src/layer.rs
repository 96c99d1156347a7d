//! The authenticating middleware: [`BearerLayer`] -> [`BearerService`] -> [`ResponseFuture`].
//! The route guards that authorize afterwards live in `guard.rs`.
//!
//! All are generic over the request and response bodies, so the same layer serves axum,
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

use futures_util::FutureExt;

use crate::claims::VerifiedClaims;
use crate::dpop::{Binder, Decision, Presented};
use crate::error::AuthError;
pub use crate::extract::TokenSource;
use crate::extract::{self, Schemes};
use crate::issuer::Validation;
use crate::resolver::RequestView;
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
        let schemes = Schemes {
            bearer: validator.accepts_bearer(),
            dpop: validator.recognises_dpop(),
        };
        let (token, scheme) =
            match extract::request_token(&request, &self.layer.sources, max_len, schemes) {
                Ok(found) => found,
                Err(AuthError::MissingToken) if self.layer.optional => {
                    // Always left here, so that extractors requiring claims know a layer ran.
                    request
                        .extensions_mut()
                        .insert(validator.responder().clone());
                    return ResponseFuture::inner(self.inner.call(request));
                }
                Err(error) => return refuse(&request, validator, &error),
            };
        let presented = Presented::new(scheme, &token);
        let route = match validator.route(&token, Some(&RequestView::of(&request))) {
            Ok(route) => route,
            Err(error) => return refuse(&request, validator, &error),
        };
        // The token's own issuer's binding rules (DPoP, mTLS), with several issuers too.
        let binder = &route.binder;
        let claims = match route.issuer.start(&token) {
            Validation::Done(Ok(claims)) => claims,
            Validation::Done(Err(error)) => return refuse(&request, validator, &error),
            Validation::NeedsKeys(pending) => {
                // The parsed token waits for the key set. The ready service goes into the
                // future; a fresh clone takes its place for the next request.
                let validator = validator.clone();
                let binder = Arc::clone(binder);
                let inner = self.take_inner();
                return ResponseFuture::waiting(Box::pin(async move {
                    let decided = match pending.finish().await {
                        Ok(claims) => {
                            let decision = binder.check(&request, &presented, &claims);
                            settle(decision, &binder).await.map(|()| claims)
                        }
                        Err(error) => Err(error),
                    };
                    serve(request, decided, &validator, inner).await
                }));
            }
        };
        // The binding is checked on every request, cached token or not: the verified-token
        // cache may skip the token's signature, never the proof.
        match binder.check(&request, &presented, &claims) {
            Ok(Decision::Accept) => {
                authenticated(&mut request, claims, validator);
                ResponseFuture::inner(self.inner.call(request))
            }
            Err(error) => refuse(&request, validator, &error),
            Ok(Decision::Replay { key, ttl }) => {
                let store = Arc::clone(binder.store());
                // One request to the store, polled once here: a store that answers at once
                // (the in-memory one) is decided without boxing the response; a slower one
                // (Redis) is awaited in the response future. Asking again instead would send
                // the proof twice and find it already recorded.
                let mut insert = Box::pin(async move { store.insert_once(&key, ttl).await });
                if let Some(answer) = insert.as_mut().now_or_never() {
                    return match binder.settle(answer) {
                        Ok(()) => {
                            authenticated(&mut request, claims, validator);
                            ResponseFuture::inner(self.inner.call(request))
                        }
                        Err(error) => refuse(&request, validator, &error),
                    };
                }
                let validator = validator.clone();
                let binder = Arc::clone(binder);
                let inner = self.take_inner();
                ResponseFuture::waiting(Box::pin(async move {
                    let answer = insert.await;
                    let decided = binder.settle(answer).map(|()| claims);
                    serve(request, decided, &validator, inner).await
                }))
            }
        }
    }
}

impl<S> BearerService<S> {
    /// The ready inner service, for a future that outlives this call; a fresh clone takes
    /// its place for the next request.
    fn take_inner(&mut self) -> S
    where
        S: Clone,
    {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }
}

/// The rest of a binding decision for a token that waited for its key set: the replay store.
async fn settle(decision: Result<Decision, AuthError>, binder: &Binder) -> Result<(), AuthError> {
    match decision? {
        Decision::Accept => Ok(()),
        Decision::Replay { key, ttl } => binder.settle(binder.store().insert_once(&key, ttl).await),
    }
}

/// The end of a request that waited: the inner service with the claims, or the refusal.
async fn serve<S, ReqBody, ResBody>(
    mut request: Request<ReqBody>,
    decided: Result<VerifiedClaims, AuthError>,
    validator: &Validator,
    mut inner: S,
) -> Result<Response<BearerBody<ResBody>>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    match decided {
        Ok(claims) => {
            authenticated(&mut request, claims, validator);
            inner.call(request).await.map(|r| r.map(Either::Left))
        }
        Err(error) => {
            let response =
                validator
                    .responder()
                    .respond_to(request.uri().path(), request.headers(), &error);
            Ok(response.map(Either::Right))
        }
    }
}

/// The refusal of a request, at once.
fn refuse<F, B, E, ReqBody>(
    request: &Request<ReqBody>,
    validator: &Validator,
    error: &AuthError,
) -> ResponseFuture<F, B, E> {
    ResponseFuture::rejected(validator.responder().respond_to(
        request.uri().path(),
        request.headers(),
        error,
    ))
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
    /// The response future of [`BearerService`] and of the route guards
    /// ([`RequireScopesService`](crate::guard::RequireScopesService),
    /// [`RequireClaimsService`](crate::guard::RequireClaimsService)).
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
    pub(crate) fn inner(future: F) -> Self {
        ResponseFuture {
            state: State::Inner { future },
        }
    }

    pub(crate) fn rejected(response: Response<Full<Bytes>>) -> Self {
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
