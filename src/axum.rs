//! axum integration (feature `axum`): the [`Claims`] extractor, its rejections
//! ([`ClaimsRejection`], one named rejection per failure) and `IntoResponse` for
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

use std::fmt;
use std::ops::Deref;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
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

/// Why [`Claims`] could not be extracted: one named rejection per failure, each its own
/// `IntoResponse`, as axum's rejections are.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClaimsRejection {
    /// An anonymous request behind an optional [`BearerLayer`](crate::BearerLayer) at a
    /// handler that requires claims: 401 with a bare challenge, as the layer would answer.
    MissingCredentials(MissingCredentials),
    /// The claims do not fit the handler's type: 401 `invalid_token`.
    UnexpectedClaims(UnexpectedClaims),
    /// No [`BearerLayer`](crate::BearerLayer) ran for the route: a server bug, answered with
    /// 500 (as axum's `Extension` does), never with a pass.
    MissingBearerLayer(MissingBearerLayer),
}

impl ClaimsRejection {
    /// The refusal, or `None` for [`ClaimsRejection::MissingBearerLayer`] (not a refusal of the
    /// client but a misconfigured server).
    pub fn error(&self) -> Option<&AuthError> {
        match self {
            ClaimsRejection::MissingCredentials(rejection) => Some(rejection.error()),
            ClaimsRejection::UnexpectedClaims(rejection) => Some(rejection.error()),
            ClaimsRejection::MissingBearerLayer(_) => None,
        }
    }

    /// The status of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            ClaimsRejection::MissingCredentials(rejection) => rejection.status(),
            ClaimsRejection::UnexpectedClaims(rejection) => rejection.status(),
            ClaimsRejection::MissingBearerLayer(rejection) => rejection.status(),
        }
    }
}

impl fmt::Display for ClaimsRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimsRejection::MissingCredentials(rejection) => rejection.fmt(f),
            ClaimsRejection::UnexpectedClaims(rejection) => rejection.fmt(f),
            ClaimsRejection::MissingBearerLayer(rejection) => rejection.fmt(f),
        }
    }
}

impl std::error::Error for ClaimsRejection {}

impl IntoResponse for ClaimsRejection {
    fn into_response(self) -> Response {
        match self {
            ClaimsRejection::MissingCredentials(rejection) => rejection.into_response(),
            ClaimsRejection::UnexpectedClaims(rejection) => rejection.into_response(),
            ClaimsRejection::MissingBearerLayer(rejection) => rejection.into_response(),
        }
    }
}

/// A rejection that is a refusal of the client, written the way the layer in front writes
/// its refusals (realm, `resource_metadata`, error body hook).
macro_rules! refusal {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            error: AuthError,
            responder: Responder,
            /// The request's path, for the log line of the refusal.
            path: Box<str>,
        }

        impl $name {
            /// The refusal.
            pub fn error(&self) -> &AuthError {
                &self.error
            }

            /// The status of the response.
            pub fn status(&self) -> StatusCode {
                self.error.status()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.error.fmt(f)
            }
        }

        impl std::error::Error for $name {}

        impl IntoResponse for $name {
            fn into_response(self) -> Response {
                self.responder
                    .respond(Some(&self.path), &self.error)
                    .into_response()
            }
        }

        impl From<$name> for ClaimsRejection {
            fn from(rejection: $name) -> Self {
                ClaimsRejection::$name(rejection)
            }
        }
    };
}

refusal! {
    /// An anonymous request behind an optional [`BearerLayer`](crate::BearerLayer) reached a
    /// handler that requires claims: 401 with a bare `Bearer` challenge.
    MissingCredentials
}

refusal! {
    /// The verified claims do not have the shape of the handler's type: 401 `invalid_token`
    /// ([`TokenProblem::UnexpectedClaims`]).
    UnexpectedClaims
}

/// No [`BearerLayer`](crate::BearerLayer) ran for this request, so there are no claims to
/// extract: 500, logged as an error.
#[derive(Debug)]
pub struct MissingBearerLayer {
    _private: (),
}

impl MissingBearerLayer {
    /// The status of the response: 500.
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl fmt::Display for MissingBearerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "bearer-guard: no verified claims on this request; is BearerLayer installed on the route?",
        )
    }
}

impl std::error::Error for MissingBearerLayer {}

impl IntoResponse for MissingBearerLayer {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        (self.status(), "authentication is misconfigured").into_response()
    }
}

impl From<MissingBearerLayer> for ClaimsRejection {
    fn from(rejection: MissingBearerLayer) -> Self {
        ClaimsRejection::MissingBearerLayer(rejection)
    }
}

fn from_verified<T: DeserializeOwned>(
    verified: &VerifiedClaims,
    parts: &Parts,
) -> Result<Claims<T>, ClaimsRejection> {
    let custom = verified.deserialize::<T>().map_err(|_| UnexpectedClaims {
        error: AuthError::InvalidToken(TokenProblem::UnexpectedClaims),
        responder: Responder::of(&parts.extensions)
            .cloned()
            .unwrap_or_default(),
        path: parts.uri.path().into(),
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
                Some(responder) => MissingCredentials {
                    error: AuthError::MissingToken,
                    responder: responder.clone(),
                    path: parts.uri.path().into(),
                }
                .into(),
                None => MissingBearerLayer { _private: () }.into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rejection_answers_with_its_own_status() {
        let anonymous: ClaimsRejection = MissingCredentials {
            error: AuthError::MissingToken,
            responder: Responder::default(),
            path: "/".into(),
        }
        .into();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(anonymous.error(), Some(&AuthError::MissingToken));
        let response = anonymous.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[http::header::WWW_AUTHENTICATE], "Bearer");

        let misfit: ClaimsRejection = UnexpectedClaims {
            error: AuthError::InvalidToken(TokenProblem::UnexpectedClaims),
            responder: Responder::default(),
            path: "/".into(),
        }
        .into();
        assert!(matches!(misfit, ClaimsRejection::UnexpectedClaims(_)));
        assert_eq!(misfit.status(), StatusCode::UNAUTHORIZED);
        let response = misfit.into_response();
        let challenge = response.headers()[http::header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{challenge}"
        );

        let no_layer: ClaimsRejection = MissingBearerLayer { _private: () }.into();
        assert_eq!(no_layer.error(), None);
        assert!(no_layer.to_string().contains("BearerLayer"));
        assert_eq!(
            no_layer.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
