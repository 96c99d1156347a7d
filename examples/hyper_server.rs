//! Plain hyper 1, no axum: a `tower::service_fn` behind `BearerLayer`, assembled with
//! `tower::ServiceBuilder` and served by hyper through hyper-util's `TowerToHyperService`.
//!
//! ```text
//! cargo run --example hyper_server             # serve, call itself, print, exit
//! cargo run --example hyper_server -- --serve  # keep serving on BIND (default 127.0.0.1:3011)
//! ```
//!
//! The routes are the quickstart's: `/api/public` outside the layer, `/api/private` behind
//! it, `/api/private-scoped` behind it and needing `read:messages`, checked in the handler
//! with a `ScopePolicy` (which answers the same 403 as `RequireScopes`). Tokens come from an
//! embedded test issuer's token endpoint, by the client credentials grant.

use std::convert::Infallible;

use bearer_guard::testing::{Api, DEFAULT_AUDIENCE, TestIssuer};
use bearer_guard::{BearerLayer, ScopePolicy, Validator, VerifiedClaims, layer::BearerBody};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::{ServiceBuilder, ServiceExt};
use tracing_subscriber::EnvFilter;

/// A JSON response.
fn json(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::from(body.to_string()))
        .expect("a valid response")
}

/// The protected routes: every request here passed `BearerLayer`, so its claims are in the
/// extensions.
async fn protected(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let Some(claims) = request.extensions().get::<VerifiedClaims>() else {
        // Not reachable behind BearerLayer; a server bug otherwise.
        return Ok(json(StatusCode::INTERNAL_SERVER_ERROR, "no claims".into()));
    };
    let hello = |message: &str| {
        let scopes: Vec<&str> = claims.scopes().iter().collect();
        json(
            StatusCode::OK,
            serde_json::json!({ "message": message, "sub": claims.subject(), "scopes": scopes }),
        )
    };
    Ok(match request.uri().path() {
        "/api/private" => hello("Hello from a private endpoint! You are authenticated."),
        "/api/private-scoped" => match ScopePolicy::all(["read:messages"]).check(claims.scopes()) {
            Ok(()) => hello("Hello from a private endpoint! You have read:messages."),
            // 403 insufficient_scope with its challenge, as RequireScopes answers.
            Err(refusal) => refusal.to_response(),
        },
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "error": "not found" }),
        ),
    })
}

/// The whole server as one tower service: `/api/public` answered directly, the rest through
/// `BearerLayer`.
fn app(
    validator: Validator,
) -> impl tower::Service<
    Request<Incoming>,
    Response = Response<BearerBody<Full<Bytes>>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    let protected = ServiceBuilder::new()
        .layer(BearerLayer::new(validator))
        .service_fn(protected);
    tower::service_fn(move |request: Request<Incoming>| {
        let protected = protected.clone();
        async move {
            if request.uri().path() == "/api/public" {
                let message = "Hello from a public endpoint! No token needed.";
                let public = json(StatusCode::OK, serde_json::json!({ "message": message }));
                return Ok(public.map(Either::Left));
            }
            protected.oneshot(request).await
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs on stderr, filtered by RUST_LOG (`bearer_guard=debug`: each refusal and why).
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let serve = std::env::args().skip(1).any(|arg| arg == "--serve");

    // An issuer set up as in the quickstart: the API, and a client granted read:messages.
    let issuer = TestIssuer::start().await;
    issuer.register_api(Api::new(DEFAULT_AUDIENCE).scopes(["read:messages", "write:messages"]));
    issuer.register_client("hyper-client", "hyper-client-secret");
    issuer.grant("hyper-client", DEFAULT_AUDIENCE, ["read:messages"]);
    issuer.register_client("hyper-writer", "hyper-writer-secret");
    issuer.grant("hyper-writer", DEFAULT_AUDIENCE, ["write:messages"]);
    let validator = issuer.validator_for(DEFAULT_AUDIENCE).build()?;
    println!("validating with {validator:?}");
    let app = app(validator);

    let bind = match serve {
        true => std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3011".to_owned()),
        false => "127.0.0.1:0".to_owned(),
    };
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("hyper server on {base}");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(error) = connection.await {
                    eprintln!("connection error: {error}");
                }
            });
        }
    });

    let reader = issuer
        .client_credentials(
            "hyper-client",
            "hyper-client-secret",
            DEFAULT_AUDIENCE,
            None,
        )
        .await?
        .access_token;
    let writer = issuer
        .client_credentials(
            "hyper-writer",
            "hyper-writer-secret",
            DEFAULT_AUDIENCE,
            None,
        )
        .await?
        .access_token;
    let calls = [
        ("/api/public", None, 200),
        ("/api/private", None, 401),
        ("/api/private", Some(&reader), 200),
        ("/api/private-scoped", Some(&reader), 200),
        ("/api/private-scoped", Some(&writer), 403),
        ("/api/private", Some(&"not-a-jwt".to_owned()), 401),
    ];
    let client = reqwest::Client::new();
    let mut failures = 0;
    for (path, token, expected) in calls {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        let token = if token.is_some() { "token" } else { "none" };
        println!("GET {path:<20} {token:<5} -> {status} (expected {expected}) {challenge}");
        failures += usize::from(status != expected);
    }
    if failures > 0 {
        return Err(format!("{failures} unexpected statuses").into());
    }

    if serve {
        println!("\nserving on {base} until Ctrl-C; for example:");
        println!("curl -i -H 'Authorization: Bearer {reader}' {base}/api/private-scoped");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
