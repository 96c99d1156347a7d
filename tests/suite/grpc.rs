//! gRPC refusals through `BearerLayer` and `RequireScopes` (README, "gRPC"): a request with
//! `content-type: application/grpc` is refused as a trailers-only gRPC response, HTTP 200
//! with `grpc-status` UNAUTHENTICATED (16), PERMISSION_DENIED (7), INVALID_ARGUMENT (3) or
//! UNAVAILABLE (14), with the `WWW-Authenticate` (and `Retry-After`) of the HTTP refusal.

use crate::common;

use std::convert::Infallible;

use axum::body::Body;
use bearer_guard::testing::{Endpoint, Fault};
use bearer_guard::{BearerLayer, RequireScopes, Validator};
use common::{Fixture, Reply, SCOPE, assert_no_echo, assert_no_store};
use http::{Request, Response, StatusCode, header};
use tower::{Layer, ServiceExt, service_fn};

/// One gRPC call through `BearerLayer` and `RequireScopes::all([SCOPE])` with these
/// `Authorization` values, by `oneshot`.
async fn call(validator: &Validator, authorizations: &[&str]) -> Reply {
    let inner = service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from("called")))
    });
    let service =
        BearerLayer::new(validator.clone()).layer(RequireScopes::all([SCOPE]).layer(inner));
    let mut request = Request::post("/helloworld.Greeter/SayHello")
        .header(header::CONTENT_TYPE, "application/grpc")
        .body(Body::empty())
        .unwrap();
    for value in authorizations {
        request
            .headers_mut()
            .append(header::AUTHORIZATION, value.parse().unwrap());
    }
    let response = service.oneshot(request).await.expect("infallible");
    let reply = Reply::of(response).await;
    for value in authorizations {
        assert_no_echo(value.as_bytes(), &reply);
    }
    reply
}

impl Reply {
    /// HTTP 200, `application/grpc`, this `grpc-status`, a `grpc-message`, `no-store`, and
    /// no body (trailers-only).
    #[track_caller]
    fn assert_grpc_status(&self, code: &str) {
        assert_eq!(self.status, StatusCode::OK, "{self:#?}");
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            Some("application/grpc"),
            "{self:#?}"
        );
        assert_eq!(self.headers["grpc-status"], code, "{self:#?}");
        assert!(self.headers.contains_key("grpc-message"), "{self:#?}");
        assert_no_store(self);
        assert!(self.raw_body.is_empty(), "{self:#?}");
    }

    /// The `error` of the `Bearer` challenge.
    fn challenge_error(&self) -> Option<String> {
        self.param("error")
    }
}

#[tokio::test]
async fn refusals_of_grpc_calls_are_grpc_statuses_with_the_http_challenge() {
    let f = Fixture::warm_default().await;
    let bearer = |token: &str| format!("Bearer {token}");

    // Allowed: the service answers.
    let reply = call(&f.validator, &[&bearer(&f.token().sign())]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    assert_eq!(reply.raw_body, b"called");
    assert!(!reply.headers.contains_key("grpc-status"), "{reply:#?}");

    // No token: UNAUTHENTICATED, the bare challenge.
    let reply = call(&f.validator, &[]).await;
    reply.assert_grpc_status("16");
    assert_eq!(reply.challenge.as_deref(), Some("Bearer"), "{reply:#?}");

    // An invalid token: UNAUTHENTICATED, invalid_token.
    let expired = f.token().claim("exp", 1_000_000_000).sign();
    let reply = call(&f.validator, &[&bearer(&expired)]).await;
    reply.assert_grpc_status("16");
    assert_eq!(reply.challenge_error().as_deref(), Some("invalid_token"));

    // A malformed request (two Authorization headers): INVALID_ARGUMENT, invalid_request.
    let token = bearer(&f.token().sign());
    let reply = call(&f.validator, &[&token, &token]).await;
    reply.assert_grpc_status("3");
    assert_eq!(reply.challenge_error().as_deref(), Some("invalid_request"));

    // A valid token without the scope: PERMISSION_DENIED, insufficient_scope naming it.
    let unscoped = f.issuer.token().sign();
    let reply = call(&f.validator, &[&bearer(&unscoped)]).await;
    reply.assert_grpc_status("7");
    assert_eq!(
        reply.challenge_error().as_deref(),
        Some("insufficient_scope")
    );
    assert_eq!(reply.param("scope").as_deref(), Some(SCOPE));
}

/// No key set could be fetched (cold start, issuer down): UNAVAILABLE, no challenge,
/// `Retry-After` as the HTTP 503.
#[tokio::test]
async fn a_key_set_that_cannot_be_fetched_is_unavailable() {
    let f = Fixture::start().await;
    f.issuer
        .set_fault_at(Endpoint::KeySet, Some(Fault::Status(503)));
    let reply = call(&f.validator, &[&format!("Bearer {}", f.token().sign())]).await;
    reply.assert_grpc_status("14");
    assert_eq!(reply.challenge, None, "{reply:#?}");
    let retry_after: u64 = reply
        .header(header::RETRY_AFTER)
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1, "{reply:#?}");
}
