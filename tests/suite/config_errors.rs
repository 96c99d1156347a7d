//! `build()` checks the whole configuration at once and reports every problem.

use std::time::Duration;

use bearer_guard::testing::DEFAULT_AUDIENCE;
use bearer_guard::{
    Algorithm, Validator, ValidatorBuilder, config::ConfigProblem, config::MIN_HMAC_SECRET_BYTES,
};

#[track_caller]
fn problems(builder: ValidatorBuilder) -> Vec<ConfigProblem> {
    builder
        .build()
        .expect_err("an invalid configuration")
        .problems()
        .to_vec()
}

#[test]
fn every_problem_is_reported_at_once() {
    let secret = "too-short-secret";
    let error = Validator::builder()
        .issuer("http://tenant.example.com/")
        .audience("")
        .hs256_secret(secret)
        .build()
        .expect_err("three problems");
    let found = error.problems();
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found.contains(&ConfigProblem::InsecureUrl("issuer")),
        "{found:?}"
    );
    assert!(found.contains(&ConfigProblem::EmptyAudience), "{found:?}");
    assert!(
        found.contains(&ConfigProblem::SecretTooShort {
            bytes: secret.len()
        }),
        "{found:?}"
    );
    // The message lists them all and never shows the secret.
    let message = error.to_string();
    for problem in found {
        assert!(message.contains(&problem.to_string()), "{message}");
    }
    assert!(!message.contains(secret), "{message}");
    assert!(!format!("{error:?}").contains(secret));
}

#[test]
fn issuer_and_audience_are_required() {
    let found = problems(Validator::builder());
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&ConfigProblem::MissingIssuer));
    assert!(found.contains(&ConfigProblem::MissingAudience));
}

#[test]
fn issuers_must_be_https_or_loopback_http() {
    let with = |issuer: &str| {
        Validator::builder()
            .issuer(issuer)
            .audience(DEFAULT_AUDIENCE)
    };
    for ok in [
        "https://tenant.example.com/",
        "http://127.0.0.1:8080/",
        "http://localhost:8080/",
        "http://[::1]:8080/",
    ] {
        assert!(with(ok).build().is_ok(), "{ok}");
    }
    for insecure in [
        "http://tenant.example.com/",
        "http://10.0.0.1/",
        "http://127.0.0.1.nip.io/",
    ] {
        assert_eq!(
            problems(with(insecure)),
            [ConfigProblem::InsecureUrl("issuer")],
            "{insecure}"
        );
    }
    for invalid in ["tenant.example.com", "", "https://tenant.example.com/?a=b"] {
        assert_eq!(
            problems(with(invalid)),
            [ConfigProblem::InvalidUrl("issuer")],
            "{invalid:?}"
        );
    }
}

#[test]
fn secrets_shorter_than_32_bytes_are_refused() {
    let base = Validator::builder()
        .issuer("https://tenant.example.com/")
        .audience(DEFAULT_AUDIENCE);
    let short = "s".repeat(MIN_HMAC_SECRET_BYTES - 1);
    assert_eq!(
        problems(base.clone().hs256_secret(short)),
        [ConfigProblem::SecretTooShort { bytes: 31 }]
    );
    assert!(
        base.hs256_secret("s".repeat(MIN_HMAC_SECRET_BYTES))
            .build()
            .is_ok()
    );
}

#[test]
fn algorithm_families_must_fit_the_mode() {
    let base = Validator::builder()
        .issuer("https://tenant.example.com/")
        .audience(DEFAULT_AUDIENCE);
    assert_eq!(
        problems(base.clone().algorithms([Algorithm::HS256])),
        [ConfigProblem::AlgorithmNeedsSecret(Algorithm::HS256)]
    );
    assert_eq!(
        problems(
            base.clone()
                .hs256_secret([7u8; 32])
                .algorithms([Algorithm::RS256])
        ),
        [ConfigProblem::AlgorithmNeedsKeySet(Algorithm::RS256)]
    );
    assert_eq!(
        problems(base.clone().algorithms([])),
        [ConfigProblem::NoAlgorithm]
    );
    assert_eq!(
        problems(
            base.hs256_secret([7u8; 32])
                .jwks_uri("https://tenant.example.com/jwks.json")
        ),
        [ConfigProblem::SecretAndKeySet]
    );
}

#[test]
fn limits_are_checked() {
    let base = Validator::builder()
        .issuer("https://tenant.example.com/")
        .audience(DEFAULT_AUDIENCE);
    assert_eq!(
        problems(base.clone().leeway(Duration::from_secs(301))),
        [ConfigProblem::LeewayTooLarge(Duration::from_secs(301))]
    );
    assert!(
        base.clone()
            .leeway(Duration::from_secs(300))
            .build()
            .is_ok()
    );
    assert_eq!(
        problems(base.clone().max_token_bytes(0)),
        [ConfigProblem::ZeroLimit("max_token_bytes")]
    );
    assert_eq!(
        problems(base.fetch_timeout(Duration::ZERO)),
        [ConfigProblem::ZeroLimit("fetch_timeout")]
    );
}

/// Settings that would let the key set cache spin: a refetch cooldown or a lower TTL bound
/// (which `Cache-Control: no-cache` selects) under one second would let a stream of unknown
/// `kid`s, or an issuer, drive fetches without delay. One second is the
/// least, and is accepted.
#[test]
fn durations_that_would_spin_are_refused() {
    let base = Validator::builder()
        .issuer("https://tenant.example.com/")
        .audience(DEFAULT_AUDIENCE);
    let too_short = |setting| ConfigProblem::DurationTooShort {
        setting,
        min: Duration::from_secs(1),
    };
    for short in [Duration::ZERO, Duration::from_millis(999)] {
        assert_eq!(
            problems(base.clone().refetch_cooldown(short)),
            [too_short("refetch_cooldown")],
            "{short:?}"
        );
        assert_eq!(
            problems(
                base.clone()
                    .jwks_ttl_bounds(short, Duration::from_secs(3600))
            ),
            [too_short("jwks_ttl_bounds")],
            "{short:?}"
        );
    }
    let second = Duration::from_secs(1);
    assert!(
        base.refetch_cooldown(second)
            .jwks_ttl(second)
            .jwks_ttl_bounds(second, second)
            .build()
            .is_ok()
    );
}
