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

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use bearer_guard::testing::{SigningKey, TestIssuer};
use bearer_guard::{
    AuthError, BearerLayer, ClaimRule, RequireScopes, Validator, error::TokenProblem,
    scope::ScopeClaims,
};
use common::{echo_claims, segment_json, send, send_token};
use http::{StatusCode, header};
use serde_json::{Value, json};

/// The API identifier: the audience the provider puts in tokens for the default resource.
const API: &str = "https://api.example.com";
/// A second resource server of the provider, for wrong-audience tokens.
const OTHER_API: &str = "https://other.example.com";
const READ: &str = "read:messages";
const WRITE: &str = "write:messages";

/// The provider's clients (see provider.mjs): tokens live `ACCESS_TOKEN_TTL` seconds, those
/// of the short-lived client `SHORT_ACCESS_TOKEN_TTL`.
const CLIENT: (&str, &str) = ("interop-client", "interop-client-secret-0123456789abcdef");
const SHORT_CLIENT: (&str, &str) = (
    "interop-short-client",
    "interop-short-client-secret-0123456789abcdef",
);
const ACCESS_TOKEN_TTL: u64 = 300;
const SHORT_ACCESS_TOKEN_TTL: u64 = 2;

/// How long the provider may take to start (Node start-up plus RSA key generation).
const START_TIMEOUT: Duration = Duration::from_secs(30);

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
        .refetch_cooldown(Duration::ZERO)
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
    send_token(&app, "/api/read", &fresh_token)
        .await
        .assert_ok();
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
    let metadata = provider.discovery().await;
    let revocation = metadata["revocation_endpoint"]
        .as_str()
        .expect("revocation_endpoint");
    let revoked = provider
        .http
        .post(revocation)
        .basic_auth(OPAQUE_CLIENT.0, Some(OPAQUE_CLIENT.1))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={opaque}&token_type_hint=access_token"))
        .send()
        .await
        .expect("POST to the revocation endpoint");
    assert_eq!(revoked.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let reply = send_token(&app, "/api/read", &opaque).await;
        if reply.status == StatusCode::UNAUTHORIZED {
            break reply;
        }
        reply.assert_ok();
        assert!(
            Instant::now() < deadline,
            "the revoked token is never refused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    refused.assert_invalid_token_for(TokenProblem::Inactive);
    assert_eq!(validator.introspection_stats().calls, 3);

    // RFC 9701: the provider signs its answers to this client; introspection only.
    let signed = Validator::builder()
        .issuer(provider.issuer.as_str())
        .audience(API)
        .introspection(API_JWT_CLIENT.0, API_JWT_CLIENT.1)
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

// ---------------------------------------------------------------------------------------
// The oidc-provider child process
// ---------------------------------------------------------------------------------------

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// How to start provider.mjs (see its header comment for the options).
#[derive(Clone, Debug, Default)]
struct ProviderOptions {
    /// 0: any free port.
    port: u16,
    keys_file: Option<PathBuf>,
    fresh_keys: bool,
    key_set: Option<String>,
    /// A kid, or a 1-based index.
    signing_key: Option<String>,
}

/// What provider.mjs prints once it listens.
#[derive(serde::Deserialize)]
struct Started {
    issuer: String,
    port: u16,
    kids: Vec<String>,
    signing_kid: String,
}

/// A running provider.mjs. Dropping it kills the process and waits for it, whatever path
/// the test takes (the process also exits by itself when its stdin closes, should this
/// test process die without unwinding).
struct Provider {
    child: Child,
    /// Held open: provider.mjs runs with `--exit-with-stdin`.
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
    issuer: String,
    port: u16,
    kids: Vec<String>,
    signing_kid: String,
    http: reqwest::Client,
}

impl Provider {
    /// Starts provider.mjs and waits until it listens (installing the npm packages first
    /// if needed). Panics with the provider's stderr if it does not start.
    fn start(options: &ProviderOptions) -> Provider {
        ensure_node_modules();
        // A fixed port (a restart) may still be held by the previous process for a moment:
        // retried for a few seconds.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match Self::try_start(options) {
                Ok(provider) => return provider,
                Err(error)
                    if options.port != 0
                        && error.contains("cannot listen")
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => panic!("the oidc-provider interop server did not start: {error}"),
            }
        }
    }

    fn try_start(options: &ProviderOptions) -> Result<Provider, String> {
        let mut command = Command::new("node");
        command
            .current_dir(interop_dir())
            .arg("provider.mjs")
            .args(["--port", &options.port.to_string(), "--exit-with-stdin"])
            .env("ACCESS_TOKEN_TTL", ACCESS_TOKEN_TTL.to_string())
            .env("SHORT_ACCESS_TOKEN_TTL", SHORT_ACCESS_TOKEN_TTL.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(file) = &options.keys_file {
            command.arg("--keys-file").arg(file);
        }
        if options.fresh_keys {
            command.arg("--fresh-keys");
        }
        if let Some(label) = &options.key_set {
            command.args(["--key-set", label]);
        }
        if let Some(key) = &options.signing_key {
            command.args(["--signing-key", key]);
        }
        let mut child = command.spawn().map_err(|error| {
            format!("cannot run `node` ({error}); the interop test needs Node.js >= 20 on PATH")
        })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        // From here on the guard owns the process: every return path kills it.
        let mut guard = ChildGuard(Some(child));

        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr_pipe);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock().expect("stderr log").push_str(&line);
                line.clear();
            }
        });
        let (lines, first_line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            if reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let _ = lines.send(line);
            }
            // Drain whatever else comes, so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });

        let line = match first_line.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(error) => {
                let what = match error {
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("printed no start-up line within {START_TIMEOUT:?}")
                    }
                    mpsc::RecvTimeoutError::Disconnected => {
                        "exited before printing its start-up line".to_owned()
                    }
                };
                let status = guard.stop();
                // The child is gone: its stderr is at its end.
                let _ = stderr_reader.join();
                return Err(format!(
                    "provider.mjs {what} (exit status: {status:?}); its stderr:\n{}",
                    stderr.lock().expect("stderr log")
                ));
            }
        };
        let started: Started = serde_json::from_str(&line)
            .map_err(|error| format!("unexpected start-up line {line:?}: {error}"))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client");
        let child = guard.0.take().expect("the child");
        Ok(Provider {
            child,
            stdin,
            stderr,
            issuer: started.issuer,
            port: started.port,
            kids: started.kids,
            signing_kid: started.signing_kid,
            http,
        })
    }

    /// Stops this provider and starts another with `options` (same port for the same
    /// issuer URL: pass `port: self.port`).
    fn restart(self, options: &ProviderOptions) -> Provider {
        drop(self);
        Provider::start(options)
    }

    async fn get_json(&self, url: &str) -> Value {
        let response = self.http.get(url).send().await.expect("GET");
        assert!(response.status().is_success(), "GET {url}: {response:?}");
        let bytes = response.bytes().await.expect("body");
        serde_json::from_slice(&bytes).expect("a JSON document")
    }

    /// The provider's OIDC discovery document.
    async fn discovery(&self) -> Value {
        self.get_json(&format!("{}/.well-known/openid-configuration", self.issuer))
            .await
    }

    /// The kids of the published key set, in order.
    async fn jwks_kids(&self) -> Vec<String> {
        let metadata = self.discovery().await;
        let jwks = self
            .get_json(metadata["jwks_uri"].as_str().expect("jwks_uri"))
            .await;
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|key| key["kid"].as_str().expect("kid").to_owned())
            .collect()
    }

    /// The token endpoint's JSON answer to a client credentials grant, with HTTP Basic
    /// client authentication (`client_secret_basic`). Panics unless it is a 200.
    async fn token(&self, client: (&str, &str), scope: &str, resource: Option<&str>) -> Value {
        let metadata = self.discovery().await;
        let endpoint = metadata["token_endpoint"].as_str().expect("token_endpoint");
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        form.append_pair("scope", scope);
        if let Some(resource) = resource {
            form.append_pair("resource", resource);
        }
        let response = self
            .http
            .post(endpoint)
            .basic_auth(client.0, Some(client.1))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(form.finish())
            .send()
            .await
            .expect("POST to the token endpoint");
        let status = response.status();
        let bytes = response.bytes().await.expect("token response body");
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        assert_eq!(status, StatusCode::OK, "token endpoint: {body}");
        body
    }

    /// An access token for the API.
    async fn access_token(&self, client: (&str, &str), scope: &str) -> String {
        let response = self.token(client, scope, Some(API)).await;
        response["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "interop: oidc-provider stderr:\n{}",
                self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
            );
        }
    }
}

/// Kills and reaps a child process that has not been handed over yet.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.0.take()?;
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A directory under the target's tmp dir, removed when dropped.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn new(name: &str) -> ScratchDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("interop-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create a scratch directory");
        ScratchDir { path }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------
// Node and the npm packages
// ---------------------------------------------------------------------------------------

/// Checks Node.js and npm, and runs `npm ci` in tests/interop when the installed
/// oidc-provider is missing or is not the locked version. Once per test process; every
/// test fails with the same message when this fails.
fn ensure_node_modules() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(message) = READY.get_or_init(install) {
        panic!("{message}");
    }
}

fn install() -> Result<(), String> {
    const HOW: &str = "the interop test (tests/interop.rs) runs a real oidc-provider and \
                       needs Node.js >= 20 and npm on PATH";
    let version = run_tool("node", &["--version"], HOW)?;
    let major: u32 = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .ok_or_else(|| format!("unexpected `node --version` output {version:?}"))?;
    if major < 20 {
        return Err(format!("{HOW}; found Node.js {}", version.trim()));
    }
    let dir = interop_dir();
    let read_json = |path: PathBuf| -> Option<Value> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    };
    let lock = read_json(dir.join("package-lock.json"))
        .ok_or("tests/interop/package-lock.json is missing or unreadable")?;
    let locked = lock["packages"]["node_modules/oidc-provider"]["version"].clone();
    let installed = read_json(dir.join("node_modules/oidc-provider/package.json"))
        .map(|manifest| manifest["version"].clone());
    if installed.as_ref() == Some(&locked) {
        return Ok(());
    }
    eprintln!("interop: running `npm ci` in {}", dir.display());
    let started = Instant::now();
    run_tool(
        "npm",
        &[
            "ci",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--loglevel=error",
        ],
        HOW,
    )?;
    eprintln!("interop: `npm ci` took {:?}", started.elapsed());
    Ok(())
}

/// Runs a tool in tests/interop; its stdout, or an error naming what is missing.
fn run_tool(program: &str, args: &[&str], how: &str) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(interop_dir())
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("{how}; cannot run `{program}`: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{program} {}` failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
