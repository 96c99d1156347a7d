//! The error body hook (`ValidatorBuilder::error_body`): an RFC 9457 problem+json body
//! replaces the default one on every refusal (400, 401, 403, 503), from the layer, the route
//! guards and the `Claims<T>` extractor, while the status, `WWW-Authenticate`, `Retry-After`
//! and every other header stay exactly as without the hook.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{
    AuthError, BearerLayer, ClaimRule, ErrorBody, RequireScopes, Validator, ValidatorBuilder,
};
use common::{PRIVATE, RULED, Reply, SCOPE, SCOPED, SHAPED, guarded_app, send, send_raw};
use http::{StatusCode, header};
use serde_json::{Value, json};

const METADATA_URL: &str = "https://api.example.com/.well-known/oauth-protected-resource";

/// The problem document the hook writes for `error`.
fn problem(error: &AuthError) -> Value {
    let status = error.status();
    json!({
        "type": format!(
            "https://api.example.com/problems/{}",
            error.error_code().unwrap_or("unauthorized")
        ),
        "title": status.canonical_reason(),
        "status": status.as_u16(),
        "detail": error.description(),
    })
}

/// The hook, counting its calls.
fn hook(calls: &Arc<AtomicUsize>) -> impl Fn(&AuthError) -> ErrorBody + Send + Sync + 'static {
    let calls = Arc::clone(calls);
    move |error| {
        calls.fetch_add(1, Ordering::SeqCst);
        ErrorBody::problem_json(&problem(error))
    }
}

/// The same configuration with and without the hook, each behind its own router.
struct Pair {
    issuer: TestIssuer,
    plain: Router,
    hooked: Router,
    calls: Arc<AtomicUsize>,
}

async fn pair() -> Pair {
    let issuer = TestIssuer::start().await;
    let configure = |builder: ValidatorBuilder| {
        builder
            .realm("messages")
            .resource_metadata(METADATA_URL)
            .claim_rule(ClaimRule::equals("gty", "client-credentials").describe("wrong grant"))
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let plain = configure(issuer.validator()).build().unwrap();
    let hooked = configure(issuer.validator())
        .error_body(hook(&calls))
        .build()
        .unwrap();
    Pair {
        plain: guarded_app(plain),
        hooked: guarded_app(hooked),
        issuer,
        calls,
    }
}

/// Every header but the body's own (`content-type`, `content-length`).
fn headers_besides_the_body(reply: &Reply) -> Vec<(String, Vec<u8>)> {
    let mut headers: Vec<(String, Vec<u8>)> = reply
        .headers
        .iter()
        .filter(|(name, _)| **name != header::CONTENT_TYPE && **name != header::CONTENT_LENGTH)
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    headers.sort();
    headers
}

/// Sends the same request to both routers and checks that only the body differs; returns
/// the hooked reply.
async fn compare(pair: &Pair, path: &str, authorization: &[&[u8]], status: StatusCode) -> Reply {
    let plain = send_raw(&pair.plain, path, authorization).await;
    let hooked = send_raw(&pair.hooked, path, authorization).await;
    assert_eq!(plain.status, status, "{path}: {plain:#?}");
    assert_eq!(hooked.status, plain.status, "{path}: {hooked:#?}");
    assert_eq!(hooked.challenge, plain.challenge, "{path}");
    assert_eq!(
        hooked.headers.get(header::RETRY_AFTER),
        plain.headers.get(header::RETRY_AFTER),
        "{path}"
    );
    assert_eq!(
        headers_besides_the_body(&hooked),
        headers_besides_the_body(&plain),
        "{path}: every header but the body's stays"
    );
    assert_eq!(
        plain.headers[header::CONTENT_TYPE],
        "application/json",
        "{path}"
    );
    assert_eq!(
        hooked.headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{path}"
    );
    // The default body, and the problem document made from the same error.
    let code = plain.body["error"].as_str().expect("an error code");
    let description = plain.body["error_description"]
        .as_str()
        .expect("a description");
    assert_eq!(hooked.body["status"], status.as_u16(), "{path}");
    assert_eq!(hooked.body["detail"], description, "{path}");
    assert_eq!(hooked.body["title"], status.canonical_reason().unwrap());
    let expected_type = format!("https://api.example.com/problems/{code}");
    assert_eq!(hooked.body["type"], expected_type.as_str(), "{path}");
    assert!(hooked.body.get("error").is_none(), "{path}: {hooked:#?}");
    hooked
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

#[tokio::test]
async fn the_hook_writes_the_body_of_every_layer_refusal() {
    let p = pair().await;
    // 401 without a token: the bare challenge (realm, resource_metadata) is kept.
    let reply = compare(&p, PRIVATE, &[], StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        reply.challenge.as_deref(),
        Some(format!("Bearer realm=\"messages\", resource_metadata=\"{METADATA_URL}\"").as_str())
    );
    assert_eq!(
        reply.body["type"],
        "https://api.example.com/problems/unauthorized"
    );
    // 400 invalid_request.
    let reply = compare(&p, PRIVATE, &[b"Bearer a,b"], StatusCode::BAD_REQUEST).await;
    assert_eq!(reply.param("error").as_deref(), Some("invalid_request"));
    let reply = compare(
        &p,
        PRIVATE,
        &[b"Bearer abc", b"Bearer abc"],
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(reply.body["detail"], "more than one Authorization header");
    // 401 invalid_token from validation.
    let expired = bearer(&p.issuer.token().expires_in_secs(-3600).sign());
    let reply = compare(&p, PRIVATE, &[&expired], StatusCode::UNAUTHORIZED).await;
    assert_eq!(reply.param("error").as_deref(), Some("invalid_token"));
    assert_eq!(reply.body["detail"], "the token has expired");
    // 401 invalid_token from a validator claim rule.
    let wrong_grant = bearer(&p.issuer.token().claim("gty", "password").sign());
    let reply = compare(&p, PRIVATE, &[&wrong_grant], StatusCode::UNAUTHORIZED).await;
    assert_eq!(reply.body["detail"], "wrong grant");
    // The valid token passes untouched.
    let good = bearer(
        &p.issuer
            .token()
            .claim("gty", "client-credentials")
            .scope(SCOPE)
            .sign(),
    );
    for app in [&p.plain, &p.hooked] {
        let reply = send_raw(app, PRIVATE, &[&good]).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    }
    assert_eq!(p.calls.load(Ordering::SeqCst), 5, "one call per refusal");
}

#[tokio::test]
async fn the_hook_writes_the_body_of_route_guard_and_extractor_refusals() {
    let p = pair().await;
    let token = bearer(
        &p.issuer
            .token()
            .claim("gty", "client-credentials")
            .scope("write:messages")
            .sign(),
    );
    // 403 from RequireScopes.
    let reply = compare(&p, SCOPED, &[&token], StatusCode::FORBIDDEN).await;
    assert_eq!(reply.param("scope").as_deref(), Some(SCOPE));
    assert_eq!(reply.param("realm").as_deref(), Some("messages"));
    assert_eq!(
        reply.body["type"],
        "https://api.example.com/problems/insufficient_scope"
    );
    // 403 from RequireClaims.
    let reply = compare(&p, RULED, &[&token], StatusCode::FORBIDDEN).await;
    assert_eq!(
        reply.body["detail"],
        "the roles claim does not include the required value"
    );
    // 401 from the Claims<T> extractor.
    let reply = compare(&p, SHAPED, &[&token], StatusCode::UNAUTHORIZED).await;
    assert_eq!(reply.param("error").as_deref(), Some("invalid_token"));
    assert_eq!(
        reply.body["detail"],
        "the token claims do not have the shape this API expects"
    );
    assert_eq!(p.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_hook_writes_the_body_of_the_503_and_retry_after_stays() {
    let p = pair().await;
    p.issuer.stop();
    let token = bearer(&p.issuer.token().sign());
    let reply = compare(&p, PRIVATE, &[&token], StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(reply.challenge, None);
    let retry_after: u64 = reply.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{reply:#?}");
    assert_eq!(
        reply.body["type"],
        "https://api.example.com/problems/temporarily_unavailable"
    );
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("keys are unavailable"),
        "{reply:#?}"
    );
}

#[tokio::test]
async fn the_hook_sees_the_error_it_writes_for() {
    let issuer = TestIssuer::start().await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let validator = issuer
        .validator()
        .error_body(move |error| {
            record.lock().unwrap().push(error.clone());
            ErrorBody::new(
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
                format!("refused: {}", error.status().as_u16()),
            )
        })
        .build()
        .unwrap();
    let app = guarded_app(validator);
    let reply = send(&app, PRIVATE, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge.as_deref(), Some("Bearer"));
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(reply.body, "refused: 401");
    let token = issuer.token().sign();
    let reply = send(&app, SCOPED, Some(&format!("Bearer {token}"))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.body, "refused: 403");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            AuthError::MissingToken,
            AuthError::InsufficientScope {
                required: SCOPE.to_owned()
            },
        ]
    );
}

#[tokio::test]
async fn the_hook_applies_behind_an_optional_layer_and_with_several_issuers() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    // One builder with the hook, cloned per issuer: every refusal is written with it.
    let shared = Validator::builder()
        .audience(bearer_guard::testing::DEFAULT_AUDIENCE)
        .error_body(hook(&calls));
    let validator = Validator::for_issuers([
        shared.clone().issuer(a.issuer()).build().unwrap(),
        shared.issuer(b.issuer()).build().unwrap(),
    ])
    .unwrap();
    let scoped = Router::new()
        .route(SCOPED, get(|| async { "scoped" }))
        .route_layer(RequireScopes::all([SCOPE]));
    let app = Router::new()
        .merge(scoped)
        .route(PRIVATE, get(|| async { "private" }))
        .layer(BearerLayer::new(validator).optional());

    // An anonymous request to a guarded route: the guard answers, with the hook.
    let reply = send(&app, SCOPED, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge.as_deref(), Some("Bearer"));
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(reply.body, problem(&AuthError::MissingToken));
    // B's token lacking the scope, and an issuer not on the list.
    let reply = send(&app, SCOPED, Some(&format!("Bearer {}", b.token().sign()))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.body["status"], 403);
    let stranger = TestIssuer::start().await;
    let reply = send(
        &app,
        PRIVATE,
        Some(&format!("Bearer {}", stranger.token().sign())),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body["detail"], "the token issuer is not accepted");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
