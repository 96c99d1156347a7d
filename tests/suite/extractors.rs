//! The axum extractors: `Claims<T>` and `Option<Claims<T>>` behind `BearerLayer`.

use crate::common;

use axum::routing::get;
use axum::{Json, Router};
use bearer_guard::axum::Claims;
use bearer_guard::testing::DEFAULT_AUDIENCE;
use bearer_guard::{BearerLayer, RequireScopes};
use common::{Fixture, SCOPE, send, send_token};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// The API's own claims.
#[derive(Debug, Deserialize)]
struct Org {
    #[serde(rename = "https://example.com/org_id")]
    org_id: String,
    tier: u8,
    #[serde(default)]
    roles: Vec<String>,
}

async fn whoami(claims: Claims<Org>) -> Json<Value> {
    Json(json!({
        "org_id": claims.custom().org_id,
        "tier": claims.custom().tier,
        "roles": claims.custom().roles,
        "sub": claims.subject(),
        "iss": claims.issuer(),
        "aud": claims.audiences(),
        "exp": claims.expires_at(),
        "client_id": claims.client_id(),
        "scopes": claims.scopes().iter().collect::<Vec<_>>(),
        "jti": claims.get("jti"),
    }))
}

async fn plain(claims: Claims) -> Json<Value> {
    Json(json!({ "sub": claims.subject(), "claims": claims.verified().all().len() }))
}

async fn maybe(claims: Option<Claims<Org>>) -> Json<Value> {
    Json(json!({ "org_id": claims.map(|c| c.into_custom().org_id) }))
}

/// `/api/*` behind the layer (`/api/scoped/whoami` also behind the scope guard), `/open/*`
/// without it.
fn extractor_app(f: &Fixture) -> Router {
    Router::new()
        .route("/api/scoped/whoami", get(whoami))
        .route_layer(RequireScopes::all([SCOPE]))
        .route("/api/whoami", get(whoami))
        .route("/api/plain", get(plain))
        .route("/api/maybe", get(maybe))
        .layer(BearerLayer::new(f.validator.clone()))
        .route("/open/maybe", get(maybe))
        .route("/open/whoami", get(whoami))
}

fn org_token(f: &Fixture) -> bearer_guard::testing::TokenBuilder {
    f.issuer
        .token()
        .claim("https://example.com/org_id", "org_123")
        .claim("tier", 2)
}

#[tokio::test]
async fn custom_claims_deserialize_next_to_the_standard_ones() {
    let f = Fixture::start().await;
    let app = extractor_app(&f);
    let token = org_token(&f)
        .claim("roles", json!(["admin"]))
        .claim("client_id", "client-7")
        .claim("jti", "id-1")
        .scope("read:messages write:messages")
        .sign();
    for path in ["/api/whoami", "/api/scoped/whoami"] {
        let reply = send_token(&app, path, &token).await;
        let body = reply.assert_ok();
        assert_eq!(body["org_id"], "org_123", "{path}");
        assert_eq!(body["tier"], 2);
        assert_eq!(body["roles"], json!(["admin"]));
        assert_eq!(body["sub"], "test-client@clients");
        assert_eq!(body["iss"], f.issuer.issuer());
        assert_eq!(body["aud"], json!([DEFAULT_AUDIENCE]));
        assert_eq!(body["client_id"], "client-7");
        assert_eq!(body["jti"], "id-1");
        assert_eq!(body["scopes"], json!(["read:messages", "write:messages"]));
        let exp = body["exp"].as_i64().unwrap();
        assert!((common::now() + 3590..=common::now() + 3600).contains(&exp));
    }
}

#[tokio::test]
async fn claims_without_a_custom_type_accept_any_token() {
    let f = Fixture::start().await;
    let app = extractor_app(&f);
    let token = f.issuer.token().sign();
    let body = send_token(&app, "/api/plain", &token)
        .await
        .assert_ok()
        .clone();
    // iss, sub, aud, iat, exp.
    assert_eq!(body, json!({ "sub": "test-client@clients", "claims": 5 }));
}

#[tokio::test]
async fn custom_claims_of_the_wrong_shape_are_an_invalid_token() {
    let f = Fixture::start().await;
    let app = extractor_app(&f);
    let wrong = [
        org_token(&f)
            .claim("https://example.com/org_id", 123)
            .sign(),
        org_token(&f)
            .without_claim("https://example.com/org_id")
            .sign(),
        org_token(&f).claim("tier", 300).sign(),
        org_token(&f).claim("tier", "2").sign(),
        org_token(&f).claim("roles", "admin").sign(),
    ];
    for token in &wrong {
        for path in ["/api/whoami", "/api/maybe"] {
            let reply = send_token(&app, path, token).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
            reply.assert_invalid_token();
        }
    }
    // The same tokens are valid: routes that do not need `Org` take them.
    for token in &wrong {
        send_token(&app, "/api/plain", token).await.assert_ok();
    }
}

#[tokio::test]
async fn optional_claims_behind_the_layer_are_present() {
    let f = Fixture::start().await;
    let app = extractor_app(&f);
    let reply = send_token(&app, "/api/maybe", &org_token(&f).sign()).await;
    assert_eq!(reply.assert_ok(), &json!({ "org_id": "org_123" }));
    // The layer still refuses a request without a token before the handler runs.
    send(&app, "/api/maybe", None).await.assert_bare_challenge();
}

#[tokio::test]
async fn optional_claims_without_the_layer_are_absent_even_with_a_valid_token() {
    let f = Fixture::start().await;
    let app = extractor_app(&f);
    let reply = send(&app, "/open/maybe", None).await;
    assert_eq!(reply.assert_ok(), &json!({ "org_id": null }));
    // A token sent to a route the layer does not guard is never trusted.
    let reply = send_token(&app, "/open/maybe", &org_token(&f).sign()).await;
    assert_eq!(reply.assert_ok(), &json!({ "org_id": null }));
    f.assert_fetches(0, 0);
}

#[tokio::test]
async fn claims_without_the_layer_are_a_server_error_never_a_pass() {
    let f = Fixture::start().await;
    let app = extractor_app(&f);
    for authorization in [None, Some(format!("Bearer {}", org_token(&f).sign()))] {
        let reply = send(&app, "/open/whoami", authorization.as_deref()).await;
        assert_eq!(
            reply.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{reply:#?}"
        );
        assert_eq!(reply.challenge, None);
        assert_eq!(reply.body, json!("authentication is misconfigured"));
    }
}

#[tokio::test]
async fn the_scope_guard_runs_before_the_extractor() {
    let f = Fixture::start().await;
    let app = extractor_app(&f);
    // Wrong shape and no scope: the 403 comes first.
    let token = org_token(&f).claim("tier", "2").sign();
    send_token(&app, "/api/scoped/whoami", &token)
        .await
        .assert_insufficient_scope(SCOPE);
}

#[tokio::test]

async fn an_extractor_rejection_carries_the_configured_realm() {
    let f = Fixture::start_with(|b| b.realm("messages-api")).await;
    let app = extractor_app(&f);
    let layer_reply = send(&app, "/api/whoami", Some("Bearer a.b.c")).await;
    assert_eq!(layer_reply.param("realm").as_deref(), Some("messages-api"));

    let token = org_token(&f).claim("tier", "2").sign();
    let reply = send_token(&app, "/api/whoami", &token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.param("error").as_deref(), Some("invalid_token"));
    assert_eq!(reply.param("realm").as_deref(), Some("messages-api"));
}
