//! Secret mode: HS256 tokens verified with the API's shared signing secret, through the
//! quickstart router. No key set, so no network at all.

use crate::common;

use bearer_guard::testing::{DEFAULT_AUDIENCE, SigningKey, TokenBuilder};
use bearer_guard::{Validator, ValidatorBuilder};
use common::{PRIVATE, SCOPE, SCOPED, send_token};
use serde_json::json;

const ISSUER: &str = "https://tenant.example.com/";
/// 40 bytes, as a signing secret is shown in the Auth0 dashboard.
const SECRET: &str = "k7Qm2Zp9Xw4Lr8Tn1Vb6Hc3Jd5Fg0Sa2Ye7Ui9Oo";

fn builder() -> ValidatorBuilder {
    Validator::builder()
        .issuer(ISSUER)
        .audience(DEFAULT_AUDIENCE)
}

fn app_with(builder: ValidatorBuilder) -> (Validator, axum::Router) {
    let validator = builder.build().expect("valid configuration");
    (validator.clone(), common::app(validator))
}

/// An HS256 token with the claims a client-credentials token carries.
fn token(secret: impl Into<Vec<u8>>) -> TokenBuilder {
    TokenBuilder::hs256(secret)
        .issuer(ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .claim("sub", "m2m-client@clients")
        .claim("iat", common::now())
        .expires_in_secs(3600)
}

#[tokio::test]
async fn a_token_macd_with_the_secret_is_accepted() {
    let (validator, app) = app_with(builder().hs256_secret(SECRET));
    let scoped = token(SECRET).scope(SCOPE).claim("azp", "m2m-client").sign();
    let reply = send_token(&app, SCOPED, &scoped).await;
    let body = reply.assert_ok();
    assert_eq!(body["iss"], ISSUER);
    assert_eq!(body["sub"], "m2m-client@clients");
    assert_eq!(body["aud"], json!([DEFAULT_AUDIENCE]));
    assert_eq!(body["client_id"], "m2m-client");
    assert_eq!(body["scopes"], json!([SCOPE]));

    let unscoped = token(SECRET).sign();
    send_token(&app, PRIVATE, &unscoped).await.assert_ok();
    send_token(&app, SCOPED, &unscoped)
        .await
        .assert_insufficient_scope(SCOPE);

    let stats = validator.key_stats();
    assert_eq!(
        (stats.discovery_fetches, stats.jwks_fetches),
        (0, 0),
        "{stats:?}"
    );
}

#[tokio::test]
async fn a_kid_header_does_not_matter_with_a_single_secret() {
    let (_, app) = app_with(builder().hs256_secret(SECRET));
    let with_kid = token(SECRET).header("kid", "whatever").sign();
    send_token(&app, PRIVATE, &with_kid).await.assert_ok();
}

#[tokio::test]
async fn a_token_macd_with_another_secret_is_rejected() {
    let (_, app) = app_with(builder().hs256_secret(SECRET));
    let mut one_byte_off = SECRET.as_bytes().to_vec();
    one_byte_off[0] ^= 1;
    let prefix = &SECRET.as_bytes()[..32];
    let longer = format!("{SECRET}x");
    for secret in [
        one_byte_off,
        prefix.to_vec(),
        longer.into_bytes(),
        Vec::new(),
    ] {
        let forged = token(secret).scope(SCOPE).sign();
        send_token(&app, SCOPED, &forged)
            .await
            .assert_invalid_token();
    }
}

#[tokio::test]
async fn rs256_tokens_are_rejected_in_secret_mode() {
    let (_, app) = app_with(builder().hs256_secret(SECRET));
    let rs256 = TokenBuilder::rs256(&SigningKey::generate("key-1"))
        .issuer(ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .expires_in_secs(3600)
        .scope(SCOPE)
        .sign();
    send_token(&app, SCOPED, &rs256)
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn only_hs256_is_accepted_by_default() {
    let (_, app) = app_with(builder().hs256_secret(SECRET));
    for alg in ["HS384", "HS512", "hs256", "none", "None", "RS256"] {
        let relabelled = token(SECRET).header("alg", alg).sign();
        let reply = send_token(&app, PRIVATE, &relabelled).await;
        assert_eq!(reply.status, 401, "alg {alg}");
        reply.assert_invalid_token();
    }
}

#[tokio::test]
async fn the_claim_rules_apply_in_secret_mode_too() {
    let (_, app) = app_with(builder().hs256_secret(SECRET));
    let faults = [
        token(SECRET)
            .issuer("https://other-tenant.example.com/")
            .sign(),
        token(SECRET).issuer("https://tenant.example.com").sign(),
        token(SECRET).without_claim("iss").sign(),
        token(SECRET)
            .audience("https://other-api.example.com")
            .sign(),
        token(SECRET).without_claim("aud").sign(),
        token(SECRET).expires_in_secs(-120).sign(),
        token(SECRET).without_claim("exp").sign(),
        token(SECRET).not_before_in_secs(3600).sign(),
        token(SECRET).header("crit", json!(["exp"])).sign(),
    ];
    for forged in faults {
        send_token(&app, PRIVATE, &forged)
            .await
            .assert_invalid_token();
    }
    let within_leeway = token(SECRET).expires_in_secs(-30).sign();
    send_token(&app, PRIVATE, &within_leeway).await.assert_ok();
}

/// A secret that happens to be valid base64: the bytes of the string are the secret, unless
/// the configuration says it is encoded.
const BASE64_LOOKING: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA";
const DECODED: &[u8] = b"secret-secret-secret-secret-secret";

#[tokio::test]
async fn the_secret_is_the_raw_bytes_of_the_string() {
    let (_, app) = app_with(builder().hs256_secret(BASE64_LOOKING));
    send_token(&app, PRIVATE, &token(BASE64_LOOKING).sign())
        .await
        .assert_ok();
    send_token(&app, PRIVATE, &token(DECODED).sign())
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn a_base64_secret_is_decoded_when_configured_so() {
    let (_, app) = app_with(builder().hs256_secret_base64(BASE64_LOOKING));
    send_token(&app, PRIVATE, &token(DECODED).sign())
        .await
        .assert_ok();
    send_token(&app, PRIVATE, &token(BASE64_LOOKING).sign())
        .await
        .assert_invalid_token();
}
