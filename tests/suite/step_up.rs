//! Step-up authentication (RFC 9470) through a router (README, "Step-up authentication"):
//! `RequireAuthentication` passes a token whose `acr`, `amr` and `auth_time` meet the route's
//! requirements, and refuses any other with 401 `insufficient_user_authentication` and the
//! route's `acr_values` and `max_age` in the `Bearer` challenge, over HTTP and gRPC, without
//! echoing the token.

use crate::common;

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Json, Router};
use bearer_guard::testing::{TestIssuer, TokenBuilder};
use bearer_guard::{BearerLayer, RequireAuthentication, VerifiedClaims};
use common::{Reply, assert_no_echo, now, parse_challenge, send_token};
use http::{Request, Response, StatusCode, header};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt, service_fn};

const MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";
const PHR: &str = "phr";
const GUARDED: &str = "/guarded";
const OPEN: &str = "/open";

async fn echo(Extension(claims): Extension<VerifiedClaims>) -> Json<Value> {
    Json(json!({ "sub": claims.subject() }))
}

/// `guard` on `/guarded` only; `/open` is behind the layer alone.
fn app(issuer: &TestIssuer, guard: RequireAuthentication) -> Router {
    let validator = issuer.validator().build().unwrap();
    Router::new()
        .route(GUARDED, get(echo))
        .route_layer(guard)
        .route(OPEN, get(echo))
        .layer(BearerLayer::new(validator))
}

/// 401 with exactly these challenge parameters, in this order, parsed by the shared parser,
/// the same error and description in the JSON body, `no-store`, no token echo.
#[track_caller]
fn assert_step_up(reply: &Reply, token: &str, description: &str, extra: &[(&str, &str)]) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
    common::assert_no_store(reply);
    assert_no_echo(token.as_bytes(), reply);
    let challenge = reply.challenge.as_deref().expect("a challenge");
    let (scheme, params) = parse_challenge(challenge);
    assert_eq!(scheme, "Bearer", "{challenge}");
    let mut expected = vec![
        (
            "error".to_owned(),
            "insufficient_user_authentication".to_owned(),
        ),
        ("error_description".to_owned(), description.to_owned()),
    ];
    expected.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    assert_eq!(params, expected, "{challenge}");
    assert_eq!(reply.body["error"], "insufficient_user_authentication");
    assert_eq!(reply.body["error_description"], description);
}

/// Each token passes `/guarded`; `/open` needs no step-up.
async fn assert_pass(app: &Router, tokens: Vec<TokenBuilder>) {
    for (i, token) in tokens.into_iter().enumerate() {
        let token = token.sign();
        let reply = send_token(app, GUARDED, &token).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "passing token #{i}: {reply:#?}"
        );
        reply.assert_ok();
    }
}

/// Each token is refused on `/guarded` with this description and these parameters, and
/// still passes `/open`.
async fn assert_refused(
    app: &Router,
    tokens: Vec<TokenBuilder>,
    description: &str,
    extra: &[(&str, &str)],
) {
    for (i, token) in tokens.into_iter().enumerate() {
        let token = token.sign();
        let reply = send_token(app, GUARDED, &token).await;
        assert!(
            reply.status != StatusCode::OK,
            "refused token #{i}: {reply:#?}"
        );
        assert_step_up(&reply, &token, description, extra);
        send_token(app, OPEN, &token).await.assert_ok();
    }
}

#[tokio::test]
async fn acr_listed_passes_any_other_or_none_is_challenged_with_acr_values() {
    let issuer = TestIssuer::start().await;
    let app = app(&issuer, RequireAuthentication::acr([MFA, PHR]));
    let t = || issuer.token();
    assert_pass(&app, vec![t().claim("acr", MFA), t().claim("acr", PHR)]).await;
    let acr_values = format!("{MFA} {PHR}");
    assert_refused(
        &app,
        vec![
            t().claim("acr", "urn:mace:incommon:iap:silver"),
            t().claim("acr", "PHR"),
            t().claim("acr", json!([MFA])),
            t().claim("acr", 1),
            // Missing.
            t(),
        ],
        "a different authentication level is required",
        &[("acr_values", &acr_values)],
    )
    .await;
}

#[tokio::test]
async fn max_age_passes_a_fresh_auth_time_and_refuses_a_stale_or_missing_one() {
    let issuer = TestIssuer::start().await;
    let guard = RequireAuthentication::default().max_age(Duration::from_secs(300));
    let app = app(&issuer, guard);
    let t = || issuer.token();
    assert_pass(
        &app,
        vec![
            t().claim("auth_time", now()),
            t().claim("auth_time", now() - 240),
            t().claim("auth_time", now() as f64 - 0.5),
            // Ahead of the clock (skew): signed by the issuer, fresh.
            t().claim("auth_time", now() + 30),
        ],
    )
    .await;
    assert_refused(
        &app,
        vec![
            t().claim("auth_time", now() - 400),
            t().claim("auth_time", now() - 86_400),
            t().claim("auth_time", (now() - 10).to_string()),
            t().claim("auth_time", Value::Null),
            t().claim("auth_time", json!(true)),
            // Missing: the age cannot be checked.
            t(),
        ],
        "a more recent authentication is required",
        &[("max_age", "300")],
    )
    .await;
}

#[tokio::test]
async fn both_requirements_are_named_in_every_challenge() {
    let issuer = TestIssuer::start().await;
    let guard = RequireAuthentication::acr([MFA]).max_age(Duration::from_secs(60));
    let app = app(&issuer, guard);
    let t = || issuer.token();
    let both = [("acr_values", MFA), ("max_age", "60")];
    assert_pass(
        &app,
        vec![t().claim("acr", MFA).claim("auth_time", now() - 30)],
    )
    .await;
    assert_refused(
        &app,
        vec![
            t().claim("acr", "basic").claim("auth_time", now()),
            t().claim("auth_time", now()),
        ],
        "a different authentication level is required",
        &both,
    )
    .await;
    assert_refused(
        &app,
        vec![
            t().claim("acr", MFA).claim("auth_time", now() - 120),
            t().claim("acr", MFA),
        ],
        "a more recent authentication is required",
        &both,
    )
    .await;
}

#[tokio::test]
async fn amr_requires_every_listed_method() {
    let issuer = TestIssuer::start().await;
    let app = app(&issuer, RequireAuthentication::acr([MFA]).amr(["mfa"]));
    let t = || issuer.token().claim("acr", MFA);
    assert_pass(
        &app,
        vec![
            t().claim("amr", json!(["mfa"])),
            t().claim("amr", json!(["pwd", "otp", "mfa"])),
        ],
    )
    .await;
    assert_refused(
        &app,
        vec![
            t().claim("amr", json!(["pwd"])),
            t().claim("amr", "mfa"),
            t().claim("amr", json!([])),
            t(),
        ],
        "other authentication methods are required",
        &[("acr_values", MFA)],
    )
    .await;
}

#[tokio::test]
async fn a_request_without_a_layer_in_front_gets_a_bare_challenge() {
    let app = Router::new()
        .route(GUARDED, get(|| async { "never" }))
        .route_layer(RequireAuthentication::acr([MFA]));
    common::send(&app, GUARDED, None)
        .await
        .assert_bare_challenge();
}

#[tokio::test]
async fn grpc_calls_get_unauthenticated_with_the_step_up_challenge() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().build().unwrap();
    let inner = service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from("called")))
    });
    let guard = RequireAuthentication::acr([MFA]).max_age(Duration::from_secs(300));
    let service = BearerLayer::new(validator).layer(guard.layer(inner));
    for (token, called) in [
        (
            issuer.token().claim("acr", MFA).claim("auth_time", now()),
            true,
        ),
        (issuer.token().claim("acr", "basic"), false),
    ] {
        let token = token.sign();
        let request = Request::post("/helloworld.Greeter/SayHello")
            .header(header::CONTENT_TYPE, "application/grpc")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = service.clone().oneshot(request).await.expect("infallible");
        let reply = Reply::of(response).await;
        assert_no_echo(token.as_bytes(), &reply);
        assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
        if called {
            assert_eq!(reply.raw_body, b"called");
            assert!(!reply.headers.contains_key("grpc-status"), "{reply:#?}");
            continue;
        }
        assert_eq!(reply.headers["grpc-status"], "16", "{reply:#?}"); // UNAUTHENTICATED
        assert_eq!(
            reply.headers["grpc-message"],
            "a different authentication level is required"
        );
        assert_eq!(
            reply.param("error").as_deref(),
            Some("insufficient_user_authentication")
        );
        assert_eq!(reply.param("acr_values").as_deref(), Some(MFA));
        assert_eq!(reply.param("max_age").as_deref(), Some("300"));
    }
}

#[tokio::test]
async fn an_mcp_server_names_its_metadata_document_but_not_the_scopes_to_start_with() {
    use crate::mcp::{READ, RESOURCE, call, post, scopes, send};
    use bearer_guard::ProtectedResourceMetadata;
    use bearer_guard::mcp::McpRequestBody;

    let fixture = crate::mcp::start().await;
    let metadata = ProtectedResourceMetadata::new(RESOURCE).scopes_supported([READ]);
    let validator = fixture
        .issuer
        .validator_for(RESOURCE)
        .protected_resource(&metadata)
        .build()
        .unwrap();
    let inner = service_fn(|_: Request<McpRequestBody<Body>>| async {
        Ok::<_, Infallible>(Response::new(Body::from("called")))
    });
    let app = Router::new()
        .route_service("/mcp", scopes().layer_on(inner))
        .route_layer(RequireAuthentication::acr([MFA]).max_age(Duration::from_secs(600)))
        .layer(BearerLayer::new(validator));
    let body = || call(1, "whoami", json!({})).to_string();

    // A token from the token endpoint, for the server, without a step-up.
    let token = fixture.token(RESOURCE, READ).await;
    let reply = send(&app, post(Some(&token), body())).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    let challenge = reply.challenge().expect("a challenge");
    let (scheme, params) = parse_challenge(challenge);
    assert_eq!(scheme, "Bearer", "{challenge}");
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        params,
        [
            ("error", "insufficient_user_authentication"),
            (
                "error_description",
                "a different authentication level is required"
            ),
            ("acr_values", MFA),
            ("max_age", "600"),
            ("resource_metadata", metadata.url().as_str()),
        ],
        "{challenge}"
    );
    assert!(
        !String::from_utf8_lossy(&reply.body).contains(&token),
        "{reply:?}"
    );

    let stepped_up = fixture
        .issuer
        .token()
        .audience(RESOURCE)
        .claim("scope", READ)
        .claim("acr", MFA)
        .claim("auth_time", now() - 60)
        .sign();
    let reply = send(&app, post(Some(&stepped_up), body())).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, "called");
}

#[tokio::test]
async fn a_claim_namespace_reads_the_namespaced_claims_only() {
    const NS: &str = "https://api.example.com/";
    let issuer = TestIssuer::start().await;
    let guard = RequireAuthentication::acr([MFA])
        .amr(["mfa"])
        .max_age(Duration::from_secs(300))
        .claim_namespace(NS);
    let app = app(&issuer, guard);
    let t = || issuer.token();
    let name = |claim: &str| format!("{NS}{claim}");
    let namespaced = || {
        t().claim(&name("acr"), MFA)
            .claim(&name("amr"), json!(["mfa"]))
    };
    assert_pass(
        &app,
        vec![namespaced().claim(&name("auth_time"), now() - 10)],
    )
    .await;
    let both = [("acr_values", MFA), ("max_age", "300")];
    assert_refused(
        &app,
        // The standard names are not read once a namespace is set.
        vec![
            t().claim("acr", MFA)
                .claim("amr", json!(["mfa"]))
                .claim("auth_time", now()),
        ],
        "a different authentication level is required",
        &both,
    )
    .await;
    assert_refused(
        &app,
        vec![namespaced().claim("auth_time", now())],
        "a more recent authentication is required",
        &both,
    )
    .await;
}
