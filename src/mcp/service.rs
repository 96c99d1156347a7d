//! The service of [`McpScopes`] and its response future: the method and headers checked, a
//! `POST` body read once, its requirements checked against the verified claims, then handed on
//! unchanged; `GET` and `DELETE` handed on unread.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::{Either, Full};
use tower_layer::Layer;
use tower_service::Service;

use super::request::{Refusal, Route, check_headers, read_body, route};
use super::{McpRequestBody, McpScopes};
use crate::claims::VerifiedClaims;
use crate::error::AuthError;
use crate::layer::BearerBody;
use crate::respond::Responder;

impl<S> Layer<S> for McpScopes {
    type Service = McpScopesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        McpScopesService {
            inner,
            scopes: self.clone(),
        }
    }
}

/// The service of [`McpScopes`].
#[derive(Clone, Debug)]
pub struct McpScopesService<S> {
    inner: S,
    scopes: McpScopes,
}

type BoxedFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<BearerBody<B>>, E>> + Send>>;

/// The response future of [`McpScopesService`].
pub struct McpResponseFuture<B, E> {
    future: BoxedFuture<B, E>,
}

impl<B, E> fmt::Debug for McpResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpResponseFuture").finish_non_exhaustive()
    }
}

impl<B, E> Future for McpResponseFuture<B, E> {
    type Output = Result<Response<BearerBody<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for McpScopesService<S>
where
    S: Service<Request<McpRequestBody<ReqBody>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<BearerBody<ResBody>>;
    type Error = S::Error;
    type Future = McpResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The ready service goes into the future; a fresh clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guarded = !self.scopes.table.is_empty();
        let read = if guarded {
            route(request.method())
        } else {
            // No requirement: nothing to check, but a POST body is still held to the limit.
            Ok(if request.method() == Method::POST {
                Route::Read
            } else {
                Route::Unread
            })
        };
        match read {
            Ok(Route::Read) => {}
            Ok(Route::Unread) => {
                let future = inner.call(request.map(Either::Left));
                return McpResponseFuture {
                    future: Box::pin(async move { Ok(future.await?.map(Either::Left)) }),
                };
            }
            Err(refusal) => return refused(refusal),
        }
        if guarded && let Err(refusal) = check_headers(request.headers()) {
            return refused(refusal);
        }
        let scopes = self.scopes.clone();
        McpResponseFuture {
            future: Box::pin(async move {
                let (parts, body) = request.into_parts();
                let bytes = match read_body(&parts.headers, body, scopes.max_body_bytes).await {
                    Ok(bytes) => bytes,
                    Err(refusal) => return Ok(refusal.response().map(Either::Right)),
                };
                if guarded && let Err(error) = scopes.authorize(&parts, &bytes) {
                    let response = match error {
                        Denied::Unreadable(refusal) => refusal.response(),
                        Denied::Auth(error) => Responder::of(&parts.extensions)
                            .cloned()
                            .unwrap_or_default()
                            .with_realm(scopes.realm.as_deref())
                            .respond_to(parts.uri.path(), &parts.headers, &error),
                    };
                    return Ok(response.map(Either::Right));
                }
                let request = Request::from_parts(parts, Either::Right(Full::new(bytes)));
                Ok(inner.call(request).await?.map(Either::Left))
            }),
        }
    }
}

/// The future of a request the layer answers itself, without reading its body.
fn refused<B: Send + 'static, E: Send + 'static>(refusal: Refusal) -> McpResponseFuture<B, E> {
    let response = refusal.response().map(Either::Right);
    McpResponseFuture {
        future: Box::pin(std::future::ready(Ok(response))),
    }
}

/// Why [`McpScopes::authorize`] turns a request away.
enum Denied {
    /// A body the layer cannot read: its own JSON-RPC refusal.
    Unreadable(Refusal),
    /// Claims missing or short of a requirement: a refusal of the validator's responder.
    Auth(AuthError),
}

impl McpScopes {
    /// `Ok` when the routing headers match `body` and the verified claims satisfy every
    /// requirement of `body`.
    fn authorize(&self, parts: &http::request::Parts, body: &[u8]) -> Result<(), Denied> {
        let required = self
            .requirements(&parts.headers, body)
            .map_err(Denied::Unreadable)?;
        let extensions = &parts.extensions;
        if required.is_empty() {
            return Ok(());
        }
        let Some(claims) = extensions.get::<VerifiedClaims>() else {
            return Err(Denied::Auth(AuthError::MissingToken));
        };
        if required
            .iter()
            .all(|policy| policy.is_satisfied_by(claims.scopes()))
        {
            return Ok(());
        }
        // Every scope the request needs, not only those missing (the client unions them with
        // what it has when it asks for a new token).
        let mut names: Vec<&str> = Vec::new();
        for name in required.iter().flat_map(|policy| policy.names()) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Err(Denied::Auth(AuthError::InsufficientScope {
            required: names.join(" "),
        }))
    }
}
