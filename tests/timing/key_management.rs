//! Key management: refresh ahead, freshness from the issuer, rotation, outages and hostile
//! key set responses, checked against the loopback test issuer with fetch counts.

use crate::common;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::{Endpoint, Fault, SigningKey, TestIssuer, TokenBuilder};
use bearer_guard::{AuthError, Validator, error::TokenProblem};
use common::eventually;
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// A syntactically valid RSA JWK with a modulus of `bits` bits (not a real key pair).
fn fake_rsa_jwk(kid: &str, bits: usize) -> Value {
    let mut modulus = vec![0xa5u8; bits / 8];
    modulus[0] = 0xc3;
    json!({"kty": "RSA", "kid": kid, "n": URL_SAFE_NO_PAD.encode(modulus), "e": "AQAB"})
}

fn is_unknown_key(result: Result<bearer_guard::VerifiedClaims, AuthError>) -> bool {
    matches!(
        result,
        Err(AuthError::InvalidToken(TokenProblem::UnknownKey))
    )
}

async fn warm(issuer: &TestIssuer, builder: bearer_guard::ValidatorBuilder) -> Validator {
    let validator = builder.build().expect("valid configuration");
    validator.warm_up().await.expect("warm-up fetch");
    assert_eq!(issuer.jwks_fetches(), 1);
    validator
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_validator_fetches_once_for_sequential_and_concurrent_requests() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().build().unwrap();
    let token = issuer.token().sign();
    for _ in 0..3 {
        validator.validate(&token).await.expect("valid token");
    }
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (1, 1));

    let cold = issuer.validator().build().unwrap();
    let before = (issuer.discovery_fetches(), issuer.jwks_fetches());
    let mut requests = JoinSet::new();
    for _ in 0..1000 {
        let (validator, token) = (cold.clone(), token.clone());
        requests.spawn(async move { validator.validate(&token).await.is_ok() });
    }
    let accepted = requests
        .join_all()
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count();
    assert_eq!(accepted, 1000);
    assert_eq!(issuer.discovery_fetches() - before.0, 1);
    assert_eq!(issuer.jwks_fetches() - before.1, 1);
    assert_eq!(cold.key_stats().jwks_fetches, 1);
}

#[tokio::test]
async fn after_warm_up_requests_never_wait_while_the_key_set_refreshes_in_the_background() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    let validator = warm(&issuer, issuer.validator().jwks_ttl(Duration::from_secs(1))).await;
    let token = issuer.token().sign();
    // A 1 s TTL refreshed at 75-90 % of it leaves the refresh at least 100 ms (a loopback
    // fetch takes milliseconds) before the set would go stale.
    let until = Instant::now() + Duration::from_millis(3500);
    let mut requests = 0;
    while Instant::now() < until {
        validator.validate(&token).await.expect("valid token");
        requests += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(requests > 100, "{requests}");
    assert_eq!(validator.key_stats().requests_waited, 0);
    assert_eq!(validator.key_stats().stale_serves, 0);
    // Refreshes start by 0.9, 1.8 and 2.7 s at the latest: the warm-up fetch and three more
    // within 3.5 s (0.8 s to spare for the fetches themselves).
    assert!(issuer.jwks_fetches() >= 4, "{}", issuer.jwks_fetches());
}

#[tokio::test]
async fn the_refresh_task_stops_when_the_last_validator_is_dropped() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    let validator = warm(
        &issuer,
        issuer.validator().jwks_ttl(Duration::from_millis(100)),
    )
    .await;
    let clone = validator.clone();
    drop(validator);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        issuer.jwks_fetches() >= 2,
        "a clone keeps the refresh alive"
    );
    drop(clone);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after_drop = issuer.jwks_fetches();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(issuer.jwks_fetches(), after_drop);
}

#[tokio::test]
async fn a_new_kid_is_accepted_on_its_first_request_once_the_cooldown_has_passed() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    let validator = warm(
        &issuer,
        issuer.validator().refetch_cooldown(Duration::from_secs(1)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    issuer.rotate("key-2");
    let token = issuer.token().sign();
    let started = Instant::now();
    let claims = validator.validate(&token).await.expect("new key accepted");
    let time_to_serve = started.elapsed();
    println!("time to serve the first token of a rotated key: {time_to_serve:?}");
    assert_eq!(claims.issuer(), issuer.issuer());
    assert_eq!(issuer.jwks_fetches(), 2);
    assert_eq!(validator.key_stats().unknown_kid_refetches, 1);
}

#[tokio::test]
async fn a_retired_key_stops_verifying_after_the_next_refresh() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    let old_token = issuer.token().sign();
    issuer.rotate("key-2");
    let validator = warm(
        &issuer,
        issuer.validator().jwks_ttl(Duration::from_millis(200)),
    )
    .await;
    validator
        .validate(&old_token)
        .await
        .expect("both keys published");
    issuer.retire("key-1");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(issuer.jwks_fetches() >= 2);
    assert!(is_unknown_key(validator.validate(&old_token).await));
    validator
        .validate(&issuer.token().sign())
        .await
        .expect("the current key still verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_within_one_cooldown_costs_at_most_one_fetch() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    let validator = warm(
        &issuer,
        issuer.validator().refetch_cooldown(Duration::from_secs(60)),
    )
    .await;
    let mut requests = JoinSet::new();
    for i in 0..500 {
        let token = issuer.token().header("kid", format!("random-{i}")).sign();
        let validator = validator.clone();
        requests.spawn(async move { is_unknown_key(validator.validate(&token).await) });
    }
    let rejected = requests.join_all().await.into_iter().filter(|r| *r).count();
    assert_eq!(rejected, 500);
    assert!(issuer.jwks_fetches() <= 2, "{}", issuer.jwks_fetches());
    // The same unknown kid again is remembered: no fetch, same answer.
    let again = issuer.token().header("kid", "random-7").sign();
    assert!(is_unknown_key(validator.validate(&again).await));
    assert!(issuer.jwks_fetches() <= 2);
}

/// Warms a validator with a short TTL and stale window, breaks the issuer with `fault`, and
/// checks that valid tokens pass on stale keys and get 503 once the window has passed.
async fn outage_keeps_serving_then_fails_closed(break_issuer: impl FnOnce(&TestIssuer)) {
    let issuer = TestIssuer::start().await;
    let validator = warm(
        &issuer,
        issuer
            .validator()
            .jwks_ttl(Duration::from_millis(200))
            .stale_if_error(Duration::from_millis(800))
            .fetch_timeout(Duration::from_millis(200)),
    )
    .await;
    let token = issuer.token().sign();
    break_issuer(&issuer);
    tokio::time::sleep(Duration::from_millis(450)).await;
    validator
        .validate(&token)
        .await
        .expect("stale keys keep serving within the window");
    assert!(validator.key_stats().stale_serves >= 1);
    assert!(validator.key_stats().failed_refreshes >= 1);
    assert!(validator.key_set_status().is_some_and(|s| s.stale));

    tokio::time::sleep(Duration::from_millis(800)).await;
    match validator.validate(&token).await {
        Err(AuthError::KeysUnavailable { retry_after }) => {
            assert!(retry_after >= Duration::from_secs(1))
        }
        other => panic!("expected 503 after the stale window, got {other:?}"),
    }
    assert!(!validator.is_ready());
}

#[tokio::test]
async fn outage_with_status_500() {
    let _alone = crate::alone().await;
    outage_keeps_serving_then_fails_closed(|issuer| issuer.set_fault(Some(Fault::Status(500))))
        .await;
}

#[tokio::test]
async fn outage_with_a_hanging_issuer() {
    let _alone = crate::alone().await;
    outage_keeps_serving_then_fails_closed(|issuer| issuer.set_fault(Some(Fault::Hang))).await;
}

#[tokio::test]
async fn outage_with_the_issuer_gone() {
    let _alone = crate::alone().await;
    outage_keeps_serving_then_fails_closed(TestIssuer::stop).await;
}

#[tokio::test]
async fn the_issuer_coming_back_ends_the_outage() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    let validator = warm(
        &issuer,
        issuer
            .validator()
            .jwks_ttl(Duration::from_millis(200))
            .stale_if_error(Duration::from_millis(300)),
    )
    .await;
    issuer.stop();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!validator.is_ready());
    issuer.resume().await;
    // The refresh task retries with a backoff of 0.5 s, 1 s, 2 s ... (+-20 %).
    let ready =
        crate::common::eventually(Duration::from_secs(5), async || validator.is_ready()).await;
    assert!(
        ready.is_some(),
        "not ready again 5 s after the issuer resumed"
    );
    validator
        .validate(&issuer.token().sign())
        .await
        .expect("keys are back");
}

/// Warms a validator, turns the issuer hostile, forces a refresh and checks that the good
/// key set survived.
async fn hostile_refresh_keeps_the_good_keys(issuer: &TestIssuer, hostility: impl FnOnce()) {
    let validator = warm(
        issuer,
        issuer.validator().refetch_cooldown(Duration::from_secs(1)),
    )
    .await;
    hostility();
    // An unknown kid forces a refetch once the (shortest) cooldown has passed.
    let probe = issuer.token().header("kid", "probe").sign();
    let fetched = eventually(Duration::from_secs(5), async || {
        assert!(is_unknown_key(validator.validate(&probe).await));
        issuer.jwks_fetches() >= 2
    })
    .await;
    assert!(fetched.is_some(), "the hostile response was fetched");
    assert_eq!(validator.key_stats().failed_refreshes, 1);
    validator
        .validate(&issuer.token().sign())
        .await
        .expect("the good key set is kept");
}

#[tokio::test]
async fn html_instead_of_a_key_set() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    hostile_refresh_keeps_the_good_keys(&issuer, || issuer.set_fault(Some(Fault::Html))).await;
}

#[tokio::test]
async fn a_two_mebibyte_body() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    hostile_refresh_keeps_the_good_keys(&issuer, || {
        issuer.set_fault(Some(Fault::HugeBody(2 * 1024 * 1024)))
    })
    .await;
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_not_followed() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    let elsewhere = TestIssuer::start().await;
    hostile_refresh_keeps_the_good_keys(&issuer, || {
        issuer.set_fault(Some(Fault::RedirectTo(elsewhere.jwks_uri())))
    })
    .await;
    assert_eq!(elsewhere.jwks_fetches(), 0);
}

#[tokio::test]
async fn a_thousand_keys_are_refused_whole() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    let many = (0..999)
        .map(|i| fake_rsa_jwk(&format!("k{i}"), 2048))
        .collect();
    hostile_refresh_keeps_the_good_keys(&issuer, || issuer.set_extra_jwks(many)).await;
}

#[tokio::test]
async fn a_cold_validator_facing_a_hostile_issuer_answers_503() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Some(Fault::Html));
    let validator = issuer.validator().build().unwrap();
    let result = validator.validate(&issuer.token().sign()).await;
    assert!(
        matches!(result, Err(AuthError::KeysUnavailable { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn weak_and_encryption_keys_are_skipped_and_never_used() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    let enc_key = SigningKey::generate("enc-1");
    let mut enc_jwk = enc_key.jwk();
    enc_jwk["use"] = json!("enc");
    issuer.set_extra_jwks(vec![
        fake_rsa_jwk("weak-1", 1024),
        enc_jwk,
        json!({"kty": 7}),
    ]);
    let validator = warm(&issuer, issuer.validator()).await;
    assert_eq!(validator.key_set_status().unwrap().keys, 1);

    let by_enc_key = TokenBuilder::rs256(&enc_key)
        .claim("iss", issuer.issuer())
        .claim("aud", bearer_guard::testing::DEFAULT_AUDIENCE)
        .claim("exp", 4_000_000_000u64)
        .sign();
    assert!(is_unknown_key(validator.validate(&by_enc_key).await));
    let weak_kid = issuer.token().header("kid", "weak-1").sign();
    assert!(is_unknown_key(validator.validate(&weak_kid).await));
    validator
        .validate(&issuer.token().sign())
        .await
        .expect("the good key works");
}

#[tokio::test]
async fn cache_control_max_age_is_clamped_to_the_bounds() {
    let _alone = crate::alone().await;
    for (max_age, expected) in [
        ("max-age=1", Duration::from_secs(60)),
        ("max-age=999999999", Duration::from_secs(24 * 3600)),
        ("public, max-age=900", Duration::from_secs(900)),
        ("no-cache", Duration::from_secs(60)),
    ] {
        let issuer = TestIssuer::start().await;
        issuer.set_cache_control(Some(max_age));
        let validator = warm(&issuer, issuer.validator()).await;
        assert_eq!(
            validator.key_set_status().unwrap().ttl,
            expected,
            "{max_age}"
        );
    }
    let issuer = TestIssuer::start().await;
    let validator = warm(&issuer, issuer.validator()).await;
    assert_eq!(
        validator.key_set_status().unwrap().ttl,
        Duration::from_secs(600),
        "default TTL without Cache-Control"
    );
}

#[tokio::test]
async fn a_304_revalidation_keeps_the_keys() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    issuer.set_etag(true);
    let validator = warm(
        &issuer,
        issuer.validator().jwks_ttl(Duration::from_millis(150)),
    )
    .await;
    // No timing assumption: once a 304 has come after `revalidating`, the key set's age
    // counts from that 304, so it is shorter than the time since `revalidating`; without the
    // revalidation it would count from the warm-up fetch, before `revalidating`.
    let revalidating = Instant::now();
    let before = validator.key_stats().not_modified;
    let revalidated = crate::common::eventually(Duration::from_secs(5), async || {
        validator.key_stats().not_modified > before
            && validator.key_set_status().unwrap().age < revalidating.elapsed()
    })
    .await;
    assert!(
        revalidated.is_some(),
        "no 304 that renewed the key set within 5 s"
    );
    assert!(issuer.not_modified_responses() >= 1);
    validator
        .validate(&issuer.token().sign())
        .await
        .expect("keys kept");
}

/// Waits until the issuer has served `count` key set requests (polling every 5 ms, at most
/// `within`), and returns when it noticed.
async fn key_set_request(issuer: &TestIssuer, count: usize, within: Duration) -> Instant {
    let seen = crate::common::poll_every(Duration::from_millis(5), within, async || {
        issuer.jwks_fetches() >= count
    })
    .await;
    assert!(
        seen.is_some(),
        "key set request {count} did not come within {within:?}"
    );
    Instant::now()
}

/// While the key set cannot be fetched, the refresh task retries after 1 s, 2 s and 4 s,
/// each jittered by up to 20 % either way (the whole schedule, up to its 5 min cap, is the
/// unit test of `jwks::snapshot`). Fetches are counted at the issuer, not slept on.
#[tokio::test]
async fn failed_fetches_are_retried_after_a_doubling_jittered_backoff() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    issuer.set_fault_at(Endpoint::KeySet, Some(Fault::Status(500)));
    let validator = issuer.validator().build().expect("valid configuration");
    assert!(validator.warm_up().await.is_err());
    let mut seen = vec![key_set_request(&issuer, 1, Duration::ZERO).await];
    for count in 2..=4 {
        seen.push(key_set_request(&issuer, count, Duration::from_secs(10)).await);
    }
    // Margins: a gap is measured between two observations, each up to one 5 ms poll (and a
    // scheduling delay) late, so it may look 50 ms shorter than the wait; it may look up to
    // 300 ms longer (a loopback fetch, polling, a busy shared machine). With a first wait of
    // 2 s, or no doubling, a gap falls outside its range.
    for (index, base) in [1.0, 2.0, 4.0].into_iter().enumerate() {
        let gap = seen[index + 1].duration_since(seen[index]).as_secs_f64();
        let (low, high) = (0.8 * base - 0.05, 1.2 * base + 0.3);
        assert!(
            (low..=high).contains(&gap),
            "retry {}: {gap:.3} s after the failure, expected {low:.2}..={high:.2} s",
            index + 1
        );
    }
    assert_eq!(issuer.jwks_fetches(), 4, "no retry outside the schedule");
}
