//! Optional authentication: `BearerLayer::new(v).optional()`.
//!
//! A request without any token passes on without claims (`Option<Claims<T>>` is `None`); a
//! token that is presented must be valid (an invalid one is refused, never passed on as
//! anonymous); malformed credentials are still a 400; route guards behind an optional layer
//! answer a request without a token with a bare 401 challenge.

use crate::common;

use axum::routing::get;
use axum::{Json, Router};
use bearer_guard::axum::Claims;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerLayer, ClaimRule, RequireClaims, RequireScopes, Validator};
use common::{SCOPE, send, send_raw, send_token};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

const MAYBE: &str = "/maybe";
const REQUIRED: &str = "/required";
const SCOPED: &str = "/scoped";
const RULED: &str = "/ruled";

#[derive(Debug, Deserialize)]
struct Org {
    org_id: Option<String>,
}

async fn maybe(claims: Option<Claims<Org>>) -> Json<Value> {
    Json(match claims {
        None => json!({ "authenticated": false }),
        Some(claims) => json!({
            "authenticated": true,
            "sub": claims.subject(),
            "org_id": claims.custom().org_id,
        }),
    })
}

async fn required(claims: Claims) -> Json<Value> {
    Json(json!({ "sub": claims.subject() }))
}

fn optional_app(validator: Validator) -> Router {
    let scoped = Router::new()
        .route(SCOPED, get(maybe))
        .route_layer(RequireScopes::all([SCOPE]));
    let ruled = Router::new()
        .route(RULED, get(maybe))
        .route_layer(RequireClaims::new(ClaimRule::equals("org_id", "org-1")));
    Router::new()
        .merge(scoped)
        .merge(ruled)
        .route(MAYBE, get(maybe))
        .route(REQUIRED, get(required))
        .layer(BearerLayer::new(validator).optional())
}

struct Fixture {
    issuer: TestIssuer,
    app: Router,
}

async fn start() -> Fixture {
    start_with(|builder| builder).await
}

async fn start_with(
    configure: impl FnOnce(bearer_guard::ValidatorBuilder) -> bearer_guard::ValidatorBuilder,
) -> Fixture {
    let issuer = TestIssuer::start().await;
    let validator = configure(issuer.validator()).build().unwrap();
    Fixture {
        app: optional_app(validator),
        issuer,
    }
}

#[tokio::test]
async fn no_token_passes_on_without_claims() {
    let f = start().await;
    let body = send(&f.app, MAYBE, None).await.assert_ok().clone();
    assert_eq!(body, json!({ "authenticated": false }));
    // Another scheme is no bearer token at all.
    let body = send(&f.app, MAYBE, Some("Basic dXNlcjpwYXNz"))
        .await
        .assert_ok()
        .clone();
    assert_eq!(body, json!({ "authenticated": false }));
    // Nothing was fetched for it.
    assert_eq!(
        (f.issuer.discovery_fetches(), f.issuer.jwks_fetches()),
        (0, 0)
    );
}

#[tokio::test]
async fn a_valid_token_gives_claims() {
    let f = start().await;
    let token = f.issuer.token().claim("org_id", "org-1").sign();
    // First request (key set fetched while waiting), then from the caches.
    for _ in 0..2 {
        let reply = send_token(&f.app, MAYBE, &token).await;
        assert_eq!(
            reply.assert_ok(),
            &json!({ "authenticated": true, "sub": "test-client@clients", "org_id": "org-1" })
        );
    }
    let reply = send_token(&f.app, REQUIRED, &token).await;
    assert_eq!(reply.assert_ok()["sub"], "test-client@clients");
}

#[tokio::test]
async fn an_invalid_token_is_refused_not_passed_on() {
    let f = start().await;
    let other = TestIssuer::start().await;
    for (token, description) in [
        (
            f.issuer.token().expires_in_secs(-3600).sign(),
            "the token has expired",
        ),
        (
            f.issuer.token().audience("https://other.example").sign(),
            "the token is not intended for this API",
        ),
        (
            // Signed by another issuer's key, with the same kid.
            f.issuer.token().signed_by(&other.signing_key()).sign(),
            "the token signature is invalid",
        ),
        ("abc.def.ghi".to_owned(), "the token header is malformed"),
        ("not-a-jwt".to_owned(), "the token is not a compact JWS"),
    ] {
        for path in [MAYBE, REQUIRED, SCOPED, RULED] {
            let reply = send_token(&f.app, path, &token).await;
            reply.assert_invalid_token();
            assert_eq!(
                reply.param("error_description").as_deref(),
                Some(description),
                "{path}: {reply:#?}"
            );
        }
    }
}

#[tokio::test]
async fn malformed_credentials_are_a_bad_request() {
    let f = start().await;
    let token = f.issuer.token().sign();
    let two = format!("Bearer {token} {token}");
    let bad: [&[u8]; 5] = [
        b"Bearer",
        b"Bearer    ",
        two.as_bytes(),
        b"Bearer a,b",
        b"Bearer \"abc\"",
    ];
    for value in bad {
        let reply = send_raw(&f.app, MAYBE, &[value]).await;
        reply.assert_invalid_request();
    }
    // Several Authorization headers.
    let valid = format!("Bearer {token}");
    let reply = send_raw(&f.app, MAYBE, &[valid.as_bytes(), valid.as_bytes()]).await;
    reply.assert_invalid_request();
    assert_eq!(
        reply.param("error_description").as_deref(),
        Some("more than one Authorization header")
    );
}

#[tokio::test]
async fn route_guards_behind_an_optional_layer_challenge_anonymous_requests() {
    let f = start().await;
    for path in [SCOPED, RULED] {
        send(&f.app, path, None).await.assert_bare_challenge();
    }
    // With a token the guards decide as usual.
    let scoped = f.issuer.token().scope(SCOPE).sign();
    send_token(&f.app, SCOPED, &scoped).await.assert_ok();
    send_token(&f.app, SCOPED, &f.issuer.token().sign())
        .await
        .assert_insufficient_scope(SCOPE);
    let ruled = f.issuer.token().claim("org_id", "org-1").sign();
    send_token(&f.app, RULED, &ruled).await.assert_ok();
    let reply = send_token(&f.app, RULED, &f.issuer.token().sign()).await;
    reply.assert_invalid_token();
    assert_eq!(
        reply.param("error_description").as_deref(),
        Some("the org_id claim does not have the required value")
    );
}

#[tokio::test]
async fn anonymous_challenges_carry_the_validators_realm_and_metadata() {
    let f = start_with(|builder| {
        builder
            .realm("messages")
            .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource")
    })
    .await;
    let reply = send(&f.app, SCOPED, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
    assert_eq!(
        reply.challenge.as_deref(),
        Some(
            "Bearer realm=\"messages\", \
             resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource\""
        )
    );
    // The open route still lets the anonymous request through.
    send(&f.app, MAYBE, None).await.assert_ok();
}

#[tokio::test]
async fn a_token_is_not_passed_on_as_anonymous_when_the_keys_are_unavailable() {
    let f = start().await;
    f.issuer.stop();
    let token = f.issuer.token().sign();
    let reply = send_token(&f.app, MAYBE, &token).await;
    reply.assert_keys_unavailable();
    // Without a token, the open route needs no keys.
    send(&f.app, MAYBE, None).await.assert_ok();
}

#[tokio::test]
async fn a_required_extractor_behind_an_optional_layer_challenges_anonymous_requests() {
    let f = start().await;
    // The behaviour contract: no input yields a 500; a missing token is a bare 401.
    send(&f.app, REQUIRED, None).await.assert_bare_challenge();
}
