//! Interop: encrypted JWT access tokens from a real, independent authorization server
//! (oidc-provider, tests/interop/provider.mjs), decrypted and validated through a router.
//!
//! oidc-provider signs the token (RS256, `typ: at+jwt`) and encrypts it to the resource
//! server's public key (`RSA-OAEP-256`, `A256GCM`, `cty: at+jwt`, the key's `kid`), as its
//! `resourceIndicators.getResourceServerInfo` → `jwt.encrypt` setting does; the API holds the
//! private key as a JWK set.

use crate::common;

use axum::Router;
use axum::routing::get;
use bearer_guard::error::TokenProblem;
use bearer_guard::testing::DecryptionKeyPair;
use bearer_guard::{BearerLayer, RequireScopes, Validator};
use common::oidc_provider::{CLIENT, ENCRYPTED_API, Provider, ProviderOptions, READ, WRITE};
use common::{echo_claims, segment_json, send_token};
use http::StatusCode;
use serde_json::json;

fn router(validator: Validator) -> Router {
    Router::new()
        .route(
            "/api/read",
            get(echo_claims).route_layer(RequireScopes::all([READ])),
        )
        .layer(BearerLayer::new(validator))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_encrypted_tokens_are_decrypted_and_pass_the_layer() {
    let pair = DecryptionKeyPair::generate("api-enc-1");
    let provider = Provider::start(&ProviderOptions {
        encryption_jwk: Some(pair.public_jwk()),
        ..ProviderOptions::default()
    });
    let response = provider.token(CLIENT, READ, Some(ENCRYPTED_API)).await;
    let token = response["access_token"].as_str().expect("access_token");

    // What the provider issues: a compact JWE around its signed access token.
    assert_eq!(token.split('.').count(), 5, "{token}");
    let header = segment_json(token, 0);
    assert_eq!(header["alg"], "RSA-OAEP-256", "{header}");
    assert_eq!(header["enc"], "A256GCM", "{header}");
    assert_eq!(header["cty"], "at+jwt", "{header}");
    assert_eq!(header["kid"], "api-enc-1", "{header}");

    let keys = json!({ "keys": [pair.private_jwk()] }).to_string();
    let validator = Validator::builder()
        .issuer(provider.issuer.as_str())
        .audience(ENCRYPTED_API)
        .rfc9068()
        .decryption_keys_jwk_set(keys)
        .build()
        .expect("valid configuration");
    let app = router(validator.clone());
    let reply = send_token(&app, "/api/read", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    assert_eq!(reply.body["iss"], provider.issuer.as_str(), "{reply:#?}");
    assert_eq!(reply.body["aud"], json!([ENCRYPTED_API]), "{reply:#?}");
    assert_eq!(reply.body["client_id"], CLIENT.0, "{reply:#?}");
    // Again: from the verified-token cache this time, same answer.
    let again = send_token(&app, "/api/read", token).await;
    assert_eq!(again.status, StatusCode::OK, "{again:#?}");

    // Its scopes are enforced as for a plain token.
    let writer = provider.token(CLIENT, WRITE, Some(ENCRYPTED_API)).await;
    let writer = writer["access_token"].as_str().expect("access_token");
    let reply = send_token(&app, "/api/read", writer).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:#?}");

    // Without the key, the same token is refused as any encrypted token.
    let without = Validator::builder()
        .issuer(provider.issuer.as_str())
        .audience(ENCRYPTED_API)
        .build()
        .expect("valid configuration");
    let reply = send_token(&router(without), "/api/read", token).await;
    reply.assert_invalid_token_for(TokenProblem::Encrypted);
    // With another key under the same kid, it cannot be decrypted.
    let stranger = DecryptionKeyPair::generate("api-enc-1");
    let wrong = Validator::builder()
        .issuer(provider.issuer.as_str())
        .audience(ENCRYPTED_API)
        .decryption_keys_jwk_set(json!({ "keys": [stranger.private_jwk()] }).to_string())
        .build()
        .expect("valid configuration");
    let reply = send_token(&router(wrong), "/api/read", token).await;
    reply.assert_invalid_token_for(TokenProblem::Undecryptable);
}
