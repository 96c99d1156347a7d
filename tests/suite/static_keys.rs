//! The static key source: a JWK set document or PEM public keys given at build time, checked
//! by the same key policy as a fetched key set, and never a request to the issuer.

use crate::common;

use base64::Engine;
use bearer_guard::ValidatorBuilder;
use bearer_guard::config::ConfigProblem;
use bearer_guard::testing::{SigningKey, TestIssuer};
use common::{Fixture, PRIVATE, SCOPE, SCOPED};
use serde_json::json;

/// The PEM `PUBLIC KEY` block of `key`.
fn pem(key: &SigningKey) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(key.public_key_spki_der());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

fn problems(builder: ValidatorBuilder) -> Vec<ConfigProblem> {
    builder.build().unwrap_err().problems().to_vec()
}

#[tokio::test]
async fn a_static_jwk_set_verifies_tokens_without_any_request() {
    let issuer = TestIssuer::start().await;
    let document = json!({ "keys": [issuer.signing_key().jwk()] }).to_string();
    let fixture = Fixture::with_issuer(issuer, |builder| builder.static_key_set(document));
    // The issuer is gone: nothing is ever fetched.
    fixture.issuer.stop();
    assert!(fixture.validator.is_ready());
    let token = fixture.issuer.token().scope(SCOPE).sign();
    fixture.send(SCOPED, &token).await.assert_ok();
    // A key that is not in the set is refused at once (nothing to refetch).
    let stranger = SigningKey::generate("key-9");
    let forged = fixture.issuer.token().signed_by(&stranger).sign();
    fixture.send(PRIVATE, &forged).await.assert_invalid_token();
    fixture.assert_fetches(0, 0);
}

#[tokio::test]
async fn pem_public_keys_with_their_kid_verify_tokens() {
    let issuer = TestIssuer::start().await;
    let second = SigningKey::generate("key-2");
    let (first_pem, second_pem) = (pem(&issuer.signing_key()), pem(&second));
    let fixture = Fixture::with_issuer(issuer, |builder| {
        builder
            .static_public_key_pem("key-1", first_pem)
            .static_public_key_pem("key-2", second_pem)
    });
    fixture
        .send(PRIVATE, &fixture.issuer.token().sign())
        .await
        .assert_ok();
    let by_second = fixture
        .issuer
        .token()
        .signed_by(&second)
        .header("kid", "key-2")
        .sign();
    fixture.send(PRIVATE, &by_second).await.assert_ok();
    fixture.assert_fetches(0, 0);
}

#[tokio::test]
async fn bad_static_keys_are_configuration_problems() {
    let issuer = TestIssuer::start().await;
    let base = || issuer.validator();
    let is_static_problem =
        |found: Vec<ConfigProblem>| matches!(found.as_slice(), [ConfigProblem::StaticKeys(_)]);
    assert!(is_static_problem(problems(
        base().static_key_set("not json")
    )));
    assert!(is_static_problem(problems(
        base().static_key_set(json!({"keys": []}).to_string())
    )));
    assert!(is_static_problem(problems(base().static_public_key_pem(
        "k",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
    ))));
    let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
    assert!(is_static_problem(problems(
        base().static_public_key_pem("k", private)
    )));
    // The key policy: a secret in a key set is never a verification key.
    let secret = json!({"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]});
    assert!(is_static_problem(problems(
        base().static_key_set(secret.to_string())
    )));
    // The policy names the key that fails it.
    let mut pinned = issuer.signing_key().jwk();
    pinned["alg"] = json!("ES256");
    let found = problems(base().static_key_set(json!({ "keys": [pinned] }).to_string()));
    assert!(is_static_problem(found.clone()), "{found:?}");
    // Two key sources.
    let jwks_uri = issuer.jwks_uri();
    let document = json!({ "keys": [issuer.signing_key().jwk()] }).to_string();
    assert_eq!(
        problems(base().jwks_uri(jwks_uri).static_key_set(document.clone())),
        [ConfigProblem::SecretAndKeySet]
    );
    assert_eq!(
        problems(base().static_key_set(document).hs256_secret([7u8; 32])),
        [ConfigProblem::SecretAndKeySet]
    );
}

#[tokio::test]
async fn static_keys_with_introspection_are_mixed_mode() {
    let issuer = TestIssuer::start().await;
    issuer.register_client("api", "api-secret");
    let document = json!({ "keys": [issuer.signing_key().jwk()] }).to_string();
    let fixture = Fixture::with_issuer(issuer, |builder| {
        builder
            .static_key_set(document)
            .introspection("api", "api-secret")
    });
    fixture
        .send(PRIVATE, &fixture.issuer.token().sign())
        .await
        .assert_ok();
    assert_eq!(fixture.issuer.introspection_requests(), 0);
    let opaque = fixture.issuer.opaque_token().issue();
    fixture.send(PRIVATE, &opaque).await.assert_ok();
    assert_eq!(fixture.issuer.introspection_requests(), 1);
    assert_eq!(fixture.issuer.jwks_fetches(), 0);
}
