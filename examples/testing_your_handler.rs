//! Testing your own handlers with the test kit (feature `test-util`): a real issuer on a
//! loopback port, tokens from its token builder or its client credentials token endpoint,
//! and your router checked for 200, 401 and 403.
//!
//! ```text
//! cargo run --example testing_your_handler
//! ```
//!
//! In your crate, enable the kit for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! bearer-guard = { version = "0.1", features = ["axum", "test-util"] }
//! ```
//!
//! and write each check below as a `#[tokio::test]` in `tests/`, for example:
//!
//! ```rust,ignore
//! #[tokio::test]
//! async fn reading_needs_read_messages() {
//!     let issuer = TestIssuer::start().await;
//!     let app = my_api::app(issuer.validator().build().unwrap());
//!     let token = issuer.token().scope("write:messages").sign();
//!     assert_eq!(status(&app, "/api/messages", Some(&token)).await, 403);
//! }
//! ```
//!
//! Here they run from `main`, so that `cargo run` shows them passing.

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use bearer_guard::axum::Claims;
use bearer_guard::testing::{Api, DEFAULT_AUDIENCE, SigningKey, TestIssuer};
use bearer_guard::{BearerLayer, RequireScopes, Validator};
use http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

// ---------------------------------------------------------------------------------------------
// Your application code

async fn list_messages(claims: Claims) -> Json<Value> {
    Json(json!({ "messages": ["hello"], "for": claims.subject() }))
}

async fn health() -> &'static str {
    "ok"
}

/// Your router, built around whatever validator it is given: the real one in `main`, a test
/// issuer's in tests.
fn app(validator: Validator) -> Router {
    Router::new()
        .route("/api/messages", get(list_messages))
        .route_layer(RequireScopes::all(["read:messages"]))
        .layer(BearerLayer::new(validator))
        .route("/health", get(health))
}

// ---------------------------------------------------------------------------------------------
// Your tests

/// The status your router answers for `path` with this bearer token (if any).
async fn status(app: &Router, path: &str, token: Option<&str>) -> StatusCode {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Body::empty()).expect("a request");
    app.clone()
        .oneshot(request)
        .await
        .expect("infallible")
        .status()
}

#[tokio::main]
async fn main() {
    // One issuer: RS256 key `key-1`, discovery and JWKS on 127.0.0.1, a token endpoint.
    let issuer = TestIssuer::start().await;
    // The validator you would configure for production, pointed at the test issuer:
    // `issuer.validator()` is issuer + audience (DEFAULT_AUDIENCE); add your own settings.
    let app = app(issuer.validator().build().expect("valid configuration"));

    // Tokens from the token builder: the issuer's defaults, then whatever you change.
    let read = issuer.token().scope("read:messages").sign();
    let write_only = issuer.token().scope("write:messages").sign();
    let expired = issuer
        .token()
        .scope("read:messages")
        .expires_in_secs(-3600)
        .sign();
    let other_api = issuer
        .token()
        .scope("read:messages")
        .audience("https://other.example.com")
        .sign();
    let forged = issuer
        .token()
        .scope("read:messages")
        .signed_by(&SigningKey::generate("key-1"))
        .sign();

    let checks: [(&str, &str, Option<&str>, StatusCode); 7] = [
        ("public route, no token", "/health", None, StatusCode::OK),
        ("no token", "/api/messages", None, StatusCode::UNAUTHORIZED),
        (
            "read:messages",
            "/api/messages",
            Some(&read),
            StatusCode::OK,
        ),
        (
            "write:messages only",
            "/api/messages",
            Some(&write_only),
            StatusCode::FORBIDDEN,
        ),
        (
            "expired",
            "/api/messages",
            Some(&expired),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "for another API",
            "/api/messages",
            Some(&other_api),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "signed by another key",
            "/api/messages",
            Some(&forged),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (label, path, token, expected) in checks {
        let got = status(&app, path, token).await;
        println!("{label:<28} {path:<14} -> {got}");
        assert_eq!(got, expected, "{label}");
    }

    // The whole client credentials flow, as your API's clients will run it: register the API
    // and a client, grant it read:messages, and get a token from POST /oauth/token.
    issuer.register_api(Api::new(DEFAULT_AUDIENCE).scopes(["read:messages", "write:messages"]));
    issuer.register_client("test-client", "test-client-secret");
    issuer.grant("test-client", DEFAULT_AUDIENCE, ["read:messages"]);
    let token = issuer
        .client_credentials("test-client", "test-client-secret", DEFAULT_AUDIENCE, None)
        .await
        .expect("a token");
    let got = status(&app, "/api/messages", Some(&token.access_token)).await;
    println!(
        "{:<28} {:<14} -> {got}",
        "client credentials token", "/api/messages"
    );
    assert_eq!(got, StatusCode::OK);

    // Asking for a scope the client was not granted is refused at the token endpoint.
    let refused = issuer
        .client_credentials(
            "test-client",
            "test-client-secret",
            DEFAULT_AUDIENCE,
            Some("write:messages"),
        )
        .await
        .expect_err("not granted");
    println!("token request for write:messages -> {refused}");
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (400, "invalid_scope")
    );

    println!("all checks passed");
}
