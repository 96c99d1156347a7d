//! The verified-token cache: only valid tokens enter (the second time they verify), hits are
//! rechecked against the clock and the key set, and the cache is bounded.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use bearer_guard::testing::TestIssuer;
use bearer_guard::{AuthError, error::TokenProblem};

#[tokio::test]
async fn only_valid_tokens_enter_the_cache() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().build().unwrap();
    let token = issuer.token().sign();
    validator.validate(&token).await.unwrap();
    assert_eq!(
        validator.cached_tokens(),
        0,
        "a token seen once does not enter"
    );
    validator.validate(&token).await.unwrap();
    assert_eq!(validator.cached_tokens(), 1);
    validator.validate(&token).await.unwrap();
    assert_eq!(validator.cached_tokens(), 1);
    let wrong_audience = issuer.token().audience("https://other.example").sign();
    assert!(validator.validate(&wrong_audience).await.is_err());
    assert_eq!(validator.cached_tokens(), 1);
}

#[tokio::test]
async fn a_cached_token_still_expires() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().leeway(Duration::ZERO).build().unwrap();
    let token = issuer.token().expires_in_secs(2).sign();
    for _ in 0..2 {
        validator
            .validate(&token)
            .await
            .expect("valid for two seconds");
    }
    assert_eq!(validator.cached_tokens(), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        validator.validate(&token).await.err(),
        Some(AuthError::InvalidToken(TokenProblem::Expired))
    );
}

#[tokio::test]
async fn a_cached_token_whose_key_left_the_key_set_is_not_served() {
    let issuer = TestIssuer::start().await;
    let old = issuer.token().sign();
    issuer.rotate("key-2");
    let validator = issuer
        .validator()
        .jwks_ttl(Duration::from_millis(150))
        .build()
        .unwrap();
    for _ in 0..2 {
        validator.validate(&old).await.expect("both keys published");
    }
    assert_eq!(validator.cached_tokens(), 1);
    issuer.retire("key-1");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        validator.validate(&old).await.err(),
        Some(AuthError::InvalidToken(TokenProblem::UnknownKey))
    );
}

#[tokio::test]
async fn the_cache_is_bounded_and_can_be_turned_off() {
    let issuer = TestIssuer::start().await;
    let budget = 16 * 1024;
    let bounded = issuer
        .validator()
        .token_cache_bytes(budget)
        .build()
        .unwrap();
    let off = issuer.validator().token_cache_bytes(0).build().unwrap();
    for i in 0..100 {
        let token = issuer.token().claim("jti", i).sign();
        for _ in 0..2 {
            bounded.validate(&token).await.unwrap();
            off.validate(&token).await.unwrap();
        }
    }
    // Each of these tokens weighs 1-3 KiB: a handful fit the budget, never all 100.
    let held = bounded.cached_tokens();
    assert!((1..=16).contains(&held), "{held}");
    let weight = bounded.cached_token_bytes();
    assert!(weight > 0 && weight <= budget, "{weight}");
    assert_eq!(off.cached_tokens(), 0);
}

/// The cache finds an entry by the token's length and last bytes (its signature's end), then
/// compares the whole token: a token that shares a cached token's length and tail but not
/// its claims is verified in full, and refused.
#[tokio::test]
async fn a_token_sharing_a_cached_tokens_tail_is_verified_in_full() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().build().unwrap();
    let token = issuer.token().claim("sub", "alice").sign();
    for _ in 0..2 {
        validator.validate(&token).await.expect("valid token");
    }
    assert_eq!(validator.cached_tokens(), 1);
    // The same length and signature, one claim changed: `alice` -> `mallo` in the payload.
    let (header, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let forged_claims = claims.replace("\"alice\"", "\"mallo\"");
    assert_ne!(claims, forged_claims);
    let forged = format!(
        "{header}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(forged_claims)
    );
    assert_eq!(forged.len(), token.len());
    assert_eq!(
        validator.validate(&forged).await.err(),
        Some(AuthError::InvalidToken(TokenProblem::InvalidSignature))
    );
    let claims = validator.validate(&token).await.expect("still cached");
    assert_eq!(claims.subject(), Some("alice"));
}
