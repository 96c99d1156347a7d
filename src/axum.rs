//! axum integration (feature `axum`): the [`Claims`] extractor and `IntoResponse` for
//! [`AuthError`].
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use bearer_guard::axum::Claims;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Org {
//!     org_id: String,
//! }
//!
//! async fn whoami(claims: Claims<Org>) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "client": claims.subject(), "org": claims.custom().org_id }))
//! }
//!
//! async fn maybe(claims: Option<Claims>) -> &'static str {
//!     if claims.is_some() { "hello, client" } else { "hello, stranger" }
//! }
//!
//! let app: Router = Router::new().route("/whoami", get(whoami)).route("/hello", get(maybe));
//! ```

use std::ops::Deref;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::claims::VerifiedClaims;
use crate::error::{AuthError, TokenProblem};
use crate::respond::Responder;

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        self.to_response().into_response()
    }
}

/// Claims with no custom part: the default of [`Claims`].
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
pub struct NoCustomClaims {}

/// The verified claims of the request, with your own claims deserialized into `T`.
///
/// The standard claims are always at hand through `Deref` to [`VerifiedClaims`]
/// (`claims.subject()`, `claims.scopes()`, ...); `T` holds the rest. Needs [`BearerLayer`]
/// in front of the route. If the claims do not fit `T`, the request is refused with 401
/// `invalid_token`. Use `Option<Claims<T>>` on routes where authentication is optional.
///
/// [`BearerLayer`]: crate::BearerLayer
#[derive(Debug, Clone)]
pub struct Claims<T = NoCustomClaims> {
    custom: T,
    verified: VerifiedClaims,
}

impl<T> Claims<T> {
    /// Your custom claims.
    pub fn custom(&self) -> &T {
        &self.custom
    }

    /// Your custom claims, by value.
    pub fn into_custom(self) -> T {
        self.custom
    }

    /// The verified claims.
    pub fn verified(&self) -> &VerifiedClaims {
        &self.verified
    }
}

impl<T> Deref for Claims<T> {
    type Target = VerifiedClaims;

    fn deref(&self) -> &VerifiedClaims {
        &self.verified
    }
}

/// Why [`Claims`] could not be extracted.
#[derive(Debug)]
pub struct ClaimsRejection {
    /// `None`: no verified claims on the request.
    error: Option<AuthError>,
    responder: Responder,
}

impl ClaimsRejection {
    /// The refusal: 401 `invalid_token` when the claims did not fit the handler's type, 401
    /// with a bare challenge on an anonymous request behind an optional layer. `None` when
    /// the route is not behind [`crate::BearerLayer`] at all, a server bug that is answered
    /// with 500 (as axum's `Extension` does), never with a pass.
    pub fn error(&self) -> Option<&AuthError> {
        self.error.as_ref()
    }
}

impl std::fmt::Display for ClaimsRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            Some(error) => error.fmt(f),
            None => f.write_str(
                "bearer-guard: no verified claims on this request; is BearerLayer installed on the route?",
            ),
        }
    }
}

impl std::error::Error for ClaimsRejection {}

impl IntoResponse for ClaimsRejection {
    fn into_response(self) -> Response {
        match &self.error {
            Some(error) => self.responder.respond(error).into_response(),
            None => {
                tracing::error!("{self}");
                (
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "authentication is misconfigured",
                )
                    .into_response()
            }
        }
    }
}

fn from_verified<T: DeserializeOwned>(
    verified: &VerifiedClaims,
    parts: &Parts,
) -> Result<Claims<T>, ClaimsRejection> {
    let custom = verified.deserialize::<T>().map_err(|_| ClaimsRejection {
        error: Some(AuthError::InvalidToken(TokenProblem::UnexpectedClaims)),
        responder: Responder::of(&parts.extensions)
            .cloned()
            .unwrap_or_default(),
    })?;
    Ok(Claims {
        custom,
        verified: verified.clone(),
    })
}

impl<S, T> FromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(verified) = parts.extensions.get::<VerifiedClaims>() else {
            // An optional layer leaves its responder on anonymous requests: a handler that
            // requires claims then challenges like the layer would. No layer at all is a bug.
            return Err(match Responder::of(&parts.extensions) {
                Some(responder) => ClaimsRejection {
                    error: Some(AuthError::MissingToken),
                    responder: responder.clone(),
                },
                None => ClaimsRejection {
                    error: None,
                    responder: Responder::default(),
                },
            });
        };
        from_verified(verified, parts)
    }
}

impl<S, T> OptionalFromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        parts
            .extensions
            .get::<VerifiedClaims>()
            .map(|verified| from_verified(verified, parts))
            .transpose()
    }
}
