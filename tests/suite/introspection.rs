//! Opaque access tokens by token introspection (RFC 7662), through the quickstart router
//! (`BearerLayer` + `RequireScopes`) against the test issuer's real introspection endpoint
//! on loopback. Every test asserts what the client sees (status, challenge) and how many
//! calls reached the endpoint.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bearer_guard::config::ConfigProblem;
use bearer_guard::dpop::Dpop;
use bearer_guard::error::{Claim, TokenProblem};
use bearer_guard::introspection::{
    Alphabet, IntrospectionAuth, IntrospectionStats, OpaqueTokenShape,
};
use bearer_guard::testing::{
    AnswerRules, Api, ClientAuthentication, DpopProof, Endpoint, Fault, SigningKey, TestIssuer,
    read_introspection_answer,
};
use bearer_guard::{Validator, ValidatorBuilder};
use common::{
    Fixture, PRIVATE, Reply, SCOPE, SCOPED, app, assert_no_echo, get_with, parse_challenge,
    send_token,
};
use http::{HeaderName, StatusCode};
use serde_json::json;

/// The API's own client credentials at the issuer.
const API_CLIENT: (&str, &str) = ("api-client", "api-client-secret-0123456789abcdef");

/// A fresh issuer that knows the API's client, and a validator introspecting with it (no
/// key source: every token is introspected) configured further by `configure`.
async fn introspecting(configure: impl FnOnce(ValidatorBuilder) -> ValidatorBuilder) -> Fixture {
    let issuer = TestIssuer::start().await;
    issuer.register_client(API_CLIENT.0, API_CLIENT.1);
    Fixture::with_issuer(issuer, |builder| {
        configure(builder.introspection(API_CLIENT.0, API_CLIENT.1))
    })
}

#[tokio::test]
async fn an_active_opaque_token_is_accepted_with_its_claims_once_introspected() {
    let fixture = introspecting(|builder| builder).await;
    let token = fixture.issuer.opaque_token().scope(SCOPE).issue();

    let body = fixture.send(PRIVATE, &token).await.assert_ok().clone();
    assert_eq!(body["client_id"], "test-client");
    assert_eq!(body["sub"], "test-client@clients");
    assert_eq!(
        body["aud"],
        json!([bearer_guard::testing::DEFAULT_AUDIENCE])
    );
    assert_eq!(body["iss"], fixture.issuer.issuer());
    assert_eq!(body["scopes"], json!([SCOPE]));
    fixture.send(SCOPED, &token).await.assert_ok();
    assert_eq!(
        fixture.issuer.introspection_requests(),
        1,
        "cached after the first"
    );

    // Without the scope: authenticated, but not for the scoped route.
    let unscoped = fixture.issuer.opaque_token().issue();
    fixture.send(PRIVATE, &unscoped).await.assert_ok();
    fixture
        .send(SCOPED, &unscoped)
        .await
        .assert_insufficient_scope(SCOPE);
    assert_eq!(fixture.issuer.introspection_requests(), 2);

    let stats = fixture.validator.introspection_stats();
    assert_eq!((stats.calls, stats.cache_hits, stats.failures), (2, 2, 0));
    // Discovery names the endpoint; the key set is never needed.
    assert_eq!(fixture.issuer.discovery_fetches(), 1);
    assert_eq!(fixture.issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn tokens_from_the_token_endpoint_of_an_opaque_api_are_introspected() {
    let fixture = introspecting(|builder| builder).await;
    let api = bearer_guard::testing::DEFAULT_AUDIENCE;
    fixture
        .issuer
        .register_api(Api::new(api).scopes([SCOPE]).opaque_tokens());
    fixture.issuer.register_client("m2m", "m2m-secret");
    fixture.issuer.grant("m2m", api, [SCOPE]);
    let token = fixture
        .issuer
        .client_credentials("m2m", "m2m-secret", api, None)
        .await
        .expect("a token");
    assert!(!token.access_token.contains('.'), "opaque, not a JWT");
    let body = fixture
        .send(SCOPED, &token.access_token)
        .await
        .assert_ok()
        .clone();
    assert_eq!(body["client_id"], "m2m");
    assert_eq!(fixture.issuer.introspection_requests(), 1);
}

#[tokio::test]
async fn an_inactive_token_is_refused_and_the_refusal_briefly_remembered() {
    let fixture = introspecting(|builder| builder).await;
    for _ in 0..3 {
        let reply = fixture
            .send(PRIVATE, "2YotnFZFEjr1zCsicMWpAA-never-issued")
            .await;
        reply.assert_invalid_token();
        assert_eq!(
            reply.param("error_description").as_deref(),
            Some("the token is not active")
        );
    }
    assert_eq!(fixture.issuer.introspection_requests(), 1, "negative cache");
}

#[tokio::test]
async fn the_claim_rules_of_jwts_apply_to_introspection_responses() {
    let fixture = introspecting(|builder| builder.leeway(Duration::from_secs(10))).await;
    let issuer = &fixture.issuer;
    let cases = [
        (
            "aud lacks the API",
            issuer.opaque_token().claim("aud", "https://other.example"),
            "the token is not intended for this API",
        ),
        (
            "no aud",
            issuer.opaque_token().without_claim("aud"),
            "the token lacks the aud claim",
        ),
        (
            "exp past",
            issuer.opaque_token().expires_in_secs(-60),
            "the token has expired",
        ),
        (
            "no exp",
            issuer.opaque_token().without_claim("exp"),
            "the token lacks the exp claim",
        ),
        (
            "nbf ahead",
            issuer.opaque_token().claim("nbf", common::now() + 600),
            "the token is not valid yet",
        ),
        (
            "iss mismatch",
            issuer.opaque_token().claim("iss", "https://evil.example/"),
            "the token issuer is not accepted",
        ),
        (
            "refresh token",
            issuer.opaque_token().claim("token_type", "refresh_token"),
            "the token is not a JWT access token (typ at+jwt)",
        ),
        (
            "active not true",
            issuer.opaque_token().claim("active", false),
            "the token is not active",
        ),
    ];
    for (expected_calls, (what, token, description)) in (1..).zip(cases) {
        let token = token.issue();
        let reply = fixture.send(PRIVATE, &token).await;
        reply.assert_invalid_token();
        assert_eq!(
            reply.param("error_description").as_deref(),
            Some(description),
            "{what}"
        );
        assert_eq!(issuer.introspection_requests(), expected_calls, "{what}");
    }
    // Without `iss` (optional in RFC 7662): the configured issuer.
    let token = issuer.opaque_token().without_claim("iss").issue();
    let body = fixture.send(PRIVATE, &token).await.assert_ok().clone();
    assert_eq!(body["iss"], issuer.issuer());
}

#[tokio::test]
async fn a_revoked_token_is_accepted_from_the_cache_until_the_cache_time_passes() {
    let cache_time = Duration::from_secs(1);
    let fixture = introspecting(|builder| builder.introspection_cache_ttl(cache_time)).await;
    fixture
        .issuer
        .register_client("test-client", "test-client-secret");
    let token = fixture.issuer.opaque_token().issue();
    // Before the request: the answer, and so the cache entry's start, comes after this.
    let asked_at = Instant::now();
    fixture.send(PRIVATE, &token).await.assert_ok();

    // RFC 7009 revocation by the token's client, over HTTP.
    let revoked = reqwest::Client::new()
        .post(fixture.issuer.revocation_endpoint())
        .basic_auth("test-client", Some("test-client-secret"))
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(format!("token={token}"))
        .send()
        .await
        .expect("the revocation endpoint answers");
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(fixture.issuer.revocation_requests(), 1);

    // Still accepted from the cache, without asking the issuer.
    fixture.send(PRIVATE, &token).await.assert_ok();
    assert_eq!(fixture.issuer.introspection_requests(), 1);

    let refused = common::eventually(Duration::from_secs(5), async || {
        fixture.send(PRIVATE, &token).await.status == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(refused.is_some(), "refused once the cache time passed");
    // Never before the cache time: the entry started after `asked_at`.
    assert!(asked_at.elapsed() >= cache_time);
    assert_eq!(fixture.issuer.introspection_requests(), 2);
    fixture.send(PRIVATE, &token).await.assert_invalid_token();
}

#[tokio::test]
async fn mixed_mode_validates_jwts_locally_and_introspects_the_rest() {
    let fixture = introspecting(ValidatorBuilder::mixed_mode).await;
    let jwt = fixture.issuer.token().scope(SCOPE).sign();
    fixture.send(SCOPED, &jwt).await.assert_ok();
    fixture.send(SCOPED, &jwt).await.assert_ok();
    assert_eq!(
        fixture.issuer.introspection_requests(),
        0,
        "JWTs are never introspected"
    );
    fixture.assert_fetches(1, 1);

    let opaque = fixture.issuer.opaque_token().scope(SCOPE).issue();
    fixture.send(SCOPED, &opaque).await.assert_ok();
    assert_eq!(fixture.issuer.introspection_requests(), 1);
    // A forged JWT is refused locally, not sent to the issuer.
    let forged = format!("{}x", &jwt[..jwt.len() - 1]);
    fixture.send(PRIVATE, &forged).await.assert_invalid_token();
    assert_eq!(fixture.issuer.introspection_requests(), 1);

    // An explicit key set URL implies mixed mode.
    let issuer = TestIssuer::start().await;
    issuer.register_client(API_CLIENT.0, API_CLIENT.1);
    let jwks_uri = issuer.jwks_uri();
    let explicit = Fixture::with_issuer(issuer, |builder| {
        builder
            .jwks_uri(jwks_uri)
            .introspection(API_CLIENT.0, API_CLIENT.1)
    });
    explicit
        .send(PRIVATE, &explicit.issuer.token().sign())
        .await
        .assert_ok();
    assert_eq!(explicit.issuer.introspection_requests(), 0);
}

#[tokio::test]
async fn with_introspection_only_a_jwt_goes_to_the_issuer_too() {
    let fixture = introspecting(|builder| builder).await;
    let jwt = fixture.issuer.token().sign();
    // The test issuer knows only its opaque tokens: it says the JWT is not active.
    fixture.send(PRIVATE, &jwt).await.assert_invalid_token();
    assert_eq!(fixture.issuer.introspection_requests(), 1);
    assert_eq!(fixture.issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn an_endpoint_that_cannot_answer_means_503_never_acceptance() {
    let fixture = introspecting(|builder| builder.fetch_timeout(Duration::from_millis(500))).await;
    let issuer = &fixture.issuer;
    let token = issuer.opaque_token().issue();
    let faults = [
        Fault::Status(500),
        Fault::Status(503),
        Fault::Html,
        Fault::HugeBody(2 << 20),
        Fault::Hang,
    ];
    for (calls, fault) in (1..).zip(faults) {
        issuer.set_fault_at(Endpoint::Introspection, Some(fault.clone()));
        fixture
            .send(PRIVATE, &token)
            .await
            .assert_introspection_unavailable();
        assert_eq!(
            issuer.introspection_requests(),
            calls,
            "{fault:?}: failures are not cached"
        );
    }
    issuer.set_fault_at(Endpoint::Introspection, None);
    // Unreachable: the issuer is gone (after discovery, which is remembered).
    issuer.stop();
    fixture
        .send(PRIVATE, &token)
        .await
        .assert_introspection_unavailable();
    issuer.resume().await;
    fixture.send(PRIVATE, &token).await.assert_ok();
    assert_eq!(fixture.validator.introspection_stats().failures, 6);
}

#[tokio::test]
async fn an_unknown_endpoint_or_a_made_up_issuer_means_503() {
    // The issuer's metadata is unreachable: nothing to ask.
    let validator = Validator::builder()
        .issuer("http://127.0.0.1:9/")
        .audience("https://api.example.com")
        .introspection(API_CLIENT.0, API_CLIENT.1)
        .build()
        .expect("valid configuration");
    send_token(&app(validator), PRIVATE, "opaque-token-value")
        .await
        .assert_introspection_unavailable();
}

#[tokio::test(flavor = "current_thread")]
async fn refused_api_credentials_mean_503_and_an_error_log_naming_the_problem() {
    let logs = common::Logs::capture();
    let fixture =
        introspecting(|builder| builder.introspection("api-client", "a-wrong-secret-value")).await;
    let token = fixture.issuer.opaque_token().issue();
    fixture
        .send(PRIVATE, &token)
        .await
        .assert_introspection_unavailable();
    assert_eq!(fixture.issuer.introspection_requests(), 1);
    let errors = logs.at(tracing::Level::ERROR);
    assert!(
        errors.contains("configuration problem")
            && errors.contains("refused the API's own client credentials (HTTP 401)"),
        "{errors}"
    );
    assert!(
        errors.contains("api-client"),
        "names the client id: {errors}"
    );
    logs.assert_never_shows(&[&token, "a-wrong-secret-value"]);
}

#[tokio::test]
async fn client_secret_post_authenticates_too() {
    let fixture =
        introspecting(|builder| builder.introspection_auth(IntrospectionAuth::ClientSecretPost))
            .await;
    let token = fixture.issuer.opaque_token().issue();
    fixture.send(PRIVATE, &token).await.assert_ok();
    // The issuer accepts either method: what it recorded tells which one the API used.
    assert_eq!(
        fixture.issuer.client_authentications(),
        [ClientAuthentication::Post]
    );

    // And HTTP Basic by default.
    let fixture = introspecting(|builder| builder).await;
    let token = fixture.issuer.opaque_token().issue();
    fixture.send(PRIVATE, &token).await.assert_ok();
    assert_eq!(
        fixture.issuer.client_authentications(),
        [ClientAuthentication::Basic]
    );
}

/// A refusal is remembered for `introspection_negative_ttl`, 5 s by default, and no longer:
/// the same token is asked about again once 5 s have passed. The test polls (every 20 ms)
/// for the second call instead of sleeping a fixed time, and checks when it came.
#[tokio::test]
async fn a_refusal_is_remembered_for_5_s_by_default_and_no_longer() {
    let fixture = introspecting(|builder| builder).await;
    let never_issued = "2YotnFZFEjr1zCsicMWpAA-never-issued";
    // The refusal is remembered from a moment between these two instants.
    let sent_at = Instant::now();
    fixture
        .send(PRIVATE, never_issued)
        .await
        .assert_invalid_token();
    let asked_at = Instant::now();
    assert_eq!(fixture.issuer.introspection_requests(), 1);
    let asked_again = common::eventually(Duration::from_secs(8), async || {
        fixture
            .send(PRIVATE, never_issued)
            .await
            .assert_invalid_token();
        fixture.issuer.introspection_requests() == 2
    })
    .await;
    let (since_sent, since_answered) = (sent_at.elapsed(), asked_at.elapsed());
    assert!(asked_again.is_some(), "never asked again within 8 s");
    // Not before 5 s after the refusal was remembered, so 5 s after the first request was
    // sent at the earliest (it is remembered before the first answer returns, so possibly
    // a moment less than 5 s after `asked_at`); within 1 s after the 5 s from the answer (a
    // 20 ms poll, a loopback call, a busy shared machine).
    assert!(
        since_sent >= Duration::from_secs(5) && since_answered < Duration::from_secs(6),
        "asked again {since_sent:?} after the first request, {since_answered:?} after its answer"
    );
}

/// At most 256 introspection calls are in flight per issuer (README): 300 requests with 300
/// different new tokens at once, against an endpoint that answers after 3 s (longer than
/// sending them all takes, so that every call would overlap without the bound), never have
/// more than 256 calls at the endpoint at once; the requests over the bound are refused with
/// 503 (never accepted, never queued without bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_256_introspection_calls_are_in_flight() {
    const BOUND: usize = 256;
    let requests = 300;
    let fixture = introspecting(|builder| builder).await;
    // Discovery first, so that only introspection calls are slow.
    fixture
        .send(PRIVATE, "warm-up-token-value")
        .await
        .assert_invalid_token();
    let tokens: Vec<String> = (0..requests)
        .map(|_| fixture.issuer.opaque_token().issue())
        .collect();
    fixture.issuer.set_delay(Duration::from_secs(3));
    let replies =
        futures_util::future::join_all(tokens.iter().map(|token| fixture.send(PRIVATE, token)))
            .await;
    let max = fixture.issuer.max_concurrent_introspections();
    assert!(
        max <= BOUND,
        "{max} introspection calls were in flight at once"
    );
    let mut refused = 0;
    for reply in &replies {
        if reply.status == StatusCode::OK {
            reply.assert_ok();
        } else {
            reply.assert_introspection_unavailable();
            refused += 1;
        }
    }
    assert!(
        refused >= requests - BOUND,
        "only {refused} refused, {max} calls in flight at most"
    );
    assert_eq!(
        fixture.issuer.introspection_requests(),
        1 + requests - refused,
        "one call per accepted token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_requests_with_one_new_token_make_one_call() {
    let fixture = introspecting(|builder| builder).await;
    let token = fixture.issuer.opaque_token().issue();
    fixture.issuer.set_delay(Duration::from_millis(300));
    // Discovery first, so that only the introspection call is in flight.
    fixture
        .send(PRIVATE, "warm-up-token-value")
        .await
        .assert_invalid_token();
    let before = fixture.issuer.introspection_requests();
    let replies =
        futures_util::future::join_all((0..32).map(|_| fixture.send(PRIVATE, &token))).await;
    for reply in &replies {
        reply.assert_ok();
    }
    assert_eq!(fixture.issuer.introspection_requests() - before, 1);
}

#[tokio::test]
async fn the_result_cache_stays_within_its_byte_budget() {
    let budget = 32 * 1024;
    let fixture = introspecting(|builder| builder.token_cache_bytes(budget)).await;
    let tokens = 300;
    for _ in 0..tokens {
        let token = fixture.issuer.opaque_token().scope(SCOPE).issue();
        fixture.send(PRIVATE, &token).await.assert_ok();
    }
    let stats = fixture.validator.introspection_stats();
    assert_eq!(stats.calls, tokens);
    assert!(stats.cached_bytes <= budget, "{stats:?}");
    assert!(stats.cached > 0 && stats.cached < tokens, "{stats:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn tokens_and_secrets_never_reach_the_logs() {
    let logs = common::Logs::capture();
    let fixture = introspecting(|builder| builder).await;
    let token = fixture.issuer.opaque_token().issue();
    fixture.send(PRIVATE, &token).await.assert_ok();
    fixture
        .issuer
        .set_fault_at(Endpoint::Introspection, Some(Fault::Status(500)));
    let other = fixture.issuer.opaque_token().issue();
    fixture
        .send(PRIVATE, &other)
        .await
        .assert_introspection_unavailable();
    assert!(
        logs.at(tracing::Level::DEBUG).contains("introspection"),
        "logs were captured"
    );
    logs.assert_never_shows(&[&token, &other, API_CLIENT.1]);
}

#[tokio::test]
async fn signed_responses_are_verified_with_the_issuers_key_set() {
    let fixture = introspecting(ValidatorBuilder::introspection_signed_answers).await;
    fixture.issuer.set_signed_introspection(true);
    let token = fixture.issuer.opaque_token().scope(SCOPE).issue();
    fixture.send(SCOPED, &token).await.assert_ok();
    assert_eq!(fixture.issuer.introspection_requests(), 1);
    assert_eq!(
        fixture.issuer.jwks_fetches(),
        1,
        "the key set verifies the response"
    );
    // Signed by a key the issuer never published: not trusted, not accepted.
    fixture.issuer.rotate("key-2");
    fixture.issuer.retire("key-2");
    let next = fixture.issuer.opaque_token().issue();
    fixture
        .send(PRIVATE, &next)
        .await
        .assert_introspection_unavailable();
}

/// Item 4: whichever member names the kind of token (RFC 7662's `token_type`, Keycloak's
/// `typ`, ORY Hydra's `token_use`), an answer about a refresh or ID token is refused.
#[tokio::test]
async fn an_active_answer_about_a_refresh_or_id_token_is_refused_whatever_member_says_so() {
    let fixture = introspecting(|builder| builder).await;
    let issuer = &fixture.issuer;
    let refused = [
        ("typ", json!("Refresh")),
        ("typ", json!("ID")),
        ("typ", json!("Offline")),
        ("typ", json!("Logout")),
        ("typ", json!(["Bearer"])),
        ("token_type", json!("id_token")),
        (
            "token_type",
            json!("urn:ietf:params:oauth:token-type:refresh_token"),
        ),
        (
            "token_type",
            json!("urn:ietf:params:oauth:token-type:id_token"),
        ),
        ("token_use", json!("refresh_token")),
        ("token_use", json!("id_token")),
    ];
    for (calls, (member, kind)) in (1..).zip(refused) {
        let token = issuer.opaque_token().claim(member, kind.clone()).issue();
        fixture
            .send(PRIVATE, &token)
            .await
            .assert_invalid_token_for(TokenProblem::NotAnAccessToken);
        assert_eq!(issuer.introspection_requests(), calls, "{member}: {kind}");
    }
    // Keycloak's and Hydra's names of an access token pass.
    for (member, kind) in [("typ", "Bearer"), ("token_use", "access_token")] {
        let token = issuer.opaque_token().claim(member, kind).issue();
        fixture.send(PRIVATE, &token).await.assert_ok();
    }
}

/// Item 5: a signed (RFC 9701) answer is addressed to the API's own client id; one
/// addressed to the API's token audience, or to another client, is not for this call.
#[tokio::test]
async fn a_signed_answer_not_addressed_to_the_apis_client_id_is_refused() {
    let fixture = introspecting(ValidatorBuilder::introspection_signed_answers).await;
    let issuer = &fixture.issuer;
    issuer.set_signed_introspection(true);
    let token = issuer.opaque_token().issue();
    for (calls, aud) in (1..).zip([
        json!(bearer_guard::testing::DEFAULT_AUDIENCE),
        json!("another-client"),
        json!(["another-client"]),
        json!(null),
        json!(7),
    ]) {
        issuer.set_signed_introspection_envelope(Some(json!({ "aud": aud })));
        fixture
            .send(PRIVATE, &token)
            .await
            .assert_introspection_unavailable();
        assert_eq!(issuer.introspection_requests(), calls, "aud {aud}");
    }
    issuer.set_signed_introspection_envelope(Some(json!({ "aud": ["other", API_CLIENT.0] })));
    fixture.send(PRIVATE, &token).await.assert_ok();
}

/// Item 5: a signed answer's `iat` is fresh (made for this call): not older than a minute
/// beyond the leeway, not in the future beyond it, and a number.
#[tokio::test]
async fn a_signed_answer_whose_iat_is_stale_future_or_missing_is_refused() {
    let fixture = introspecting(|builder| {
        builder
            .introspection_signed_answers()
            .leeway(Duration::from_secs(10))
    })
    .await;
    let issuer = &fixture.issuer;
    issuer.set_signed_introspection(true);
    let token = issuer.opaque_token().issue();
    let now = common::now();
    for (calls, iat) in (1..).zip([
        json!(now - 3600),
        json!(now - 90),
        json!(now + 60),
        json!("recently"),
        json!(null),
    ]) {
        issuer.set_signed_introspection_envelope(Some(json!({ "iat": iat })));
        fixture
            .send(PRIVATE, &token)
            .await
            .assert_introspection_unavailable();
        assert_eq!(issuer.introspection_requests(), calls, "iat {iat}");
    }
    // Within the bound: half a minute old.
    issuer.set_signed_introspection_envelope(Some(json!({ "iat": now - 30 })));
    fixture.send(PRIVATE, &token).await.assert_ok();
}

/// Item 5: once the API asks for signed answers, a plain JSON answer (which anyone on the
/// path could write) is refused: no downgrade.
#[tokio::test]
async fn a_plain_answer_where_a_signed_one_was_asked_for_is_refused() {
    let fixture = introspecting(ValidatorBuilder::introspection_signed_answers).await;
    let issuer = &fixture.issuer;
    issuer.set_signed_introspection(true);
    issuer.set_introspection_downgrade(true);
    let token = issuer.opaque_token().issue();
    fixture
        .send(PRIVATE, &token)
        .await
        .assert_introspection_unavailable();
    assert_eq!(issuer.introspection_requests(), 1);
    assert_eq!(fixture.validator.introspection_stats().failures, 1);
    issuer.set_introspection_downgrade(false);
    fixture.send(PRIVATE, &token).await.assert_ok();
}

/// Found by the `introspection_answer` fuzzer: the answer inside a signed answer repeated a
/// member name (`"active":"true", ..., "active":true`) and was read as its last value,
/// where a plain answer with a repeated name is unreadable. Both are now.
#[test]
fn a_signed_answer_repeating_a_member_name_inside_is_unreadable() {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let key = SigningKey::generate("key-1");
    let now = common::now();
    let rules = AnswerRules {
        issuer: "https://issuer.example/".into(),
        audience: "https://api.example.com".into(),
        client_id: API_CLIENT.0.into(),
        key_set: json!({ "keys": [key.jwk()] }),
        now,
        asked_signed: true,
    };
    let sign = |inner: &str| {
        let header = b64(br#"{"alg":"RS256","kid":"key-1","typ":"token-introspection+jwt"}"#);
        let payload = format!(
            r#"{{"iss":"https://issuer.example/","aud":"{}","iat":{now},"token_introspection":{inner}}}"#,
            API_CLIENT.0
        );
        let input = format!("{header}.{}", b64(payload.as_bytes()));
        let signature = key.sign(bearer_guard::Algorithm::RS256, input.as_bytes());
        format!("{input}.{}", b64(&signature))
    };
    let answer = r#""aud":"https://api.example.com","exp":4102444800,"token_type":"Bearer""#;
    let once = sign(&format!(r#"{{"active":true,{answer}}}"#));
    assert!(matches!(
        read_introspection_answer(&rules, once.as_bytes(), true),
        Ok(Ok(_))
    ));
    let twice = sign(&format!(r#"{{"active":"true",{answer},"active":true}}"#));
    let outcome = read_introspection_answer(&rules, twice.as_bytes(), true);
    assert!(outcome.is_err(), "{outcome:?}");
    // The same answer unsigned, for comparison.
    let plain = format!(r#"{{"active":"true",{answer},"active":true}}"#);
    let rules = AnswerRules {
        asked_signed: false,
        ..rules
    };
    assert!(read_introspection_answer(&rules, plain.as_bytes(), false).is_err());
}

/// An issuer may advertise signed answers and still answer a client plain JSON (as
/// oidc-provider does for a client without `introspection_signed_response_alg`): an API that
/// did not ask for signed answers is served by plain ones.
#[tokio::test]
async fn plain_answers_serve_an_api_that_did_not_ask_for_signed_ones() {
    let fixture = introspecting(|builder| builder).await;
    let issuer = &fixture.issuer;
    issuer.set_signed_introspection(true);
    issuer.set_introspection_downgrade(true);
    let token = issuer.opaque_token().issue();
    fixture.send(PRIVATE, &token).await.assert_ok();
    assert_eq!(issuer.introspection_requests(), 1);
}

/// Asked for, signed answers are required: an issuer that answers plain JSON to every client
/// gets the request a 503, never an acceptance.
#[tokio::test]
async fn signed_answers_asked_for_are_required_even_from_an_issuer_that_never_signs() {
    let fixture = introspecting(ValidatorBuilder::introspection_signed_answers).await;
    let token = fixture.issuer.opaque_token().issue();
    fixture
        .send(PRIVATE, &token)
        .await
        .assert_introspection_unavailable();
    fixture.issuer.set_signed_introspection(true);
    fixture.send(PRIVATE, &token).await.assert_ok();
}

/// The public URL DPoP proofs are made for.
const DPOP_BASE: &str = "https://api.example.com";

/// `GET PRIVATE` with `Authorization: {scheme} {token}` and these DPoP proofs.
async fn send_dpop(fixture: &Fixture, scheme: &str, token: &str, proofs: &[&str]) -> Reply {
    let authorization = format!("{scheme} {token}");
    let mut headers: Vec<(HeaderName, &[u8])> =
        vec![(http::header::AUTHORIZATION, authorization.as_bytes())];
    for proof in proofs {
        headers.push((HeaderName::from_static("dpop"), proof.as_bytes()));
    }
    let reply = get_with(&fixture.app, PRIVATE, &headers).await;
    assert_no_echo(authorization.as_bytes(), &reply);
    reply
}

/// The `error` of the `DPoP` challenge of a refusal.
fn dpop_error(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .map(|value| parse_challenge(value.to_str().unwrap()))
        .find(|(scheme, _)| scheme == "DPoP")
        .and_then(|(_, params)| params.into_iter().find(|(name, _)| name == "error"))
        .map(|(_, value)| value)
}

/// Item 7: RFC 9449 §6.2: an introspection answer `token_type: DPoP` with `cnf.jkt` is a
/// DPoP-bound opaque token: accepted with a proof of that key, like a bound JWT, and
/// refused as a bearer token, with a replayed proof or a proof of another key; `DPoP`
/// without `cnf.jkt` binds to nothing and is refused.
#[tokio::test]
async fn a_dpop_bound_opaque_token_passes_with_a_proof_of_its_key_only() {
    let fixture =
        introspecting(|builder| builder.dpop(Dpop::allowed().public_url(DPOP_BASE))).await;
    let issuer = &fixture.issuer;
    let key = DpopProof::generate();
    let token = issuer
        .opaque_token()
        .claim("token_type", "DPoP")
        .claim("cnf", json!({ "jkt": key.jkt() }))
        .issue();
    let url = format!("{DPOP_BASE}{PRIVATE}");
    let proof = key.proof("GET", &url, &token);
    let body = send_dpop(&fixture, "DPoP", &token, &[&proof])
        .await
        .assert_ok()
        .clone();
    assert_eq!(body["all"]["cnf"]["jkt"], key.jkt());
    // The same proof again: a replay.
    let replay = send_dpop(&fixture, "DPoP", &token, &[&proof]).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{replay:#?}");
    assert_eq!(dpop_error(&replay).as_deref(), Some("invalid_dpop_proof"));
    // A fresh proof passes (from the result cache: one call in all).
    let fresh = key.proof("GET", &url, &token);
    send_dpop(&fixture, "DPoP", &token, &[&fresh])
        .await
        .assert_ok();
    assert_eq!(issuer.introspection_requests(), 1);
    // As a bearer token: the downgrade of RFC 9449 §7.2.
    fixture
        .send(PRIVATE, &token)
        .await
        .assert_invalid_token_for(TokenProblem::DpopBound);
    // A proof of another key.
    let other = DpopProof::generate();
    let stranger = other.proof("GET", &url, &token);
    let reply = send_dpop(&fixture, "DPoP", &token, &[&stranger]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
    assert_eq!(dpop_error(&reply).as_deref(), Some("invalid_dpop_proof"));

    // `DPoP` without `cnf.jkt`: refused, whatever the scheme.
    for cnf in [None, Some(json!({})), Some(json!({ "jkt": 7 }))] {
        let mut unbound = issuer.opaque_token().claim("token_type", "DPoP");
        if let Some(cnf) = cnf {
            unbound = unbound.claim("cnf", cnf);
        }
        let unbound = unbound.issue();
        fixture
            .send(PRIVATE, &unbound)
            .await
            .assert_invalid_token_for(TokenProblem::MissingClaim(Claim::Confirmation));
        let proof = key.proof("GET", &url, &unbound);
        let reply = send_dpop(&fixture, "DPoP", &unbound, &[&proof]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
    }
}

#[tokio::test]
async fn several_issuers_send_opaque_tokens_to_the_one_that_introspects() {
    let fixture = introspecting(|builder| builder).await;
    let other = TestIssuer::start().await;
    let both = Validator::for_issuers([
        fixture.validator.clone(),
        other.validator().build().unwrap(),
    ])
    .expect("two issuers");
    let app = app(both);
    let token = fixture.issuer.opaque_token().issue();
    send_token(&app, PRIVATE, &token).await.assert_ok();
    send_token(&app, PRIVATE, &other.token().sign())
        .await
        .assert_ok();
}

/// Item 9: with a token shape, tokens of no configured shape hold at most 64 of the 256
/// introspection slots: the 65th junk token in flight gets a 503 at once, without a call,
/// counted as junk, while a new token of the shape still gets its call and passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_holds_at_most_its_share_of_the_introspection_calls() {
    let shape = OpaqueTokenShape::new()
        .length(44, 44)
        .alphabet(Alphabet::BASE64URL);
    let fixture = introspecting(|builder| builder.introspection_token_shape(shape)).await;
    // Discovery first (the delay applies to every endpoint of the issuer).
    fixture
        .send(PRIVATE, "warm-up")
        .await
        .assert_invalid_token();
    let before = fixture.issuer.introspection_requests();
    fixture.issuer.set_delay(Duration::from_secs(1));
    let held: Vec<_> = (0..64)
        .map(|n| {
            let app = fixture.app.clone();
            tokio::spawn(async move { send_token(&app, PRIVATE, &format!("junk-{n}")).await })
        })
        .collect();
    let all_in_flight = common::eventually(Duration::from_secs(5), async || {
        fixture.issuer.introspection_requests() - before == 64
    })
    .await;
    assert!(all_in_flight.is_some(), "64 junk calls in flight");
    fixture
        .send(PRIVATE, "junk-64")
        .await
        .assert_introspection_unavailable();
    assert_eq!(fixture.validator.introspection_stats().junk_refused, 1);
    let token = fixture.issuer.opaque_token().issue();
    fixture.send(PRIVATE, &token).await.assert_ok();
    assert_eq!(fixture.issuer.introspection_requests() - before, 65);
    for junk in held {
        junk.await.expect("the junk request").assert_invalid_token();
    }
    let stats = fixture.validator.introspection_stats();
    assert_eq!((stats.junk_refused, stats.failures), (1, 0), "{stats:?}");
}

/// What the well-behaved client of [`junk_flood`] saw.
struct FloodOutcome {
    sent: usize,
    passed: usize,
    /// Latencies of its requests, sorted.
    latencies: Vec<Duration>,
    /// Junk requests sent, and how many of them got a 503.
    junk_sent: usize,
    junk_unavailable: usize,
}

impl FloodOutcome {
    fn percentile(&self, percent: usize) -> Duration {
        let index = (self.latencies.len() * percent / 100).min(self.latencies.len() - 1);
        self.latencies[index]
    }
}

/// Item 9's load test: an abusive client floods random opaque tokens at full speed (400
/// requests in flight, each a new string) at an issuer whose introspection endpoint takes
/// 200 ms, while a well-behaved client sends new, valid opaque tokens of the issuer's shape
/// (two tasks, for 3 s, once the flood has filled the junk's share of the slots). Loopback
/// only; bounded in time and in requests in flight.
async fn junk_flood(
    configure: impl FnOnce(ValidatorBuilder) -> ValidatorBuilder,
) -> (FloodOutcome, IntrospectionStats) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    const ABUSERS: usize = 400;
    const GOOD_TASKS: usize = 2;
    let fixture = introspecting(configure).await;
    let good = fixture.issuer.opaque_token().scope(SCOPE);
    // Discovery first (the delay applies to every endpoint of the issuer).
    fixture
        .send(PRIVATE, &good.clone().issue())
        .await
        .assert_ok();
    fixture.issuer.set_delay(Duration::from_millis(200));

    let stop = Arc::new(AtomicBool::new(false));
    let junk_sent = Arc::new(AtomicUsize::new(0));
    let junk_unavailable = Arc::new(AtomicUsize::new(0));
    let abusers: Vec<_> = (0..ABUSERS)
        .map(|task| {
            let (app, stop) = (fixture.app.clone(), Arc::clone(&stop));
            let (sent, unavailable) = (Arc::clone(&junk_sent), Arc::clone(&junk_unavailable));
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let junk = format!("junk{task:04}x{n:012}");
                    let reply = send_token(&app, PRIVATE, &junk).await;
                    assert_ne!(reply.status, StatusCode::OK, "junk accepted");
                    sent.fetch_add(1, Ordering::Relaxed);
                    if reply.status == StatusCode::SERVICE_UNAVAILABLE {
                        unavailable.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let flooding = common::eventually(Duration::from_secs(10), async || {
        junk_unavailable.load(Ordering::Relaxed) > 0
    })
    .await;
    assert!(flooding.is_some(), "the flood fills the slots it may take");

    let until = Instant::now() + Duration::from_secs(3);
    let clients: Vec<_> = (0..GOOD_TASKS)
        .map(|_| {
            let (app, good) = (fixture.app.clone(), good.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while Instant::now() < until {
                    let token = good.clone().issue();
                    let started = Instant::now();
                    let reply = send_token(&app, SCOPED, &token).await;
                    seen.push((reply.status, started.elapsed()));
                }
                seen
            })
        })
        .collect();
    let mut seen = Vec::new();
    for client in clients {
        seen.extend(client.await.expect("the client task"));
    }
    stop.store(true, Ordering::Relaxed);
    for abuser in abusers {
        abuser.await.expect("the abusive task");
    }
    let mut latencies: Vec<Duration> = seen.iter().map(|(_, latency)| *latency).collect();
    latencies.sort();
    let outcome = FloodOutcome {
        sent: seen.len(),
        passed: seen
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .count(),
        latencies,
        junk_sent: junk_sent.load(Ordering::Relaxed),
        junk_unavailable: junk_unavailable.load(Ordering::Relaxed),
    };
    (outcome, fixture.validator.introspection_stats())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_tokens_of_the_issuers_shape_keep_passing_through_a_flood_of_junk() {
    // The test issuer's opaque tokens: 44 base64url characters. The junk is shorter.
    let shape = OpaqueTokenShape::new()
        .length(44, 44)
        .alphabet(Alphabet::BASE64URL);
    let (outcome, stats) = junk_flood(|builder| builder.introspection_token_shape(shape)).await;
    println!(
        "well-behaved: {}/{} passed, latency p50 {:?} p99 {:?} max {:?}; junk: {} sent, {} got 503",
        outcome.passed,
        outcome.sent,
        outcome.percentile(50),
        outcome.percentile(99),
        outcome.latencies.last().copied().unwrap_or_default(),
        outcome.junk_sent,
        outcome.junk_unavailable,
    );
    assert!(
        outcome.sent >= 10,
        "the well-behaved client ran: {}",
        outcome.sent
    );
    assert_eq!(
        outcome.passed, outcome.sent,
        "every well-behaved request passed"
    );
    assert!(outcome.percentile(99) < Duration::from_secs(2));
    // Every junk 503 was the junk's share being full, counted as such; no call failed.
    assert_eq!(
        stats.junk_refused, outcome.junk_unavailable as u64,
        "{stats:?}"
    );
    assert_eq!(stats.failures, 0, "{stats:?}");
}

#[test]
fn introspection_settings_are_checked_at_build() {
    let base = || {
        Validator::builder()
            .issuer("https://issuer.example/")
            .audience("api")
    };
    let problems = |builder: ValidatorBuilder| builder.build().unwrap_err().problems().to_vec();
    assert_eq!(
        problems(base().introspection_endpoint("https://issuer.example/introspect")),
        [ConfigProblem::IntrospectionWithoutCredentials]
    );
    assert_eq!(
        problems(
            base()
                .introspection("api", "s")
                .introspection_endpoint("http://issuer.example/i")
        ),
        [ConfigProblem::InsecureUrl("introspection_endpoint")]
    );
    assert_eq!(
        problems(base().introspection(" ", "s")),
        [ConfigProblem::EmptyIntrospectionClient]
    );
    assert_eq!(
        problems(
            base()
                .introspection("api", "s")
                .introspection_cache_ttl(Duration::from_secs(7200))
        ),
        [ConfigProblem::DurationTooLong {
            setting: "introspection_cache_ttl",
            max: Duration::from_secs(3600)
        }]
    );
    assert_eq!(
        problems(
            base()
                .hs256_secret("a-shared-secret-of-at-least-32-bytes!")
                .introspection("api", "s")
                .introspection_signed_answers()
        ),
        [ConfigProblem::SignedIntrospectionWithoutKeys]
    );
    let shape = OpaqueTokenShape::new;
    assert_eq!(
        problems(
            base()
                .introspection("api", "s")
                .introspection_token_shape(shape().length(44, 44))
                .introspection_token_shape(shape().length(9, 8))
                .introspection_token_shape(shape().prefix(""))
                .introspection_token_shape(shape())
                .introspection_token_shape(shape().alphabet(Alphabet::of("")))
        ),
        [
            ConfigProblem::TokenShape("its minimum length exceeds its maximum"),
            ConfigProblem::TokenShape("its prefix is empty"),
            ConfigProblem::TokenShape(
                "it constrains nothing (give a prefix, a length or an alphabet)"
            ),
            ConfigProblem::TokenShape("its alphabet is empty"),
        ]
    );
    assert_eq!(
        problems(base().introspection_token_shape(shape().prefix("at_"))),
        [ConfigProblem::TokenShape(
            "a token shape is set but introspection is not configured"
        )]
    );
    let built = base()
        .introspection("api", "secret")
        .build()
        .expect("valid");
    assert!(!format!("{built:?}").contains("secret"));
    let builder = base().introspection("api", "s3cr3t-value");
    assert!(!format!("{builder:?}").contains("s3cr3t"));
}

/// Every request a loopback server received: method, `Authorization` and body.
type Received = Arc<Mutex<Vec<(String, Option<String>, String)>>>;

/// A loopback server that answers every request with `reply` and records it; its base URL.
async fn recording_server(reply: axum::response::Response<axum::body::Body>) -> (String, Received) {
    use axum::body::Bytes;
    let received: Received = Arc::default();
    let reply = Arc::new(Mutex::new(Some(reply)));
    let record = Arc::clone(&received);
    let app = axum::Router::new().fallback(
        move |method: http::Method, headers: http::HeaderMap, body: Bytes| {
            let record = Arc::clone(&record);
            let reply = Arc::clone(&reply);
            async move {
                let authorization = headers
                    .get(http::header::AUTHORIZATION)
                    .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
                record.lock().unwrap().push((
                    method.to_string(),
                    authorization,
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                let template = reply.lock().unwrap();
                let template = template.as_ref().unwrap();
                let mut response = axum::response::Response::new(axum::body::Body::empty());
                *response.status_mut() = template.status();
                *response.headers_mut() = template.headers().clone();
                response
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// With a custom HTTP client (reqwest's default policy follows up to 10 redirects, to any
/// origin), an introspection endpoint answering with a redirect to another origin gets
/// nothing secret there: after a 307 or 308 (which re-send the body) the other origin
/// receives no request at all; after a 301, 302 or 303 at most a GET with neither body nor
/// credentials. The token is refused as introspection unavailable (503), for both ways of
/// sending the API's credentials.
#[tokio::test]
async fn a_redirect_to_another_origin_never_receives_the_token_or_the_secret() {
    let (elsewhere, received) = recording_server(
        axum::response::Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    for status in [307, 308, 301, 302, 303] {
        for auth in [
            IntrospectionAuth::ClientSecretBasic,
            IntrospectionAuth::ClientSecretPost,
        ] {
            let (redirector, asked) = recording_server(
                axum::response::Response::builder()
                    .status(status)
                    .header(http::header::LOCATION, format!("{elsewhere}/introspect"))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
            let fixture = introspecting(|builder| {
                builder
                    .introspection_endpoint(format!("{redirector}/introspect"))
                    .introspection_auth(auth)
                    .http_client(reqwest::Client::new())
            })
            .await;
            let token = fixture.issuer.opaque_token().scope(SCOPE).issue();
            fixture
                .send(PRIVATE, &token)
                .await
                .assert_introspection_unavailable();
            assert_eq!(asked.lock().unwrap().len(), 1, "{status} {auth:?}");
            let leaked = received.lock().unwrap().drain(..).collect::<Vec<_>>();
            if status == 307 || status == 308 {
                assert!(
                    leaked.is_empty(),
                    "{status} {auth:?}: the other origin received {leaked:?}"
                );
            }
            for (method, authorization, body) in leaked {
                assert_eq!(method, "GET", "{status} {auth:?}");
                assert_eq!(authorization, None, "{status} {auth:?}");
                assert!(
                    !body.contains(&token) && !body.contains(API_CLIENT.1) && body.is_empty(),
                    "{status} {auth:?}: {body}"
                );
            }
        }
    }
}
