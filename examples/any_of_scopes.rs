//! Per-route scope policies: all of, any of, and any of several sets.
//!
//! ```text
//! cargo run --example any_of_scopes
//! ```
//!
//! | route | policy | passes with |
//! |---|---|---|
//! | `GET /api/messages` | `RequireScopes::any(["read:messages", "admin"])` | either scope |
//! | `POST /api/messages` | `RequireScopes::all(["read:messages", "write:messages"])` | both scopes |
//! | `DELETE /api/messages` | `ScopePolicy::any_of_all([["admin"], ["read:messages", "write:messages"]])` | `admin`, or both of the others |
//!
//! A token without what a route needs gets 403 `insufficient_scope`, whose `scope` challenge
//! parameter names the scopes the route's policy mentions. The example gets tokens from the
//! embedded issuer's token endpoint (one client granted every scope, asking for a different
//! `scope` each time), sends each to each route through the router (tower's `oneshot`, no
//! server), prints the matrix and checks it.

use axum::body::Body;
use axum::handler::Handler;
use axum::routing::get;
use axum::{Extension, Json, Router};
use bearer_guard::testing::{Api, DEFAULT_AUDIENCE, TestIssuer};
use bearer_guard::{BearerLayer, RequireScopes, ScopePolicy, Validator, VerifiedClaims};
use http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn echo(Extension(claims): Extension<VerifiedClaims>) -> Json<Value> {
    Json(json!({ "scopes": claims.scopes().iter().collect::<Vec<_>>() }))
}

fn app(validator: Validator) -> Router {
    Router::new()
        .route(
            "/api/messages",
            // A guard per method: each handler wrapped in its own layer. (A
            // `MethodRouter::route_layer` would wrap every method added before it.)
            get(echo.layer(RequireScopes::any(["read:messages", "admin"])))
                .post(echo.layer(RequireScopes::all(["read:messages", "write:messages"])))
                .delete(echo.layer(RequireScopes::policy(ScopePolicy::any_of_all([
                    vec!["admin"],
                    vec!["read:messages", "write:messages"],
                ])))),
        )
        .layer(BearerLayer::new(validator))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = TestIssuer::start().await;
    let scopes = ["read:messages", "write:messages", "admin"];
    issuer.register_api(Api::new(DEFAULT_AUDIENCE).scopes(scopes));
    issuer.register_client("scopes-client", "scopes-client-secret");
    issuer.grant("scopes-client", DEFAULT_AUDIENCE, scopes);
    let app = app(issuer.validator_for(DEFAULT_AUDIENCE).build()?);

    // (the token's scope, then the expected status of GET, POST, DELETE)
    let table: [(&str, [u16; 3]); 5] = [
        ("read:messages", [200, 403, 403]),
        ("write:messages", [403, 403, 403]),
        ("read:messages write:messages", [200, 200, 200]),
        ("admin", [200, 403, 200]),
        ("admin write:messages", [200, 403, 200]),
    ];
    let methods = [Method::GET, Method::POST, Method::DELETE];
    println!(
        "{:<30} {:>6} {:>6} {:>6}",
        "token scope", "GET", "POST", "DELETE"
    );
    let mut failures = Vec::new();
    for (scope, expected) in table {
        // What a client does: ask the token endpoint for just these scopes.
        let token = issuer
            .client_credentials(
                "scopes-client",
                "scopes-client-secret",
                DEFAULT_AUDIENCE,
                Some(scope),
            )
            .await?
            .access_token;
        let mut row = Vec::new();
        for (method, expected) in methods.iter().zip(expected) {
            let request = Request::builder()
                .method(method)
                .uri("/api/messages")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())?;
            let response = app.clone().oneshot(request).await?;
            let status = response.status();
            if status == StatusCode::FORBIDDEN && method == Method::DELETE {
                let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str()?;
                assert!(challenge.contains("scope=\"admin read:messages write:messages\""));
            }
            if status.as_u16() != expected {
                failures.push(format!(
                    "{method} with {scope:?}: {status}, expected {expected}"
                ));
            }
            row.push(status.as_u16());
        }
        println!("{scope:<30} {:>6} {:>6} {:>6}", row[0], row[1], row[2]);
    }
    if !failures.is_empty() {
        return Err(failures.join("; ").into());
    }
    Ok(())
}
