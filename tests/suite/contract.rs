//! The behaviour contract of the README ("Behaviour"), row by row, through the quickstart router.

use crate::common;

use bearer_guard::testing::{DEFAULT_AUDIENCE, SigningKey, TokenBuilder};
use bearer_guard::{BearerLayer, RequireScopes, Validator};
use common::{Fixture, PRIVATE, PUBLIC, SCOPE, SCOPED, send, send_raw};
use http::StatusCode;
use serde_json::json;

// Row 0: what is not protected stays open.

#[tokio::test]
async fn the_public_route_needs_no_token() {
    let f = Fixture::start().await;
    assert_eq!(
        send(&f.app, PUBLIC, None).await.assert_ok(),
        &json!({"public": true})
    );
    let garbage = send(&f.app, PUBLIC, Some("Bearer not-a-token")).await;
    assert_eq!(garbage.assert_ok(), &json!({"public": true}));
    f.assert_fetches(0, 0);
}

// Row 1: no Authorization header, or another scheme: 401 with a bare `Bearer` challenge.

#[tokio::test]
async fn no_authorization_header_is_a_bare_challenge() {
    let f = Fixture::start().await;
    send(&f.app, PRIVATE, None).await.assert_bare_challenge();
    send(&f.app, SCOPED, None).await.assert_bare_challenge();
    f.assert_fetches(0, 0);
}

#[tokio::test]
async fn another_scheme_is_a_bare_challenge() {
    let f = Fixture::start().await;
    let basic = send(&f.app, PRIVATE, Some("Basic dXNlcjpwYXNzd29yZA==")).await;
    basic.assert_bare_challenge();
    // A valid token under another scheme is still no bearer token.
    let token = f.issuer.token().scope(SCOPE).sign();
    let dpop = send(&f.app, SCOPED, Some(&format!("DPoP {token}"))).await;
    dpop.assert_bare_challenge();
    let glued = send(&f.app, PRIVATE, Some(&format!("Bearer{token}"))).await;
    glued.assert_bare_challenge();
}

#[tokio::test]
async fn the_scheme_is_case_insensitive() {
    let f = Fixture::start().await;
    let token = f.issuer.token().scope(SCOPE).sign();
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let reply = send(&f.app, SCOPED, Some(&format!("{scheme} {token}"))).await;
        assert_eq!(reply.assert_ok()["sub"], "test-client@clients", "{scheme}");
    }
    f.assert_fetches(1, 1);
}

#[tokio::test]
async fn the_realm_is_in_every_challenge_when_configured() {
    let f = Fixture::start_with(|b| b.realm("messages-api")).await;
    let bare = send(&f.app, PRIVATE, None).await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bare.challenge.as_deref(),
        Some(r#"Bearer realm="messages-api""#)
    );

    let invalid = send(&f.app, PRIVATE, Some("Bearer a.b.c")).await;
    assert_eq!(invalid.status, StatusCode::UNAUTHORIZED);
    assert_eq!(invalid.param("realm").as_deref(), Some("messages-api"));
    assert_eq!(invalid.param("error").as_deref(), Some("invalid_token"));
}

#[tokio::test]
async fn a_realm_is_quoted_safely() {
    let f = Fixture::start_with(|b| b.realm("say \"hi\"\r\nX-Injected: 1")).await;
    let reply = send(&f.app, PRIVATE, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.challenge.as_deref(),
        Some(r#"Bearer realm="say \"hi\"X-Injected: 1""#)
    );
    assert_eq!(
        reply.param("realm").as_deref(),
        Some("say \"hi\"X-Injected: 1")
    );
    assert!(!reply.headers.contains_key("x-injected"));
}

// Row 2: malformed bearer credentials: 400 invalid_request.

#[tokio::test]
async fn bearer_without_a_token_is_an_invalid_request() {
    let f = Fixture::start().await;
    send(&f.app, PRIVATE, Some("Bearer"))
        .await
        .assert_invalid_request();
    send(&f.app, PRIVATE, Some("Bearer    "))
        .await
        .assert_invalid_request();
    send(&f.app, SCOPED, Some("bearer"))
        .await
        .assert_invalid_request();
    f.assert_fetches(0, 0);
}

#[tokio::test]
async fn two_tokens_are_an_invalid_request() {
    let f = Fixture::start().await;
    let token = f.issuer.token().scope(SCOPE).sign();
    let other = f.issuer.token().claim("sub", "other").sign();
    let reply = send(&f.app, SCOPED, Some(&format!("Bearer {token} {other}"))).await;
    reply.assert_invalid_request();
    f.assert_fetches(0, 0);
}

#[tokio::test]
async fn characters_outside_b64token_are_an_invalid_request() {
    let f = Fixture::start().await;
    let token = f.issuer.token().sign();
    let comma = format!("Bearer {token},x");
    let quoted = format!("Bearer \"{token}\"");
    let latin1 = [b"Bearer abc".as_slice(), &[0xe9], b"def"].concat();
    for value in [comma.as_bytes(), quoted.as_bytes(), b"Bearer a=b", &latin1] {
        send_raw(&f.app, PRIVATE, &[value])
            .await
            .assert_invalid_request();
    }
    f.assert_fetches(0, 0);
}

#[tokio::test]
async fn several_authorization_headers_are_an_invalid_request() {
    let f = Fixture::start().await;
    let token = format!("Bearer {}", f.issuer.token().scope(SCOPE).sign());
    let same_twice = [token.as_bytes(), token.as_bytes()];
    send_raw(&f.app, SCOPED, &same_twice)
        .await
        .assert_invalid_request();
    let with_basic = [token.as_bytes(), b"Basic dXNlcjpwYXNzd29yZA==".as_slice()];
    send_raw(&f.app, PRIVATE, &with_basic)
        .await
        .assert_invalid_request();
    f.assert_fetches(0, 0);
}

// Row 3: a token that fails validation: 401 invalid_token.

#[tokio::test]
async fn a_token_that_is_not_a_jws_is_an_invalid_token() {
    let f = Fixture::start().await;
    for token in [
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d.e",
        "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
    ] {
        let reply = send(&f.app, PRIVATE, Some(&format!("Bearer {token}"))).await;
        reply.assert_invalid_token();
    }
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_claims() {
    let f = Fixture::start().await;
    let token = f
        .issuer
        .token()
        .claim("client_id", "client-42")
        .scope("write:messages read:messages")
        .sign();
    let reply = f.send(PRIVATE, &token).await;
    let body = reply.assert_ok();
    assert_eq!(body["iss"], f.issuer.issuer());
    assert_eq!(body["sub"], "test-client@clients");
    assert_eq!(body["aud"], json!([DEFAULT_AUDIENCE]));
    assert_eq!(body["client_id"], "client-42");
    assert_eq!(body["scopes"], json!(["read:messages", "write:messages"]));
    let exp = body["exp"].as_i64().unwrap();
    assert!(
        (common::now() + 3590..=common::now() + 3600).contains(&exp),
        "{exp}"
    );
    f.assert_fetches(1, 1);
}

// Row 4: valid token, missing scope: 403 insufficient_scope naming the required scope.

#[tokio::test]
async fn a_valid_token_without_the_scope_is_forbidden() {
    let f = Fixture::start().await;
    let no_scope = f.issuer.token().sign();
    f.send(SCOPED, &no_scope)
        .await
        .assert_insufficient_scope(SCOPE);
    let other = f.issuer.token().scope("write:messages read").sign();
    f.send(SCOPED, &other)
        .await
        .assert_insufficient_scope(SCOPE);
    // The same tokens are fine where no scope is required.
    f.send(PRIVATE, &no_scope).await.assert_ok();
}

#[tokio::test]
async fn scopes_match_exactly() {
    let f = Fixture::start().await;
    for near_miss in [
        "read:messages2",
        "read:message",
        "READ:MESSAGES",
        "read:messages:all",
    ] {
        let token = f.issuer.token().scope(near_miss).sign();
        f.send(SCOPED, &token)
            .await
            .assert_insufficient_scope(SCOPE);
    }
    let token = f
        .issuer
        .token()
        .scope("read:messages2 read:messages")
        .sign();
    f.send(SCOPED, &token).await.assert_ok();
}

#[tokio::test]
async fn scopes_are_read_from_scp_too() {
    let f = Fixture::start().await;
    let array = f
        .issuer
        .token()
        .claim("scp", json!(["openid", SCOPE]))
        .sign();
    let body = f.send(SCOPED, &array).await.assert_ok().clone();
    assert_eq!(body["scopes"], json!(["openid", SCOPE]));
    let string = f.issuer.token().claim("scp", "openid read:messages").sign();
    f.send(SCOPED, &string).await.assert_ok();
    let without = f
        .issuer
        .token()
        .claim("scp", json!(["read:messages2"]))
        .sign();
    f.send(SCOPED, &without)
        .await
        .assert_insufficient_scope(SCOPE);
}

#[tokio::test]
async fn a_wrongly_typed_scope_claim_is_an_invalid_token() {
    let f = Fixture::start().await;
    for scope in [json!(1), json!([SCOPE, 2]), json!({"read": true})] {
        let token = f.issuer.token().claim("scope", scope).sign();
        f.send(SCOPED, &token).await.assert_invalid_token();
    }
}

#[tokio::test]
async fn permissions_count_as_scopes_only_when_enabled() {
    use bearer_guard::scope::ScopeClaims;
    let f = Fixture::start().await;
    let token = f.issuer.token().claim("permissions", json!([SCOPE])).sign();
    f.send(SCOPED, &token)
        .await
        .assert_insufficient_scope(SCOPE);

    let rbac = ScopeClaims::default().permissions(true);
    let f = Fixture::start_with(|b| b.scope_claims(rbac)).await;
    let token = f.issuer.token().claim("permissions", json!([SCOPE])).sign();
    f.send(SCOPED, &token).await.assert_ok();
}

#[tokio::test]
async fn several_required_scopes_are_all_named() {
    let f = Fixture::start().await;
    let app = axum::Router::new()
        .route("/both", axum::routing::get(|| async { "both" }))
        .route_layer(RequireScopes::all(["read:messages", "write:messages"]))
        .layer(BearerLayer::new(f.validator.clone()));
    let token = f.issuer.token().scope("read:messages").sign();
    let reply = common::send_token(&app, "/both", &token).await;
    reply.assert_insufficient_scope("read:messages write:messages");
}

#[tokio::test]
async fn the_scope_guard_without_the_bearer_layer_never_passes() {
    let f = Fixture::start().await;
    let app = axum::Router::new()
        .route(
            "/unguarded",
            axum::routing::get(|| async { "should not be reached" }),
        )
        .route_layer(RequireScopes::all([SCOPE]));
    let token = f.issuer.token().scope(SCOPE).sign();
    common::send_token(&app, "/unguarded", &token)
        .await
        .assert_bare_challenge();
    send(&app, "/unguarded", None).await.assert_bare_challenge();
}

// Row 5: no key set could ever be obtained: 503 with Retry-After.

/// A loopback port nobody listens on.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[tokio::test]
async fn an_unreachable_issuer_on_cold_start_is_503_with_retry_after() {
    let issuer = format!("http://127.0.0.1:{}/", dead_port());
    let validator = Validator::builder()
        .issuer(issuer.as_str())
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    let app = common::app(validator.clone());
    let token = TokenBuilder::rs256(&SigningKey::generate("key-1"))
        .issuer(issuer.as_str())
        .audience(DEFAULT_AUDIENCE)
        .expires_in_secs(3600)
        .scope(SCOPE)
        .sign();

    let first = common::send_token(&app, SCOPED, &token).await;
    let retry_after = first.assert_keys_unavailable();
    assert!(
        retry_after <= 30,
        "Retry-After {retry_after} exceeds the 30 s cooldown"
    );
    assert_eq!(first.body["error"], "temporarily_unavailable");
    let stats = validator.key_stats();
    assert_eq!(
        (stats.discovery_fetches, stats.jwks_fetches),
        (1, 0),
        "{stats:?}"
    );
    assert_eq!(stats.failed_refreshes, 1, "{stats:?}");

    // Within the cooldown, the next request is answered at once, without a new attempt.
    let second = common::send_token(&app, PRIVATE, &token).await;
    second.assert_keys_unavailable();
    assert_eq!(validator.key_stats().discovery_fetches, 1);

    // Problems found without keys still get their own answers.
    send(&app, PRIVATE, None).await.assert_bare_challenge();
    send(&app, PRIVATE, Some("Bearer"))
        .await
        .assert_invalid_request();
    let none = TokenBuilder::rs256(&SigningKey::generate("key-1"))
        .header("alg", "none")
        .issuer(issuer.as_str())
        .sign();
    common::send_token(&app, PRIVATE, &none)
        .await
        .assert_invalid_token();
}
