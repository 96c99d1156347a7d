//! Encrypted access tokens in the rest of the pipeline: the verified-token cache (keyed by the
//! encrypted token), validators without decryption keys, introspection beside decryption,
//! and what never leaves the process (the token inside, the key).

use std::time::Duration;

use crate::common;

use bearer_guard::error::TokenProblem;
use bearer_guard::jwe::{ContentEncryption, KeyEncryption};
use bearer_guard::testing::{DecryptionKeyPair, TestIssuer};
use bearer_guard::{AuthError, ValidatorBuilder};
use common::{Fixture, PRIVATE, SCOPE, SCOPED};

const OAEP256: KeyEncryption = KeyEncryption::RsaOaep256;
const A256: ContentEncryption = ContentEncryption::A256Gcm;

/// A fixture whose validator decrypts with `pair` (PEM, by its `kid`).
async fn decrypting(pair: &DecryptionKeyPair) -> Fixture {
    let (kid, pem) = (pair.kid().to_owned(), pair.private_key_pem());
    Fixture::start_with(|builder| builder.decryption_key_pem_with_kid(kid, pem)).await
}

#[tokio::test]
async fn the_cache_keeps_the_encrypted_token_and_a_hit_still_expires() {
    let pair = DecryptionKeyPair::generate("enc-1");
    let issuer = TestIssuer::start().await;
    let validator = issuer
        .validator()
        .leeway(Duration::ZERO)
        .decryption_key_pem_with_kid("enc-1", pair.private_key_pem())
        .build()
        .unwrap();
    let inner = issuer.token().expires_in_secs(2);
    let token = inner
        .clone()
        .encrypt_to(&pair.encryption_key(), OAEP256, A256)
        .sign();
    for _ in 0..3 {
        validator
            .validate(&token)
            .await
            .expect("valid for two seconds");
    }
    assert_eq!(
        validator.cached_tokens(),
        1,
        "the second sight enters the cache"
    );
    // The same signed token encrypted again is another entry: the cache is keyed by the
    // token as presented, so a hit skips the decryption.
    let again = inner
        .clone()
        .encrypt_to(&pair.encryption_key(), OAEP256, A256)
        .sign();
    for _ in 0..2 {
        validator.validate(&again).await.unwrap();
    }
    assert_eq!(validator.cached_tokens(), 2);
    // The inner token shown plain is another cache key: it is not a hit but a new entry
    // (a token seen once does not enter).
    validator.validate(&inner.sign()).await.unwrap();
    assert_eq!(validator.cached_tokens(), 2);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        validator.validate(&token).await.err(),
        Some(AuthError::InvalidToken(TokenProblem::Expired))
    );
}

#[tokio::test]
async fn without_decryption_keys_an_encrypted_token_is_refused_as_before() {
    let pair = DecryptionKeyPair::generate("enc-1");
    let fixture = Fixture::start().await;
    let token = fixture
        .token()
        .encrypt_to(&pair.encryption_key(), OAEP256, A256)
        .sign();
    fixture
        .send(PRIVATE, &token)
        .await
        .assert_invalid_token_for(TokenProblem::Encrypted);
}

#[tokio::test(flavor = "current_thread")]
async fn neither_the_token_inside_nor_the_key_shows_in_answers_or_logs() {
    let pair = DecryptionKeyPair::generate("enc-1");
    let fixture = decrypting(&pair).await;
    let logs = common::Logs::capture();
    let key = pair.encryption_key();
    let mut secrets: Vec<String> = Vec::new();
    for builder in [
        fixture.token(),
        fixture.token().audience("https://other.example"),
        fixture.token().expires_in_secs(-600),
        fixture.token().unsigned_inside(),
    ] {
        let inner = builder.clone().sign();
        let token = builder.encrypt_to(&key, OAEP256, A256).sign();
        let reply = fixture.send(PRIVATE, &token).await;
        common::assert_no_echo(format!("Bearer {token}").as_bytes(), &reply);
        // The inner token's signature (and its claims segment) never leaves.
        for part in inner.split('.').skip(1) {
            assert!(
                !String::from_utf8_lossy(&reply.raw_body).contains(part),
                "{reply:#?}"
            );
            secrets.push(part.to_owned());
        }
        secrets.push(token);
    }
    let private = pair.private_jwk();
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        secrets.push(private[member].as_str().unwrap()[..32].to_owned());
    }
    let pem = pair.private_key_pem();
    secrets.extend(pem.lines().skip(2).take(3).map(str::to_owned));
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    logs.assert_never_shows(&refs);
    let problems = ValidatorBuilder::default()
        .issuer("https://issuer.example/")
        .audience("api")
        .decryption_key_pem(pem.replace("MII", "MIJ"))
        .build()
        .unwrap_err()
        .to_string();
    for secret in &refs {
        assert!(!problems.contains(secret), "{problems}");
    }
}

#[tokio::test]
async fn with_introspection_an_encrypted_token_is_decrypted_here_not_sent_to_the_issuer() {
    let pair = DecryptionKeyPair::generate("enc-1");
    let issuer = TestIssuer::start().await;
    issuer.register_client("api", "api-secret-0123456789");
    let (kid, pem) = (pair.kid().to_owned(), pair.private_key_pem());
    let fixture = Fixture::with_issuer(issuer, |builder| {
        builder
            .introspection("api", "api-secret-0123456789")
            .mixed_mode()
            .decryption_key_pem_with_kid(kid, pem)
    });
    let token = fixture
        .token()
        .encrypt_to(&pair.encryption_key(), OAEP256, A256)
        .sign();
    fixture.send(SCOPED, &token).await.assert_ok();
    let stranger = DecryptionKeyPair::generate("enc-1").encryption_key();
    let undecryptable = fixture.token().encrypt_to(&stranger, OAEP256, A256).sign();
    fixture
        .send(SCOPED, &undecryptable)
        .await
        .assert_invalid_token_for(TokenProblem::Undecryptable);
    assert_eq!(fixture.issuer.introspection_requests(), 0);
    // Opaque tokens are still introspected.
    let opaque = fixture.issuer.opaque_token().scope(SCOPE).issue();
    fixture.send(SCOPED, &opaque).await.assert_ok();
    assert_eq!(fixture.issuer.introspection_requests(), 1);
}
