//! Interop: access tokens from a real, independent authorization server, validated by the
//! crate through an axum router with `BearerLayer` and `RequireScopes`.
//!
//! The server is the npm package `oidc-provider` (tests/interop/provider.mjs): client
//! credentials grant, RS256 JWT access tokens (RFC 9068), found by OIDC discovery from its
//! issuer URL. Tokens are requested over HTTP from its token endpoint exactly as a machine
//! client would. The test needs Node.js >= 20 and npm on `PATH`; it runs `npm ci` in
//! tests/interop when the packages are missing, and fails (never skips) without them.
//!
//! The last test covers the token shapes oidc-provider does not produce (no `kid`, `aud`
//! as an array, Auth0's `permissions` claim, `typ: JWT`) with the crate's own test issuer.

use crate::common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use bearer_guard::testing::{SigningKey, TestIssuer};
use bearer_guard::{
    AuthError, BearerLayer, ClaimRule, RequireScopes, Validator, error::TokenProblem,
    scope::ScopeClaims,
};
use common::oidc_provider::{
    ACCESS_TOKEN_TTL, API, CLIENT, OTHER_API, Provider, ProviderOptions, READ,
    SHORT_ACCESS_TOKEN_TTL, SHORT_CLIENT, ScratchDir, WRITE,
};
use common::{echo_claims, eventually, segment_json, send, send_token};
use http::StatusCode;
use serde_json::json;

// ---------------------------------------------------------------------------------------
// The oidc-provider tests
// ---------------------------------------------------------------------------------------

/// Tokens obtained by the client credentials grant pass the layer; their claims reach the
/// handler; scopes, audience and signature are enforced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_tokens_pass_the_layer_with_their_claims_and_scopes() {
    let started = Instant::now();
    let provider = Provider::start(&ProviderOptions::default());
    let validator = Validator::builder()
        .issuer(provider.issuer.as_str())
        .audience(API)
        .build()
        .expect("valid configuration");
    let app = router(validator.clone());

    // The discovery document the crate relies on: same issuer, byte for byte.
    let metadata = provider.discovery().await;
    assert_eq!(metadata["issuer"], provider.issuer.as_str());
    assert!(!provider.issuer.ends_with('/'), "{}", provider.issuer);
    let published = provider.jwks_kids().await;
    assert_eq!(published, provider.kids, "the JWKS publishes every key");
    assert!(published.len() >= 2, "{published:?}");

    // A token with both scopes, for the API.
    let response = provider
        .token(CLIENT, &format!("{READ} {WRITE}"), Some(API))
        .await;
    assert_eq!(response["token_type"], "Bearer", "{response}");
    assert_eq!(response["expires_in"], ACCESS_TOKEN_TTL, "{response}");
    assert_eq!(response["scope"], format!("{READ} {WRITE}"), "{response}");
    let token = response["access_token"].as_str().expect("access_token");

    // What the provider issues: an RFC 9068 JWT access token signed by its first key.
    let header = segment_json(token, 0);
    assert_eq!(header["alg"], "RS256", "{header}");
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert_eq!(header["kid"], provider.signing_kid.as_str(), "{header}");
    assert_eq!(provider.signing_kid, provider.kids[0]);
    let payload = segment_json(token, 1);
    assert_eq!(payload["iss"], provider.issuer.as_str(), "{payload}");
    assert_eq!(payload["aud"], API, "{payload}");
    assert_eq!(payload["client_id"], CLIENT.0, "{payload}");

    // Accepted through the layer, with every claim visible to the handler.
    assert!(
        !validator.is_ready(),
        "nothing is fetched before the first token"
    );
    for path in ["/api/private", "/api/read", "/api/write", "/api/read-write"] {
        let reply = send_token(&app, path, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {reply:?}");
        let claims = &reply.body;
        assert_eq!(claims["iss"], provider.issuer.as_str(), "{path}");
        assert_eq!(claims["aud"], json!([API]), "{path}");
        assert_eq!(claims["client_id"], CLIENT.0, "{path}");
        assert_eq!(claims["sub"], CLIENT.0, "{path}");
        assert_eq!(claims["scopes"], json!([READ, WRITE]), "{path}");
        assert_eq!(claims["all"]["jti"], payload["jti"], "{path}");
        assert_eq!(claims["exp"], payload["exp"], "{path}");
    }
    let stats = validator.key_stats();
    assert_eq!(stats.jwks_fetches, 1, "{stats:?}");
    assert!(stats.discovery_fetches >= 1, "{stats:?}");
    assert_eq!(stats.unknown_kid_refetches, 0, "{stats:?}");
    assert_eq!(
        validator.key_set_status().map(|s| s.keys),
        Some(published.len())
    );

    // A token with `read:messages` only: 403 insufficient_scope where `write:messages` is
    // required, 200 where `read:messages` is.
    let response = provider.token(CLIENT, READ, Some(API)).await;
    assert_eq!(response["scope"], READ, "{response}");
    let read_only = response["access_token"].as_str().expect("access_token");
    assert_eq!(segment_json(read_only, 1)["scope"], READ);
    let reply = send_token(&app, "/api/read", read_only).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["scopes"], json!([READ]));
    assert_eq!(
        send_token(&app, "/api/private", read_only).await.status,
        StatusCode::OK
    );
    for (path, required) in [
        ("/api/write", WRITE.to_owned()),
        ("/api/read-write", format!("{READ} {WRITE}")),
    ] {
        let reply = send_token(&app, path, read_only).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}: {reply:?}");
        assert_eq!(reply.body["error"], "insufficient_scope", "{path}");
        let challenge = reply.challenge.as_deref().unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer error=\"insufficient_scope\""),
            "{path}: {challenge}"
        );
        assert!(
            challenge.contains(&format!("scope=\"{required}\"")),
            "{path}: {challenge}"
        );
    }

    // A token without `resource`: the provider's default resource is the API.
    let response = provider.token(CLIENT, WRITE, None).await;
    let defaulted = response["access_token"].as_str().expect("access_token");
    assert_eq!(segment_json(defaulted, 1)["aud"], API);
    let reply = send_token(&app, "/api/write", defaulted).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");

    // A token for another resource server: same issuer, same key, valid signature, wrong
    // `aud`: 401 invalid_token.
    let response = provider
        .token(CLIENT, &format!("{READ} {WRITE}"), Some(OTHER_API))
        .await;
    let elsewhere = response["access_token"].as_str().expect("access_token");
    let payload = segment_json(elsewhere, 1);
    assert_eq!(payload["aud"], OTHER_API, "{payload}");
    assert_eq!(payload["iss"], provider.issuer.as_str(), "{payload}");
    assert_eq!(
        segment_json(elsewhere, 0)["kid"],
        provider.signing_kid.as_str()
    );
    for path in ["/api/private", "/api/read", "/api/write"] {
        let reply = send_token(&app, path, elsewhere).await;
        reply.assert_invalid_token_for(TokenProblem::WrongAudience);
    }
    assert_eq!(
        validator.validate(elsewhere).await.err(),
        Some(AuthError::InvalidToken(TokenProblem::WrongAudience))
    );

    // The provider's token with its signature tampered with (its first base64url character
    // changed): 401.
    let tampered = flip_signature(token);
    send_token(&app, "/api/private", &tampered)
        .await
        .assert_invalid_token_for(TokenProblem::InvalidSignature);
    // And no token at all: a bare challenge.
    let reply = send(&app, "/api/private", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge.as_deref(), Some("Bearer"));

    // RFC 9068 strict mode (`typ: at+jwt`; `sub`, `client_id`, `iat`, `jti` required) and an
    // allow-list of clients accept the provider's tokens as they are.
    let strict = Validator::builder()
        .issuer(provider.issuer.as_str())
        .audience(API)
        .rfc9068()
        .claim_rule(ClaimRule::client_id_in([CLIENT.0]))
        .build()
        .expect("valid configuration");
    let strict_app = router(strict.clone());
    for path in ["/api/private", "/api/read-write"] {
        let reply = send_token(&strict_app, path, token).await;
        assert_eq!(reply.status, StatusCode::OK, "strict {path}: {reply:?}");
        assert_eq!(reply.body["client_id"], CLIENT.0);
    }
    // A valid token of another client of the same provider: refused by the allow-list.
    let other_client = provider.access_token(SHORT_CLIENT, READ).await;
    assert_eq!(segment_json(&other_client, 1)["client_id"], SHORT_CLIENT.0);
    let reply = send_token(&strict_app, "/api/read", &other_client).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    assert_eq!(reply.body["error"], "invalid_token", "{reply:?}");
    assert!(
        matches!(
            strict.validate(&other_client).await,
            Err(AuthError::RuleFailed { .. })
        ),
        "the client allow-list refuses {}",
        SHORT_CLIENT.0
    );
    send_token(&app, "/api/read", &other_client)
        .await
        .assert_ok();

    // Nothing of the above needed another key set fetch.
    let stats = validator.key_stats();
    assert_eq!(stats.jwks_fetches, 1, "{stats:?}");
    assert_eq!(stats.unknown_kid_refetches, 0, "{stats:?}");
    drop(provider);
    eprintln!(
        "interop: tokens, claims and scopes took {:?}",
        started.elapsed()
    );
}

/// The provider restarts on the same issuer URL: first switching the signing key to one it
/// already published (no fetch needed), then with a brand-new key set whose kids the crate
/// has never seen (one refetch, counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_key_rotation_across_restarts() {
    let started = Instant::now();
    let dir = ScratchDir::new("rotation");
    let keys_file = dir.path.join("keys.json");
    let first = ProviderOptions {
        keys_file: Some(keys_file.clone()),
        key_set: Some("gen1".into()),
        ..ProviderOptions::default()
    };
    let provider = Provider::start(&first);
    assert_eq!(provider.kids, ["gen1-1", "gen1-2"]);
    assert_eq!(provider.signing_kid, "gen1-1");
    let validator = Validator::builder()
        .issuer(provider.issuer.as_str())
        .audience(API)
        .refetch_cooldown(Duration::from_secs(1))
        .build()
        .expect("valid configuration");
    let app = router(validator.clone());

    let first_token = provider.access_token(CLIENT, READ).await;
    assert_eq!(segment_json(&first_token, 0)["kid"], "gen1-1");
    send_token(&app, "/api/read", &first_token)
        .await
        .assert_ok();
    let stats = validator.key_stats();
    assert_eq!(stats.jwks_fetches, 1, "{stats:?}");
    assert_eq!(stats.unknown_kid_refetches, 0, "{stats:?}");

    // Restart with the same keys, the second one signing (it goes first in the key set).
    let port = provider.port;
    let issuer = provider.issuer.clone();
    let provider = provider.restart(&ProviderOptions {
        port,
        signing_key: Some("gen1-2".into()),
        ..first.clone()
    });
    assert_eq!(provider.issuer, issuer, "same issuer after the restart");
    assert_eq!(provider.kids, ["gen1-2", "gen1-1"]);
    assert_eq!(provider.jwks_kids().await, ["gen1-2", "gen1-1"]);
    let second_token = provider.access_token(CLIENT, READ).await;
    assert_eq!(segment_json(&second_token, 0)["kid"], "gen1-2");
    send_token(&app, "/api/read", &second_token)
        .await
        .assert_ok();
    send_token(&app, "/api/read", &first_token)
        .await
        .assert_ok();
    let stats = validator.key_stats();
    assert_eq!(
        stats.jwks_fetches, 1,
        "a published key needs no fetch: {stats:?}"
    );
    assert_eq!(stats.unknown_kid_refetches, 0, "{stats:?}");

    // Restart with a brand-new key set, its second key signing.
    let provider = provider.restart(&ProviderOptions {
        port,
        fresh_keys: true,
        key_set: Some("gen2".into()),
        signing_key: Some("2".into()),
        ..first.clone()
    });
    assert_eq!(provider.issuer, issuer);
    assert_eq!(provider.kids, ["gen2-2", "gen2-1"]);
    assert_eq!(provider.signing_kid, "gen2-2");
    let fresh_token = provider.access_token(CLIENT, READ).await;
    assert_eq!(segment_json(&fresh_token, 0)["kid"], "gen2-2");
    let before = validator.key_stats();
    // Accepted once the refetch cooldown (the shortest, 1 s) since the last fetch has passed.
    let accepted = eventually(Duration::from_secs(5), async || {
        send_token(&app, "/api/read", &fresh_token).await.status == StatusCode::OK
    })
    .await;
    assert!(
        accepted.is_some(),
        "the new key set's token was never accepted"
    );
    let after = validator.key_stats();
    assert_eq!(
        after.unknown_kid_refetches,
        before.unknown_kid_refetches + 1,
        "the unknown kid caused one refetch: {after:?}"
    );
    assert_eq!(after.jwks_fetches, before.jwks_fetches + 1, "{after:?}");
    assert_eq!(after.failed_refreshes, 0, "{after:?}");
    assert_eq!(validator.key_set_status().map(|s| s.keys), Some(2));
    // Verified from now on without another fetch.
    send_token(&app, "/api/read", &fresh_token)
        .await
        .assert_ok();
    assert_eq!(validator.key_stats().jwks_fetches, after.jwks_fetches);

    // The retired keys are gone: a token they signed is refused (its verified-token cache
    // entry is not used once its key has left the key set).
    send_token(&app, "/api/read", &first_token)
        .await
        .assert_invalid_token_for(TokenProblem::UnknownKey);
    let end = validator.key_stats();
    assert!(
        end.unknown_kid_refetches <= after.unknown_kid_refetches + 1,
        "at most one refetch for the retired kid: {end:?}"
    );
    drop(provider);
    eprintln!(
        "interop: key rotation (3 provider starts) took {:?}",
        started.elapsed()
    );
}

/// A short-lived token is accepted, then refused once `exp` has passed (no leeway).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_tokens_expire() {
    let started = Instant::now();
    let provider = Provider::start(&ProviderOptions::default());
    let validator = Validator::builder()
        .issuer(provider.issuer.as_str())
        .audience(API)
        .leeway(Duration::ZERO)
        .build()
        .expect("valid configuration");
    let app = router(validator.clone());
    // Keys first, so that the short-lived token is checked as soon as it is issued.
    validator.warm_up().await.expect("the provider's key set");

    let response = provider.token(SHORT_CLIENT, READ, Some(API)).await;
    assert_eq!(response["expires_in"], SHORT_ACCESS_TOKEN_TTL, "{response}");
    let token = response["access_token"].as_str().expect("access_token");
    let payload = segment_json(token, 1);
    let exp = payload["exp"].as_u64().expect("numeric exp");
    let iat = payload["iat"].as_u64().expect("numeric iat");
    assert_eq!(exp - iat, SHORT_ACCESS_TOKEN_TTL, "{payload}");
    assert_eq!(payload["client_id"], SHORT_CLIENT.0);

    let reply = send_token(&app, "/api/read", token).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "accepted before exp {exp}: {reply:?}"
    );
    assert_eq!(reply.body["client_id"], SHORT_CLIENT.0);

    // Sleep until just past `exp`.
    let expiry = UNIX_EPOCH + Duration::from_secs(exp) + Duration::from_millis(200);
    if let Ok(wait) = expiry.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    send_token(&app, "/api/read", token)
        .await
        .assert_invalid_token_for(TokenProblem::Expired);
    assert_eq!(
        validator.validate(token).await.err(),
        Some(AuthError::InvalidToken(TokenProblem::Expired))
    );
    // A fresh token from the same client is fine again.
    let fresh = provider.access_token(SHORT_CLIENT, READ).await;
    send_token(&app, "/api/read", &fresh).await.assert_ok();
    assert_eq!(validator.key_stats().jwks_fetches, 1);
    drop(provider);
    eprintln!("interop: expiry took {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------
// The "second shape": what Auth0-style issuers send and oidc-provider does not
// ---------------------------------------------------------------------------------------

/// No `kid` (one key in the set), `aud` as an array, scopes in `permissions` (and `scp`),
/// `typ: JWT`, `azp` instead of `client_id`: from the crate's own test issuer, since
/// oidc-provider always sets `kid`, `typ: at+jwt`, a string `aud` and `scope`.
#[tokio::test]
async fn second_shape_tokens_without_kid_with_array_aud_and_permissions() {
    let issuer = TestIssuer::start_with_key(SigningKey::generate_without_kid()).await;
    let all_claims = ScopeClaims::default().permissions(true);
    let validator = issuer
        .validator()
        .scope_claims(all_claims)
        .build()
        .expect("valid configuration");
    let app = router(validator.clone());

    let token = issuer
        .token()
        .audience(json!([OTHER_API, API]))
        .claim("azp", "auth0-style-client")
        .claim("permissions", json!([READ, WRITE]))
        .sign();
    let header = segment_json(&token, 0);
    assert_eq!(header["typ"], "JWT", "{header}");
    assert_eq!(header["alg"], "RS256", "{header}");
    assert!(header.get("kid").is_none(), "{header}");
    let payload = segment_json(&token, 1);
    assert!(payload.get("scope").is_none(), "{payload}");
    assert!(payload.get("client_id").is_none(), "{payload}");

    for path in ["/api/private", "/api/read", "/api/write", "/api/read-write"] {
        let reply = send_token(&app, path, &token).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {reply:?}");
        assert_eq!(reply.body["aud"], json!([OTHER_API, API]), "{path}");
        assert_eq!(reply.body["client_id"], "auth0-style-client", "{path}");
        assert_eq!(reply.body["iss"], issuer.issuer(), "{path}");
        assert_eq!(reply.body["scopes"], json!([READ, WRITE]), "{path}");
    }

    // `scp` as an array, `scope` as a string and `permissions` combine.
    let mixed = issuer
        .token()
        .audience(json!([API]))
        .scope(READ)
        .claim("scp", json!(["profile"]))
        .claim("permissions", json!([WRITE]))
        .sign();
    let reply = send_token(&app, "/api/read-write", &mixed).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["scopes"], json!(["profile", READ, WRITE]));
    // `scp` alone grants only what it names.
    let scp_only = issuer.token().claim("scp", json!([READ])).sign();
    assert_eq!(
        send_token(&app, "/api/read", &scp_only).await.status,
        StatusCode::OK
    );
    let reply = send_token(&app, "/api/write", &scp_only).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");

    // `aud` as an array without the API: refused.
    let elsewhere = issuer
        .token()
        .audience(json!([OTHER_API, "https://third.example.com"]))
        .claim("permissions", json!([READ]))
        .sign();
    send_token(&app, "/api/read", &elsewhere)
        .await
        .assert_invalid_token_for(TokenProblem::WrongAudience);

    // RFC 9068 strict mode refuses `typ: JWT`.
    let strict = issuer
        .validator()
        .scope_claims(all_claims)
        .rfc9068()
        .build()
        .expect("valid configuration");
    send_token(&router(strict), "/api/read", &token)
        .await
        .assert_invalid_token_for(TokenProblem::NotAnAccessToken);

    // With the default scope claims (`scope` and `scp`), `permissions` grants nothing.
    let default_scopes = router(issuer.validator().build().expect("valid configuration"));
    let reply = send_token(&default_scopes, "/api/private", &token).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["scopes"], json!([]));
    for path in ["/api/read", "/api/write"] {
        let reply = send_token(&default_scopes, path, &token).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}: {reply:?}");
    }
    assert_eq!(validator.key_stats().jwks_fetches, 1);
}

// ---------------------------------------------------------------------------------------
// Opaque tokens: introspection (RFC 7662, RFC 9701) and revocation (RFC 7009)
// ---------------------------------------------------------------------------------------

/// The provider's client whose tokens for the API are opaque, and the API's own
/// credentials for introspection (plain JSON answers, and RFC 9701 signed ones).
const OPAQUE_CLIENT: (&str, &str) = (
    "interop-opaque-client",
    "interop-opaque-client-secret-0123456789abcdef",
);
const API_CLIENT: (&str, &str) = ("interop-api", "interop-api-secret-0123456789abcdef");
const API_JWT_CLIENT: (&str, &str) = ("interop-api-jwt", "interop-api-jwt-secret-0123456789abcdef");

/// An opaque token from the provider is introspected and accepted with its claims (a JWT
/// beside it is still validated locally, without a call); a token the provider never issued
/// is refused; once the provider revokes the token (RFC 7009) it is refused as soon as the
/// cache time has passed. Signed introspection responses (RFC 9701) verify with the
/// provider's key set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_opaque_tokens_are_introspected_and_revocation_takes_effect() {
    let provider = Provider::start(&ProviderOptions::default());
    let cache_time = Duration::from_secs(1);
    let validator = Validator::builder()
        .issuer(provider.issuer.as_str())
        .audience(API)
        .introspection(API_CLIENT.0, API_CLIENT.1)
        .introspection_cache_ttl(cache_time)
        .mixed_mode()
        .build()
        .expect("valid configuration");
    let app = router(validator.clone());

    let response = provider.token(OPAQUE_CLIENT, READ, Some(API)).await;
    let opaque = response["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert!(!opaque.contains('.'), "an opaque token: {opaque:.8}...");
    let reply = send_token(&app, "/api/read", &opaque).await;
    let claims = reply.assert_ok();
    assert_eq!(claims["client_id"], OPAQUE_CLIENT.0);
    assert_eq!(claims["aud"], json!([API]));
    assert_eq!(claims["iss"], provider.issuer.as_str());
    assert_eq!(claims["scopes"], json!([READ]));
    send_token(&app, "/api/write", &opaque)
        .await
        .assert_insufficient_scope(WRITE);
    assert_eq!(validator.introspection_stats().calls, 1);

    // A JWT access token beside it: validated locally.
    let jwt = provider.access_token(CLIENT, READ).await;
    send_token(&app, "/api/read", &jwt).await.assert_ok();
    assert_eq!(validator.introspection_stats().calls, 1);

    // Never issued by the provider.
    let made_up = "kiJEft0wRmZ3FypMFYrJVugfOrE9p8yZvBdF-Eg3270";
    send_token(&app, "/api/private", made_up)
        .await
        .assert_invalid_token_for(TokenProblem::Inactive);
    assert_eq!(validator.introspection_stats().calls, 2);

    // Revoked at the provider by its client.
    assert_eq!(
        provider.revoke(OPAQUE_CLIENT, &opaque).await,
        StatusCode::OK
    );
    let mut last = None;
    let refused = common::eventually(Duration::from_secs(10), async || {
        let reply = send_token(&app, "/api/read", &opaque).await;
        let refused = reply.status == StatusCode::UNAUTHORIZED;
        if !refused {
            reply.assert_ok();
        }
        last = Some(reply);
        refused
    })
    .await;
    assert!(refused.is_some(), "the revoked token is never refused");
    last.expect("sent at least once")
        .assert_invalid_token_for(TokenProblem::Inactive);
    assert_eq!(validator.introspection_stats().calls, 3);

    // RFC 9701: the provider signs its answers to this client; introspection only.
    let signed = Validator::builder()
        .issuer(provider.issuer.as_str())
        .audience(API)
        .introspection(API_JWT_CLIENT.0, API_JWT_CLIENT.1)
        .introspection_signed_answers()
        .build()
        .expect("valid configuration");
    let fresh = provider.token(OPAQUE_CLIENT, READ, Some(API)).await;
    let fresh = fresh["access_token"].as_str().expect("access_token");
    let reply = send_token(&router(signed.clone()), "/api/read", fresh).await;
    assert_eq!(reply.assert_ok()["client_id"], OPAQUE_CLIENT.0);
    assert_eq!(signed.introspection_stats().calls, 1);
    assert_eq!(
        signed.key_stats().jwks_fetches,
        1,
        "the key set is fetched only to verify the signed response"
    );
}

// ---------------------------------------------------------------------------------------
// The router under test
// ---------------------------------------------------------------------------------------

/// `/api/private` needs a valid token; `/api/read`, `/api/write` and `/api/read-write` also
/// need those scopes. Every protected handler echoes the verified claims.
fn router(validator: Validator) -> Router {
    Router::new()
        .route(
            "/api/read",
            get(echo_claims).route_layer(RequireScopes::all([READ])),
        )
        .route(
            "/api/write",
            get(echo_claims).route_layer(RequireScopes::all([WRITE])),
        )
        .route(
            "/api/read-write",
            get(echo_claims).route_layer(RequireScopes::all([READ, WRITE])),
        )
        .route("/api/private", get(echo_claims))
        .layer(BearerLayer::new(validator))
}

/// The token with the first character of its signature changed.
fn flip_signature(token: &str) -> String {
    let (signing_input, signature) = token.rsplit_once('.').expect("a compact JWS");
    let mut chars: Vec<char> = signature.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    format!("{signing_input}.{}", chars.into_iter().collect::<String>())
}
