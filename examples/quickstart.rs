//! The Rust counterpart of Auth0's API quickstart: three routes behind one layer.
//!
//! | route | needs |
//! |---|---|
//! | `GET /api/public` | nothing |
//! | `GET /api/private` | a valid access token |
//! | `GET /api/private-scoped` | a valid access token with the scope `read:messages` |
//!
//! Run it with no configuration to get a demo: an embedded test issuer on a loopback port, and
//! ready-to-paste `curl` commands with freshly minted tokens (expect 200, 401, 200, 200, 403):
//!
//! ```text
//! cargo run --example quickstart
//! HS256_SECRET=0123456789abcdef0123456789abcdef cargo run --example quickstart   # HS256 demo
//! ```
//!
//! Point it at your authorization server with environment variables:
//!
//! - `AUTH0_DOMAIN` + `AUDIENCE`: `Validator::auth0(domain, audience)` (issuer
//!   `https://{domain}/`, JWKS at `/.well-known/jwks.json`, RS256);
//! - `ISSUER` + `AUDIENCE`: any issuer, exactly as in the tokens' `iss`; the key set is found by
//!   discovery unless `JWKS_URI` is set; `HS256_SECRET` switches to HS256 with that secret
//!   (with `AUTH0_DOMAIN`, `ISSUER` and `JWKS_URI` override what the preset derives);
//! - `BIND`: the listen address (default `127.0.0.1:3010`).
//!
//! Scopes are read from `scope`, `scp` and Auth0's `permissions`. An invalid configuration is
//! reported in full and the process exits with status 2.
//!
//! ```text
//! AUTH0_DOMAIN=my-tenant.us.auth0.com AUDIENCE=https://api.example.com \
//!     cargo run --example quickstart
//! ```

use std::env;
use std::process::ExitCode;

use axum::{Json, Router, routing::get};
use bearer_guard::axum::Claims;
use bearer_guard::testing::{DEFAULT_AUDIENCE, TestIssuer, TokenBuilder};
use bearer_guard::{BearerLayer, RequireScopes, ScopeClaims, Validator, ValidatorBuilder};
use serde_json::{Value, json};

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

/// A set, non-empty environment variable.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// The validator configuration: the demo issuer's, or the environment's.
fn configure(demo: Option<&TestIssuer>, secret: Option<&str>) -> ValidatorBuilder {
    let mut builder = match (demo, var("AUTH0_DOMAIN")) {
        (Some(issuer), _) => issuer.validator(),
        (None, Some(domain)) => Validator::auth0(&domain, &var("AUDIENCE").unwrap_or_default()),
        (None, None) => match var("AUDIENCE") {
            Some(audience) => Validator::builder().audience(audience),
            None => Validator::builder(),
        },
    };
    if demo.is_none() {
        if let Some(issuer) = var("ISSUER") {
            builder = builder.issuer(issuer);
        }
        if let Some(jwks_uri) = var("JWKS_URI") {
            builder = builder.jwks_uri(jwks_uri);
        }
    }
    if let Some(secret) = secret {
        builder = builder.hs256_secret(secret.as_bytes());
    }
    builder.scope_claims(ScopeClaims {
        scope: true,
        scp: true,
        permissions: true,
    })
}

/// Mints two demo tokens and prints a curl command per expected status.
fn print_demo(issuer: &TestIssuer, secret: Option<&str>, base: &str) {
    let mint = |scope: &str| {
        let token = match secret {
            Some(secret) => TokenBuilder::hs256(secret.as_bytes())
                .issuer(issuer.issuer())
                .audience(DEFAULT_AUDIENCE)
                .claim("iat", unix_now())
                .expires_in_secs(3600),
            None => issuer.token(),
        };
        token
            .claim("sub", "demo-client@clients")
            .scope(scope)
            .sign()
    };
    let (scoped, unscoped) = (mint("read:messages"), mint("write:messages"));
    let alg = if secret.is_some() { "HS256" } else { "RS256" };
    println!(
        "\ndemo issuer {} ({alg}), tokens valid for 1 hour. Try:\n",
        issuer.issuer()
    );
    let curl = |expect: &str, path: &str, token: Option<&str>| {
        let auth = token.map_or(String::new(), |t| {
            format!(" -H 'Authorization: Bearer {t}'")
        });
        println!("# expect {expect}\ncurl -i{auth} {base}{path}\n");
    };
    curl("200", "/api/public", None);
    curl("401 (no token)", "/api/private", None);
    curl("200", "/api/private", Some(&scoped));
    curl(
        "200 (token has read:messages)",
        "/api/private-scoped",
        Some(&scoped),
    );
    curl(
        "403 (token lacks read:messages)",
        "/api/private-scoped",
        Some(&unscoped),
    );
}

fn unix_now() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |elapsed| elapsed.as_secs())
}

#[tokio::main]
async fn main() -> ExitCode {
    let secret = var("HS256_SECRET");
    // Demo mode: an embedded issuer, which must live as long as the server.
    let demo = match var("ISSUER").or(var("AUTH0_DOMAIN")) {
        None => Some(TestIssuer::start().await),
        Some(_) => None,
    };
    let validator = match configure(demo.as_ref(), secret.as_deref()).build() {
        Ok(validator) => validator,
        Err(error) => {
            eprintln!("invalid bearer-guard configuration:");
            for problem in error.problems() {
                eprintln!("  - {problem}");
            }
            eprintln!("set AUTH0_DOMAIN or ISSUER, and AUDIENCE; optionally JWKS_URI, or");
            eprintln!("HS256_SECRET with ISSUER (Auth0: ISSUER=https://{{domain}}/)");
            return ExitCode::from(2);
        }
    };
    println!("validating with {validator:?}");

    let app = Router::new()
        .route("/api/private-scoped", get(private_scoped))
        .route_layer(RequireScopes::all(["read:messages"]))
        .route("/api/private", get(private))
        .layer(BearerLayer::new(validator))
        .route("/api/public", get(public));

    let bind = var("BIND").unwrap_or_else(|| "127.0.0.1:3010".to_owned());
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {bind}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let base = format!(
        "http://{}",
        listener.local_addr().map_or(bind, |a| a.to_string())
    );
    println!("listening on {base}");
    if let Some(issuer) = &demo {
        print_demo(issuer, secret.as_deref(), &base);
    }

    if let Err(error) = axum::serve(listener, app).await {
        eprintln!("server stopped: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
