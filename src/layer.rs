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

use crate::claims::VerifiedClaims;
use crate::error::AuthError;
use crate::extract::{self, TokenSource};
use crate::issuer::Validation;
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
            Validation::Done(Ok(claims)) => match authenticated(&mut request, claims, validator) {
                Ok(()) => ResponseFuture::inner(self.inner.call(request)),
                Err(refusal) => ResponseFuture::rejected(refusal),
            },
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
                        Ok(claims) => match authenticated(&mut request, claims, &validator) {
                            Ok(()) => inner.call(request).await.map(|r| r.map(Either::Left)),
                            Err(refusal) => Ok(refusal.map(Either::Right)),
                        },
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

/// Hands the verified claims, and how to write later refusals, to the inner service; or the
/// refusal, when the token is bound to a sender and presented as a plain bearer token.
fn authenticated<B>(
    request: &mut Request<B>,
    claims: VerifiedClaims,
    validator: &Validator,
) -> Result<(), Response<Full<Bytes>>> {
    if let Err(problem) = claims.refuse_bearer_use() {
        let error = AuthError::InvalidToken(problem);
        return Err(validator.responder().respond_to(request.headers(), &error));
    }
    crate::telemetry::request_accepted();
    request.extensions_mut().insert(claims);
    hand_on_responder(request, validator);
    Ok(())
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
    /// ([`RequireScopesService`](crate::RequireScopesService),
    /// [`RequireClaimsService`](crate::RequireClaimsService)).
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
