//! The Rust counterpart of Auth0's API quickstart: three routes behind one layer.
//!
//! | route | needs |
//! |---|---|
//! | `GET /api/public` | nothing |
//! | `GET /api/private` | a valid access token |
//! | `GET /api/private-scoped` | a valid access token with the scope `read:messages` |
//!
//! This file is the part to copy: the handlers, the router and `main`. How the environment
//! configures the validator is in `config.rs`; the embedded issuer that runs when nothing is
//! configured, its printed `curl` commands and `--check` are in `demo.rs`.
//!
//! ```text
//! cargo run --example quickstart
//! HS256_SECRET=0123456789abcdef0123456789abcdef cargo run --example quickstart   # HS256 API
//! cargo run --example quickstart -- --check   # run the demo's requests itself and exit
//! RUST_LOG=bearer_guard=debug cargo run --example quickstart   # log why each request is refused
//! AUTH0_DOMAIN=my-tenant.us.auth0.com AUDIENCE=https://api.example.com \
//!     cargo run --example quickstart
//! ```
//!
//! Logs go to stderr, filtered by `RUST_LOG` (warnings only without it); at
//! `bearer_guard=debug` each refusal is logged with its reason and the request's path, never
//! the token. The effective configuration is printed at start-up, secrets as their length.

mod config;
mod demo;

use std::process::ExitCode;

use axum::{Json, Router, routing::get};
use bearer_guard::axum::Claims;
use bearer_guard::{BearerLayer, RequireScopes, Validator};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

async fn public() -> Json<Value> {
    Json(json!({ "message": "Hello from a public endpoint! No token needed." }))
}

async fn private(claims: Claims) -> Json<Value> {
    greet(
        "Hello from a private endpoint! You are authenticated.",
        &claims,
    )
}

async fn private_scoped(claims: Claims) -> Json<Value> {
    greet(
        "Hello from a private endpoint! You have read:messages.",
        &claims,
    )
}

fn greet(message: &str, claims: &Claims) -> Json<Value> {
    let scopes: Vec<&str> = claims.scopes().iter().collect();
    Json(json!({ "message": message, "sub": claims.subject(), "scopes": scopes }))
}

/// The API: `/api/private-scoped` needs `read:messages`, `/api/private` any valid token,
/// `/api/public` (added after the layer) nothing.
fn app(validator: Validator) -> Router {
    Router::new()
        .route("/api/private-scoped", get(private_scoped))
        .route_layer(RequireScopes::all(["read:messages"]))
        .route("/api/private", get(private))
        .layer(BearerLayer::new(validator))
        .route("/api/public", get(public))
}

#[tokio::main]
async fn main() -> ExitCode {
    // On stderr, so that stdout stays the demo's commands and `--check` lines.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let check_only = std::env::args().skip(1).any(|arg| arg == "--check");
    let settings = match config::Settings::from_env().await {
        Ok(settings) => settings,
        Err(exit) => return exit,
    };
    println!("listening on {}", settings.base);
    let listener = settings.listener;
    let server = tokio::spawn(async move { axum::serve(listener, app(settings.validator)).await });

    // With no issuer configured: the embedded one, its curl commands and `--check`.
    if let Some(demo) = &settings.demo {
        let (base, public_url) = (&settings.base, &settings.public_url);
        if let Some(exit) = demo.run(base, public_url, settings.mode, check_only).await {
            return exit;
        }
    } else if check_only {
        eprintln!("--check needs the demo issuer (no ISSUER or AUTH0_DOMAIN)");
        return ExitCode::from(2);
    }

    match server.await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("server stopped: {error}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("server task failed: {error}");
            ExitCode::FAILURE
        }
    }
}
