//! The key set through the router: discovery, fetch counts, rotation and concurrency.

use crate::common;

use std::future::ready;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::routing::get;
use bearer_guard::Validator;
use bearer_guard::testing::{
    DEFAULT_AUDIENCE, Endpoint, Fault, SigningKey, TestIssuer, TokenBuilder,
};
use common::{Fixture, PRIVATE, Reply, SCOPE, SCOPED, eventually, send_token};
use http::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

#[tokio::test]
async fn discovery_and_the_key_set_are_fetched_once_then_cached() {
    let f = Fixture::start().await;
    f.assert_fetches(0, 0);
    let token = f.issuer.token().scope(SCOPE).sign();
    f.send(SCOPED, &token).await.assert_ok();
    f.assert_fetches(1, 1);
    for _ in 0..5 {
        f.send(SCOPED, &token).await.assert_ok();
        f.send(PRIVATE, &f.issuer.token().sign()).await.assert_ok();
    }
    f.assert_fetches(1, 1);
    let stats = f.validator.key_stats();
    assert_eq!(
        (stats.failed_refreshes, stats.unknown_kid_refetches),
        (0, 0),
        "{stats:?}"
    );
}

#[tokio::test]
async fn an_explicit_jwks_uri_skips_discovery() {
    let issuer = bearer_guard::testing::TestIssuer::start().await;
    let jwks_uri = issuer.jwks_uri();
    let f = Fixture::with_issuer(issuer, |b| b.jwks_uri(jwks_uri));
    f.send(PRIVATE, &f.issuer.token().sign()).await.assert_ok();
    f.assert_fetches(0, 1);
}

#[tokio::test]
async fn a_new_kid_is_accepted_after_exactly_one_extra_fetch() {
    // The shortest cooldown there is (1 s); the first fetch counts toward it.
    let f = Fixture::start_with(|b| b.refetch_cooldown(Duration::from_secs(1))).await;
    let old = f.issuer.token().scope(SCOPE).sign();
    f.send(SCOPED, &old).await.assert_ok();
    f.assert_fetches(1, 1);

    f.issuer.rotate("key-2");
    let new = f.issuer.token().scope(SCOPE).sign();
    assert_ne!(old, new);
    // Refused while the cooldown lasts, then accepted after one refetch.
    let accepted = eventually(Duration::from_secs(5), async || {
        f.send(SCOPED, &new).await.status == StatusCode::OK
    })
    .await;
    assert!(accepted.is_some(), "the new kid was never accepted");
    f.assert_fetches(1, 2);
    assert_eq!(f.validator.key_stats().unknown_kid_refetches, 1);

    // Both keys are now known: no more fetches for either.
    f.send(SCOPED, &new).await.assert_ok();
    f.send(SCOPED, &old).await.assert_ok();
    f.send(PRIVATE, &f.issuer.token().sign()).await.assert_ok();
    f.assert_fetches(1, 2);
    assert_eq!(f.validator.key_stats().unknown_kid_refetches, 1);
}

/// `count` tokens from the issuer, each naming a different `kid` it never published.
fn unknown_kid_tokens(f: &Fixture, count: usize) -> Vec<String> {
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (0..count)
        .map(|i| {
            f.issuer
                .token()
                .scope(SCOPE)
                .header("kid", format!("unknown-{nonce:x}-{i}"))
                .sign()
        })
        .collect()
}

/// Sends every token at once, each in its own task; returns the replies.
async fn send_all(f: &Fixture, path: &'static str, tokens: Vec<String>) -> Vec<Reply> {
    let mut requests = JoinSet::new();
    for token in tokens {
        let app = f.app.clone();
        requests.spawn(async move { send_token(&app, path, &token).await });
    }
    requests.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_unknown_kids_on_a_cold_validator_costs_at_most_two_fetches() {
    let f = Fixture::start().await;
    let tokens = unknown_kid_tokens(&f, 200);
    let replies = send_all(&f, SCOPED, tokens).await;
    assert_eq!(replies.len(), 200);
    for reply in &replies {
        reply.assert_invalid_token();
    }
    let jwks = f.issuer.jwks_fetches();
    assert!(
        (1..=2).contains(&jwks),
        "{jwks} key set fetches for 200 unknown kids"
    );
    assert_eq!(f.issuer.discovery_fetches(), 1);
    assert_eq!(f.validator.key_stats().jwks_fetches, jwks as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_unknown_kids_after_the_cooldown_causes_one_refetch() {
    let cooldown = Duration::from_secs(1);
    let f = Fixture::start_with(|b| b.refetch_cooldown(cooldown)).await;
    f.send(PRIVATE, &f.issuer.token().sign()).await.assert_ok();
    f.assert_fetches(1, 1);
    let tokens = unknown_kid_tokens(&f, 200);
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;

    let replies = send_all(&f, SCOPED, tokens).await;
    for reply in &replies {
        reply.assert_invalid_token();
    }
    f.assert_fetches(1, 2);
    assert_eq!(f.validator.key_stats().unknown_kid_refetches, 1);
    // The known key is unaffected.
    f.send(SCOPED, &f.issuer.token().scope(SCOPE).sign())
        .await
        .assert_ok();
    f.assert_fetches(1, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_requests_on_a_cold_validator_fetch_once() {
    let f = Fixture::start().await;
    let token = f.issuer.token().scope(SCOPE).sign();
    let replies = send_all(&f, SCOPED, vec![token; 1000]).await;
    assert_eq!(replies.len(), 1000);
    for reply in &replies {
        assert_eq!(reply.assert_ok()["sub"], "test-client@clients");
    }
    f.assert_fetches(1, 1);
    let stats = f.validator.key_stats();
    assert_eq!(
        (stats.failed_refreshes, stats.unknown_kid_refetches),
        (0, 0),
        "{stats:?}"
    );
}

/// Serves the router `make` builds for its own base URL (`http://127.0.0.1:{port}/`) on a
/// loopback port; returns that base URL.
async fn serve(make: impl FnOnce(&str) -> axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let app = make(&base);
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn token_for(issuer: &str, key: &SigningKey) -> String {
    TokenBuilder::rs256(key)
        .issuer(issuer)
        .audience(DEFAULT_AUDIENCE)
        .expires_in_secs(3600)
        .scope(SCOPE)
        .sign()
}

#[tokio::test]
async fn metadata_naming_another_issuer_is_refused() {
    let key = SigningKey::generate("key-1");
    let jwks = json!({ "keys": [key.jwk()] });
    let base = serve(|base| {
        let metadata = json!({
            "issuer": "https://someone-else.example/",
            "jwks_uri": format!("{base}.well-known/jwks.json"),
        });
        axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || ready(Json(metadata.clone()))),
            )
            .route(
                "/.well-known/jwks.json",
                get(move || ready(Json(jwks.clone()))),
            )
    })
    .await;

    let validator = Validator::builder()
        .issuer(base.as_str())
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    let app = common::app(validator.clone());
    let reply = send_token(&app, SCOPED, &token_for(&base, &key)).await;
    reply.assert_keys_unavailable();
    let stats = validator.key_stats();
    assert_eq!(
        (stats.discovery_fetches, stats.jwks_fetches),
        (1, 0),
        "{stats:?}"
    );
}

#[tokio::test]
async fn without_metadata_the_key_set_is_found_at_the_auth0_location() {
    let key = SigningKey::generate("key-1");
    let jwks: Value = json!({ "keys": [key.jwk()] });
    let base = serve(|_| {
        axum::Router::new().route(
            "/.well-known/jwks.json",
            get(move || ready(Json(jwks.clone()))),
        )
    })
    .await;

    let validator = Validator::builder()
        .issuer(base.as_str())
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    let app = common::app(validator.clone());
    send_token(&app, SCOPED, &token_for(&base, &key))
        .await
        .assert_ok();
    let stats = validator.key_stats();
    // OIDC discovery and RFC 8414 both answered 404, then the fallback.
    assert_eq!(
        (stats.discovery_fetches, stats.jwks_fetches),
        (2, 1),
        "{stats:?}"
    );
    let forged = token_for(&base, &SigningKey::generate("key-1"));
    let reply = send_token(&app, SCOPED, &forged).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    reply.assert_invalid_token();
}

/// RFC 8414: when OpenID discovery answers 404, the key set URL comes from
/// `/.well-known/oauth-authorization-server`. The key set is moved off Auth0's location so
/// that only that document can name it.
#[tokio::test]
async fn rfc8414_metadata_names_the_key_set_when_openid_discovery_is_404() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault_at(Endpoint::Discovery, Some(Fault::Status(404)));
    issuer.set_authorization_server_metadata(true);
    issuer.set_jwks_path("/oauth2/v1/keys");
    let f = Fixture::with_issuer(issuer, |builder| builder);
    f.send(SCOPED, &f.token().sign()).await.assert_ok();
    assert_eq!(
        (
            f.issuer.discovery_fetches(),
            f.issuer.authorization_server_metadata_fetches(),
            f.issuer.jwks_fetches()
        ),
        (1, 1, 1),
        "(OIDC discovery, RFC 8414 metadata, key set) requests"
    );
    // Cached as any discovered key set: no more requests.
    f.send(SCOPED, &f.token().sign()).await.assert_ok();
    assert_eq!(f.issuer.authorization_server_metadata_fetches(), 1);
}

/// The size of the issuer's JWK set body, as a client receives it.
async fn jwks_body_len(issuer: &TestIssuer) -> usize {
    reqwest::get(issuer.jwks_uri())
        .await
        .expect("the key set answers")
        .bytes()
        .await
        .expect("a body")
        .len()
}

/// A JWK of a type no verifier knows (skipped, never fatal), padded to `pad` bytes of
/// `x`, with its own `kid`.
fn unusable_jwk(kid: usize, pad: usize) -> Value {
    json!({ "kty": "padding", "kid": format!("padding-{kid}"), "x": "x".repeat(pad) })
}

/// `max_jwks_bytes` at its boundary, end to end: a key set body of exactly the limit loads
/// and its tokens pass; the same body under a limit one byte smaller is refused whole, and
/// requests get 503 (no key set at all).
#[tokio::test]
async fn a_key_set_of_exactly_max_jwks_bytes_loads_and_one_byte_more_does_not() {
    let issuer = TestIssuer::start().await;
    issuer.set_extra_jwks(vec![unusable_jwk(0, 0)]);
    let unpadded = jwks_body_len(&issuer).await;
    // Well past any fixed-size read buffer, well under the 1 MiB default.
    let size = 100_000;
    issuer.set_extra_jwks(vec![unusable_jwk(0, size - unpadded)]);
    assert_eq!(jwks_body_len(&issuer).await, size);
    let token = issuer.token().scope(SCOPE).sign();

    let at_limit = issuer.validator().max_jwks_bytes(size).build().unwrap();
    send_token(&common::app(at_limit.clone()), SCOPED, &token)
        .await
        .assert_ok();
    assert_eq!(at_limit.key_stats().failed_refreshes, 0);

    let under = issuer.validator().max_jwks_bytes(size - 1).build().unwrap();
    send_token(&common::app(under.clone()), SCOPED, &token)
        .await
        .assert_keys_unavailable();
    assert!(under.warm_up().await.is_err());
}

/// `max_keys` at its boundary, end to end: a set of exactly `max_keys` entries loads (its
/// unusable entries skipped), one more entry and the set is refused whole.
#[tokio::test]
async fn a_key_set_of_exactly_max_keys_loads_and_one_key_more_does_not() {
    let issuer = TestIssuer::start().await;
    let max_keys = 10;
    // The issuer's own key and max_keys - 1 others.
    issuer.set_extra_jwks((1..max_keys).map(|kid| unusable_jwk(kid, 8)).collect());
    let token = issuer.token().scope(SCOPE).sign();

    let at_limit = issuer.validator().max_keys(max_keys).build().unwrap();
    send_token(&common::app(at_limit.clone()), SCOPED, &token)
        .await
        .assert_ok();
    assert_eq!(at_limit.key_stats().failed_refreshes, 0);

    let under = issuer.validator().max_keys(max_keys - 1).build().unwrap();
    send_token(&common::app(under.clone()), SCOPED, &token)
        .await
        .assert_keys_unavailable();
    assert!(under.warm_up().await.is_err());
}

/// `Validator::validate` polled outside a Tokio runtime (here by hand, as an executor of
/// another runtime would) must not panic when it has to wait for the key set or an
/// introspection call, which run as Tokio tasks: it answers `NoRuntime` at once. What it can
/// decide without waiting (a bad token) is still decided.
#[test]
fn validate_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    let validator = Validator::builder()
        .issuer("http://127.0.0.1:9/")
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    let token = TokenBuilder::rs256(&SigningKey::generate("k"))
        .issuer("http://127.0.0.1:9/")
        .sign();
    let poll_once = |token: &str| {
        let mut validation = std::pin::pin!(validator.validate(token));
        match validation
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(result) => result.map(drop),
            Poll::Pending => panic!("waited, outside a runtime"),
        }
    };
    assert_eq!(poll_once(&token), Err(bearer_guard::AuthError::NoRuntime));
    assert!(matches!(
        poll_once("not.a.token"),
        Err(bearer_guard::AuthError::InvalidToken(_))
    ));
}
