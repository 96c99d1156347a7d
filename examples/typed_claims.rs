//! Your own claims, typed: `Claims<T>` deserializes the verified token's claims into `T`
//! (feature `axum`), next to the standard ones (`claims.subject()`, `claims.scopes()`, ...).
//!
//! ```text
//! cargo run --example typed_claims
//! ```
//!
//! Auth0 puts custom claims under a namespace (an Action adds, say,
//! `https://example.com/tenant`); client credentials tokens also carry `azp` (the client id)
//! and `gty` (`client-credentials`). A token whose claims do not fit `T` (a required claim
//! missing, a wrong type) is refused with 401 `invalid_token`, never handed to the handler
//! half-parsed. The example sends a few tokens through the router (no network server: tower's
//! `oneshot`) and prints what each gets back.

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use bearer_guard::axum::Claims;
use bearer_guard::testing::{Api, DEFAULT_AUDIENCE, TestIssuer};
use bearer_guard::{BearerLayer, Validator};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt;

/// What this API needs from a machine client's token, beyond the standard claims.
#[derive(Debug, Deserialize)]
struct MachineClaims {
    /// The client the token was issued to.
    azp: String,
    /// How it was obtained: `client-credentials` for a machine client.
    gty: String,
    /// A namespaced custom claim (added by an Auth0 Action, say); optional.
    #[serde(rename = "https://example.com/tenant")]
    tenant: Option<String>,
    /// Auth0 RBAC permissions, when the API adds them to its tokens.
    #[serde(default)]
    permissions: Vec<String>,
}

async fn whoami(claims: Claims<MachineClaims>) -> Json<Value> {
    // Standard claims through Deref to VerifiedClaims, custom ones through `custom()`.
    let custom = claims.custom();
    Json(json!({
        "sub": claims.subject(),
        "scopes": claims.scopes().iter().collect::<Vec<_>>(),
        "client": custom.azp,
        "grant": custom.gty,
        "tenant": custom.tenant,
        "permissions": custom.permissions,
    }))
}

fn app(validator: Validator) -> Router {
    Router::new()
        .route("/api/whoami", get(whoami))
        .layer(BearerLayer::new(validator))
}

async fn call(app: &Router, token: &str) -> (StatusCode, Value) {
    let request = Request::get("/api/whoami")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("a request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = TestIssuer::start().await;
    issuer.register_api(Api::new(DEFAULT_AUDIENCE).scopes(["read:messages"]));
    issuer.register_client("typed-client", "typed-client-secret");
    issuer.grant("typed-client", DEFAULT_AUDIENCE, ["read:messages"]);
    let app = app(issuer.validator_for(DEFAULT_AUDIENCE).build()?);

    // 1. A token from the token endpoint: azp and gty are there, the tenant is not.
    let from_endpoint = issuer
        .client_credentials(
            "typed-client",
            "typed-client-secret",
            DEFAULT_AUDIENCE,
            None,
        )
        .await?
        .access_token;
    // 2. A token with the custom claims an Auth0 Action and RBAC would add. (Its `scopes` stay
    //    empty: this validator reads `scope` and `scp`; `Validator::auth0` also reads
    //    `permissions`.)
    let with_custom = issuer
        .token()
        .claim("sub", "typed-client@clients")
        .claim("azp", "typed-client")
        .claim("gty", "client-credentials")
        .claim("https://example.com/tenant", "acme")
        .claim("permissions", json!(["read:messages"]))
        .sign();
    // 3. Claims that do not fit MachineClaims: no gty, and permissions not a list.
    let misfit = issuer
        .token()
        .claim("azp", "typed-client")
        .claim("permissions", "read:messages")
        .sign();

    let cases = [
        ("token endpoint", from_endpoint, StatusCode::OK),
        ("custom claims", with_custom, StatusCode::OK),
        ("misfit claims", misfit, StatusCode::UNAUTHORIZED),
    ];
    for (label, token, expected) in cases {
        let (status, body) = call(&app, &token).await;
        println!("{label:>14}: {status} {body}");
        if status != expected {
            return Err(format!("{label}: expected {expected}, got {status}").into());
        }
    }
    Ok(())
}
