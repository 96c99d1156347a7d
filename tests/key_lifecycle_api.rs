//! Issue 10, item 5: the checks that name API added by the fix (`ConfigProblem::
//! DurationTooLong`, `KeyFetchError::CrossOriginRedirect`, `token_cache_bytes` and
//! `cached_token_bytes`). The behaviour itself is also checked with today's API in
//! `tests/key_lifecycle.rs`; this file pins the exact problems and the byte-bounded cache.

mod common;

use std::time::Duration;

use bearer_guard::testing::{Endpoint, Fault, SigningKey, TestIssuer};
use bearer_guard::{ConfigProblem, KeyFetchError, Validator};
use common::{Fixture, PRIVATE};

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_duration_setting_over_its_bound_is_reported_as_duration_too_long() {
    let base = || {
        Validator::builder()
            .issuer("https://issuer.example/")
            .audience("https://api.example.com")
    };
    let cases = [
        ("jwks_ttl", WEEK, base().jwks_ttl(Duration::MAX)),
        (
            "jwks_ttl_bounds",
            WEEK,
            base().jwks_ttl_bounds(MINUTE, WEEK + Duration::from_secs(1)),
        ),
        ("stale_if_error", WEEK, base().stale_if_error(Duration::MAX)),
        ("refetch_cooldown", HOUR, base().refetch_cooldown(2 * HOUR)),
        (
            "fetch_timeout",
            Duration::from_secs(60),
            base().fetch_timeout(Duration::MAX),
        ),
    ];
    for (setting, max, builder) in cases {
        let error = match builder.build() {
            Ok(_) => panic!("{setting} over {max:?} was accepted"),
            Err(error) => error,
        };
        assert_eq!(
            error.problems(),
            [ConfigProblem::DurationTooLong { setting, max }],
            "{error}"
        );
        assert!(error.to_string().contains(setting), "{error}");
    }
}

#[tokio::test]
async fn a_redirect_to_another_origin_through_a_custom_client_is_a_cross_origin_redirect() {
    let issuer = TestIssuer::start().await;
    let elsewhere = TestIssuer::start_with_key(SigningKey::generate("elsewhere-1")).await;
    issuer.set_fault_at(
        Endpoint::KeySet,
        Some(Fault::RedirectTo(elsewhere.jwks_uri())),
    );
    let validator = issuer
        .validator()
        .http_client(reqwest::Client::new())
        .build()
        .unwrap();
    match validator.warm_up().await {
        Err(KeyFetchError::CrossOriginRedirect(url)) => {
            assert_eq!(url.as_str(), elsewhere.jwks_uri(), "the final URL")
        }
        other => panic!("expected CrossOriginRedirect, got {other:?}"),
    }
    assert!(!validator.is_ready());
    let forged = elsewhere.token().issuer(issuer.issuer()).sign();
    assert!(validator.validate(&forged).await.is_err());
}

/// A token of about 16 KB whose payload is thousands of tiny JSON values: cheap to send,
/// about 200 KB once decoded.
fn bloated_token(issuer: &TestIssuer, serial: usize) -> String {
    let token = issuer
        .token()
        .claim("jti", format!("bloated-{serial}"))
        .claim("x", vec![0; 5_700])
        .sign();
    assert!(
        (15_000..=16 * 1024).contains(&token.len()),
        "{} bytes",
        token.len()
    );
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verified_token_cache_is_bounded_by_bytes() {
    const BUDGET: u64 = 1 << 20;
    const SENT: usize = 40;
    let fixture = Fixture::start_with(|builder| builder.token_cache_bytes(BUDGET)).await;
    let small = fixture.issuer.token().sign();
    for _ in 0..2 {
        fixture.send(PRIVATE, &small).await.assert_ok();
    }
    assert_eq!(fixture.validator.cached_tokens(), 1);
    let one_small = fixture.validator.cached_token_bytes();
    assert!(
        one_small >= small.len() as u64 && one_small < 64 * 1024,
        "{one_small} bytes for one {}-byte token",
        small.len()
    );

    let tokens: Vec<String> = (0..SENT)
        .map(|serial| bloated_token(&fixture.issuer, serial))
        .collect();
    // Each sent twice: a token enters the cache the second time it verifies.
    for token in &tokens {
        for _ in 0..2 {
            fixture.send(PRIVATE, token).await.assert_ok();
        }
    }
    let cached = fixture.validator.cached_tokens();
    let bytes = fixture.validator.cached_token_bytes();
    println!("{SENT} bloated tokens sent twice: {cached} cached, {bytes} bytes");
    assert!(
        bytes <= BUDGET,
        "{bytes} bytes cached, over the {BUDGET} budget"
    );
    // Each weighs its 16 KB plus about 200 KB of decoded claims: a handful fit in 1 MiB (at
    // most 10 even if the estimate of the decoded claims were as low as 84 KB).
    assert!(
        (1..=10).contains(&cached),
        "{cached} of {SENT} bloated tokens cached in {BUDGET} bytes"
    );
    // Every token still passes, cached or not.
    for token in &tokens {
        fixture.send(PRIVATE, token).await.assert_ok();
    }

    // 0 turns the cache off.
    let off = Fixture::start_with(|builder| builder.token_cache_bytes(0)).await;
    let token = off.issuer.token().sign();
    for _ in 0..3 {
        off.send(PRIVATE, &token).await.assert_ok();
    }
    assert_eq!(
        (
            off.validator.cached_tokens(),
            off.validator.cached_token_bytes()
        ),
        (0, 0)
    );
}
