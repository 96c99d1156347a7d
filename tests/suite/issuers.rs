//! Several issuers behind one layer: `Validator::for_issuers`.
//!
//! Two loopback issuers, A and B, each with its own audience and its own key. A token's
//! unverified `iss` only chooses which configuration verifies it; keys of one issuer never
//! verify another's tokens, unknown issuers cost no network request, and key sets are
//! fetched lazily, one issuer at a time.

use crate::common;

use bearer_guard::dpop::{ClientCertificate, Dpop, Mtls};
use bearer_guard::error::TokenProblem;
use bearer_guard::testing::{DpopProof, SigningKey, TestIssuer, certificate_thumbprint};
use bearer_guard::{
    Algorithm, AuthError, ErrorBody, Validator, ValidatorBuilder, config::ConfigProblem,
};
use common::{PRIVATE, SCOPE, SCOPED, app, assert_no_echo, get_with, send, send_token};
use http::{HeaderName, StatusCode, header};

const AUDIENCE_A: &str = "https://a.api.example.com";
const AUDIENCE_B: &str = "https://b.api.example.com";
/// The API's public URL, for DPoP proofs' `htu`.
const BASE: &str = "https://api.example.com";

/// Issuers A and B (keys with distinct `kid`s), and one validator accepting both, each with
/// its own audience.
struct TwoIssuers {
    a: TestIssuer,
    b: TestIssuer,
    validator: Validator,
    app: axum::Router,
}

impl TwoIssuers {
    async fn start() -> Self {
        Self::start_with_keys(SigningKey::generate("a-key"), SigningKey::generate("b-key")).await
    }

    async fn start_with_keys(key_a: SigningKey, key_b: SigningKey) -> Self {
        let a = TestIssuer::start_with_key(key_a).await;
        let b = TestIssuer::start_with_key(key_b).await;
        let for_a = Validator::builder()
            .issuer(a.issuer())
            .audience(AUDIENCE_A)
            .build()
            .expect("valid configuration for A");
        let for_b = Validator::builder()
            .issuer(b.issuer())
            .audience(AUDIENCE_B)
            .build()
            .expect("valid configuration for B");
        let validator = Validator::for_issuers([for_a, for_b]).expect("two distinct issuers");
        TwoIssuers {
            app: app(validator.clone()),
            validator,
            a,
            b,
        }
    }

    /// `(discovery, jwks)` fetches served by A and by B.
    fn fetches(&self) -> [(usize, usize); 2] {
        [
            (self.a.discovery_fetches(), self.a.jwks_fetches()),
            (self.b.discovery_fetches(), self.b.jwks_fetches()),
        ]
    }
}

/// A token of A (B) for A's (B's) audience only.
fn token_a(f: &TwoIssuers) -> bearer_guard::testing::TokenBuilder {
    f.a.token().audience(AUDIENCE_A)
}

fn token_b(f: &TwoIssuers) -> bearer_guard::testing::TokenBuilder {
    f.b.token().audience(AUDIENCE_B)
}

#[tokio::test]
async fn tokens_from_either_issuer_are_accepted_with_their_own_claims() {
    let f = TwoIssuers::start().await;

    let from_a = send_token(&f.app, PRIVATE, &token_a(&f).sign()).await;
    let body = from_a.assert_ok();
    assert_eq!(body["iss"], f.a.issuer());
    assert_eq!(body["aud"], serde_json::json!([AUDIENCE_A]));

    let from_b = send_token(&f.app, SCOPED, &token_b(&f).scope(SCOPE).sign()).await;
    let body = from_b.assert_ok();
    assert_eq!(body["iss"], f.b.issuer());
    assert_eq!(body["aud"], serde_json::json!([AUDIENCE_B]));
    assert_eq!(body["scopes"], serde_json::json!([SCOPE]));

    // Each key set was fetched once, from its own issuer.
    assert_eq!(f.fetches(), [(1, 1), (1, 1)]);
    assert_eq!(f.validator.key_stats().jwks_fetches, 2);

    // The scope guard still applies per route, whatever the issuer.
    send_token(&f.app, SCOPED, &token_a(&f).sign())
        .await
        .assert_insufficient_scope(SCOPE);
}

#[tokio::test]
async fn each_issuer_keeps_its_own_audience() {
    let f = TwoIssuers::start().await;
    // A's token carrying B's audience: B's audience is fine for B, not for A.
    let reply = send_token(&f.app, PRIVATE, &token_a(&f).audience(AUDIENCE_B).sign()).await;
    reply.assert_invalid_token_saying("the token is not intended for this API");
    // And the other way round.
    let reply = send_token(&f.app, PRIVATE, &token_b(&f).audience(AUDIENCE_A).sign()).await;
    reply.assert_invalid_token_saying("the token is not intended for this API");
    // An array holding only the other issuer's audience does not help either.
    let both_wrong = token_a(&f)
        .audience(serde_json::json!([AUDIENCE_B, "https://other.example"]))
        .sign();
    let reply = send_token(&f.app, PRIVATE, &both_wrong).await;
    reply.assert_invalid_token_saying("the token is not intended for this API");
    // Sanity: the right audiences pass.
    send_token(&f.app, PRIVATE, &token_a(&f).sign())
        .await
        .assert_ok();
    send_token(&f.app, PRIVATE, &token_b(&f).sign())
        .await
        .assert_ok();
}

#[tokio::test]
async fn an_issuer_not_on_the_list_is_refused_without_any_fetch() {
    let f = TwoIssuers::start().await;
    let stranger = TestIssuer::start().await;

    // A perfectly valid token of an issuer that is not on the list.
    let token = stranger.token().audience(AUDIENCE_A).sign();
    let reply = send_token(&f.app, PRIVATE, &token).await;
    reply.assert_invalid_token_saying("the token issuer is not accepted");

    // A token signed with A's own key but claiming another issuer.
    let forged = token_a(&f).issuer("https://evil.example/").sign();
    let reply = send_token(&f.app, PRIVATE, &forged).await;
    reply.assert_invalid_token_saying("the token issuer is not accepted");

    // Near-misses of A's issuer are other issuers: byte-for-byte comparison.
    let a_without_slash = f.a.issuer().trim_end_matches('/').to_owned();
    let a_upper = f.a.issuer().to_uppercase();
    for iss in [a_without_slash, a_upper, format!("{} ", f.a.issuer())] {
        let token = token_a(&f).issuer(iss.as_str()).sign();
        let reply = send_token(&f.app, PRIVATE, &token).await;
        reply.assert_invalid_token_saying("the token issuer is not accepted");
    }

    // `iss` missing or not a string.
    let reply = send_token(&f.app, PRIVATE, &token_a(&f).without_claim("iss").sign()).await;
    reply.assert_invalid_token_saying("the token lacks the iss claim");
    let reply = send_token(&f.app, PRIVATE, &token_a(&f).issuer(42).sign()).await;
    reply.assert_invalid_token_saying("the iss claim is invalid");

    // Not one network request, to any issuer.
    assert_eq!(f.fetches(), [(0, 0), (0, 0)]);
    assert_eq!(
        (stranger.discovery_fetches(), stranger.jwks_fetches()),
        (0, 0)
    );
    let stats = f.validator.key_stats();
    assert_eq!((stats.discovery_fetches, stats.jwks_fetches), (0, 0));
}

#[tokio::test]
async fn a_token_claiming_b_but_signed_with_a_key_is_refused() {
    let f = TwoIssuers::start().await;
    // A's keys are fetched and usable: a lenient "try every key" would now accept.
    send_token(&f.app, PRIVATE, &token_a(&f).sign())
        .await
        .assert_ok();
    assert_eq!(f.fetches(), [(1, 1), (0, 0)]);

    // Everything B's validator wants, but signed by A's key (and naming A's kid).
    let forged = token_a(&f).issuer(f.b.issuer()).audience(AUDIENCE_B).sign();
    let reply = send_token(&f.app, PRIVATE, &forged).await;
    reply.assert_invalid_token_saying("no signing key matches the token");

    // The same, naming B's kid.
    let forged = token_a(&f)
        .issuer(f.b.issuer())
        .audience(AUDIENCE_B)
        .header("kid", "b-key")
        .sign();
    let reply = send_token(&f.app, PRIVATE, &forged).await;
    reply.assert_invalid_token_saying("the token signature is invalid");

    // A's key set was not consulted again; B's was fetched for B's tokens only.
    assert_eq!(f.a.jwks_fetches(), 1);
    // B's genuine tokens still pass.
    send_token(&f.app, PRIVATE, &token_b(&f).sign())
        .await
        .assert_ok();
}

#[tokio::test]
async fn issuers_whose_keys_share_a_kid_do_not_verify_each_other() {
    // Both issuers publish `key-1` (the TestIssuer default), with different key material.
    let f =
        TwoIssuers::start_with_keys(SigningKey::generate("key-1"), SigningKey::generate("key-1"))
            .await;
    send_token(&f.app, PRIVATE, &token_a(&f).sign())
        .await
        .assert_ok();
    send_token(&f.app, PRIVATE, &token_b(&f).sign())
        .await
        .assert_ok();
    let forged = token_a(&f).issuer(f.b.issuer()).audience(AUDIENCE_B).sign();
    let reply = send_token(&f.app, PRIVATE, &forged).await;
    reply.assert_invalid_token_saying("the token signature is invalid");
    let forged = token_b(&f).issuer(f.a.issuer()).audience(AUDIENCE_A).sign();
    let reply = send_token(&f.app, PRIVATE, &forged).await;
    reply.assert_invalid_token_saying("the token signature is invalid");
}

#[tokio::test]
async fn key_sets_are_fetched_lazily_per_issuer() {
    let f = TwoIssuers::start().await;
    assert_eq!(
        f.fetches(),
        [(0, 0), (0, 0)],
        "nothing fetched at build time"
    );
    assert!(!f.validator.is_ready());

    for _ in 0..3 {
        send_token(&f.app, PRIVATE, &token_a(&f).sign())
            .await
            .assert_ok();
    }
    // Only A, once; B was never used and was never fetched.
    assert_eq!(f.fetches(), [(1, 1), (0, 0)]);
    assert!(!f.validator.is_ready(), "B's keys are not there yet");
    // A request without a token costs nothing either.
    send(&f.app, PRIVATE, None).await.assert_bare_challenge();
    assert_eq!(f.fetches(), [(1, 1), (0, 0)]);

    send_token(&f.app, PRIVATE, &token_b(&f).sign())
        .await
        .assert_ok();
    assert_eq!(f.fetches(), [(1, 1), (1, 1)]);
    assert!(f.validator.is_ready());
}

#[tokio::test]
async fn one_issuer_down_does_not_affect_the_other() {
    let f = TwoIssuers::start().await;
    f.b.stop();
    send_token(&f.app, PRIVATE, &token_b(&f).sign())
        .await
        .assert_keys_unavailable();
    send_token(&f.app, PRIVATE, &token_a(&f).sign())
        .await
        .assert_ok();
    assert_eq!(f.a.jwks_fetches(), 1);
}

#[tokio::test]
async fn warm_up_fetches_every_issuer() {
    let f = TwoIssuers::start().await;
    f.validator.warm_up().await.expect("both issuers answer");
    assert_eq!(f.fetches(), [(1, 1), (1, 1)]);
    assert!(f.validator.is_ready());
    let mut names: Vec<&str> = f.validator.issuer_names().collect();
    names.sort_unstable();
    let mut expected = [f.a.issuer(), f.b.issuer()];
    expected.sort_unstable();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn each_issuer_keeps_its_own_rules() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    // A is strict (RFC 9068), B is not.
    let strict_a = a.validator().rfc9068().build().unwrap();
    let lenient_b = b.validator().build().unwrap();
    let app = app(Validator::for_issuers([strict_a, lenient_b]).unwrap());

    let plain_jwt_a = a.token().sign();
    let reply = send_token(&app, PRIVATE, &plain_jwt_a).await;
    reply.assert_invalid_token_saying("the token is not a JWT access token (typ at+jwt)");
    send_token(&app, PRIVATE, &b.token().sign())
        .await
        .assert_ok();
    let access_token_a = a
        .token()
        .header("typ", "at+jwt")
        .claim("client_id", "client-a")
        .claim("jti", "a-1")
        .sign();
    send_token(&app, PRIVATE, &access_token_a).await.assert_ok();
}

/// Refusals are written one way for the whole API: the same realm, `resource_metadata` and
/// error body for every issuer, so settings that differ are a configuration error rather
/// than the first validator's silently winning. Validators cloned from one builder share
/// them (the error body hook included) and combine.
#[tokio::test]
async fn unequal_refusal_settings_are_a_configuration_error() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    let unequal = |first: ValidatorBuilder, second: ValidatorBuilder| {
        Validator::for_issuers([first.build().unwrap(), second.build().unwrap()])
            .expect_err("unequal settings")
            .problems()
            .to_vec()
    };
    assert_eq!(
        unequal(
            a.validator().realm("realm-a"),
            b.validator().realm("realm-b")
        ),
        [ConfigProblem::UnequalIssuerSetting("realm")]
    );
    assert_eq!(
        unequal(a.validator().realm("realm-a"), b.validator()),
        [ConfigProblem::UnequalIssuerSetting("realm")]
    );
    assert_eq!(
        unequal(
            a.validator()
                .resource_metadata("https://api.example.com/.well-known/a"),
            b.validator()
                .resource_metadata("https://api.example.com/.well-known/b"),
        ),
        [ConfigProblem::UnequalIssuerSetting("resource_metadata")]
    );
    assert_eq!(
        unequal(
            a.validator().initial_scopes(["read:messages"]),
            b.validator()
        ),
        [ConfigProblem::UnequalIssuerSetting("initial_scopes")]
    );
    let hook = |_: &AuthError| ErrorBody::json(&serde_json::json!({"problem": "auth"}));
    assert_eq!(
        unequal(
            a.validator().error_body(hook),
            b.validator().error_body(hook)
        ),
        [ConfigProblem::UnequalIssuerSetting("error_body")]
    );
    assert_eq!(
        unequal(
            a.validator().dpop(Dpop::allowed().public_url(BASE)),
            b.validator().dpop(
                Dpop::allowed()
                    .public_url(BASE)
                    .algorithms([Algorithm::ES256])
            ),
        ),
        [ConfigProblem::UnequalIssuerSetting("dpop algorithms")]
    );

    // One builder, cloned per issuer: the same realm and hook, written for every refusal.
    let shared = Validator::builder()
        .audience(bearer_guard::testing::DEFAULT_AUDIENCE)
        .realm("api")
        .error_body(hook);
    let app = app(Validator::for_issuers([
        shared.clone().issuer(a.issuer()).build().unwrap(),
        shared.issuer(b.issuer()).build().unwrap(),
    ])
    .unwrap());
    for reply in [
        send(&app, PRIVATE, None).await,
        send_token(&app, PRIVATE, &b.token().expires_in_secs(-3600).sign()).await,
        send_token(&app, SCOPED, &b.token().sign()).await,
    ] {
        assert_ne!(reply.status, StatusCode::OK, "{reply:#?}");
        assert_eq!(reply.param("realm").as_deref(), Some("api"), "{reply:#?}");
        assert_eq!(reply.body["problem"], "auth", "{reply:#?}");
    }
}

/// Each issuer keeps its own sender-constraint rules: B requires DPoP, A (in front of it or
/// behind it) takes plain bearer tokens. B's plain bearer token is refused, A's is accepted,
/// B's DPoP-bound token with a valid proof passes, and A, which checks no proofs, does not
/// take the `DPoP` scheme.
#[tokio::test]
async fn each_issuer_keeps_its_own_dpop_settings() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    let url = format!("{BASE}{PRIVATE}");
    for b_first in [false, true] {
        let for_a = a.validator().build().unwrap();
        let for_b = b
            .validator()
            .dpop(Dpop::required().public_url(BASE))
            .build()
            .unwrap();
        let validators = if b_first {
            [for_b, for_a]
        } else {
            [for_a, for_b]
        };
        let app = app(Validator::for_issuers(validators).unwrap());

        send_token(&app, PRIVATE, &a.token().sign())
            .await
            .assert_ok();
        send_token(&app, PRIVATE, &b.token().sign())
            .await
            .assert_invalid_token_saying(&TokenProblem::SchemeNotAccepted.to_string());

        let key = DpopProof::generate();
        let bound_b = b.token().dpop_bound(&key.jkt()).sign();
        let proof = key.proof("GET", &url, &bound_b);
        let authorization = format!("DPoP {bound_b}");
        let reply = dpop_request(&app, &authorization, &proof).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "b first: {b_first}: {reply:#?}"
        );

        let bound_a = a.token().dpop_bound(&key.jkt()).sign();
        let proof = key.proof("GET", &url, &bound_a);
        let authorization = format!("DPoP {bound_a}");
        let reply = dpop_request(&app, &authorization, &proof).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
        assert_eq!(
            reply.body["error_description"],
            AuthError::InvalidToken(TokenProblem::SchemeNotAccepted).description()
        );
    }
}

/// `GET PRIVATE` with this `Authorization` and one `DPoP` proof; nothing echoed.
async fn dpop_request(app: &axum::Router, authorization: &str, proof: &str) -> common::Reply {
    let reply = get_with(
        app,
        PRIVATE,
        &[
            (header::AUTHORIZATION, authorization.as_bytes()),
            (HeaderName::from_static("dpop"), proof.as_bytes()),
        ],
    )
    .await;
    assert_no_echo(authorization.as_bytes(), &reply);
    assert_no_echo(proof.as_bytes(), &reply);
    reply
}

#[tokio::test]
async fn duplicate_issuers_are_a_configuration_error() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    let once = a.validator().build().unwrap();
    // The same issuer, even with another audience, is a duplicate.
    let again = a.validator().audience(AUDIENCE_B).build().unwrap();
    let other = b.validator().build().unwrap();

    let error = Validator::for_issuers([once.clone(), other.clone(), again])
        .expect_err("the same issuer twice");
    assert_eq!(
        error.problems(),
        [ConfigProblem::DuplicateIssuer(a.issuer().to_owned())]
    );
    assert!(error.to_string().contains(a.issuer()), "{error}");

    // A validator that already holds the issuer counts too.
    let both = Validator::for_issuers([once.clone(), other]).unwrap();
    let error = Validator::for_issuers([both, once]).expect_err("nested duplicate");
    assert_eq!(
        error.problems(),
        [ConfigProblem::DuplicateIssuer(a.issuer().to_owned())]
    );

    // No validator at all is no issuer.
    let error = Validator::for_issuers([]).expect_err("an empty list");
    assert_eq!(error.problems(), [ConfigProblem::MissingIssuer]);
    assert_eq!(a.jwks_fetches() + b.jwks_fetches(), 0);
}

/// Each issuer keeps its own mTLS setting: A checks certificate bindings, B does not (in
/// front of A or behind it). A's certificate-bound token passes with its certificate and is
/// refused without it; B's is refused even with the certificate, since B checks none.
#[tokio::test]
async fn each_issuer_keeps_its_own_mtls_setting() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    let certificate: Vec<u8> = [0x30, 0x82, 0x01, 0x00]
        .into_iter()
        .chain(0..=255)
        .collect();
    let thumbprint = certificate_thumbprint(&certificate);
    for b_first in [true, false] {
        let for_a = a.validator().mtls(Mtls::new()).build().unwrap();
        let for_b = b.validator().build().unwrap();
        let validators = if b_first {
            [for_b, for_a]
        } else {
            [for_a, for_b]
        };
        let app = app(Validator::for_issuers(validators).unwrap());
        let send = |token: String, with_certificate: bool| {
            let mut request = http::Request::get(PRIVATE)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            if with_certificate {
                request
                    .extensions_mut()
                    .insert(ClientCertificate(certificate.clone().into()));
            }
            let app = app.clone();
            async move {
                let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                    .await
                    .unwrap();
                assert!(
                    !String::from_utf8_lossy(&body).contains(&token),
                    "the token was echoed"
                );
                let body: serde_json::Value =
                    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                (status, body["error_description"].clone())
            }
        };
        let bound_a = a.token().certificate_bound(&thumbprint).sign();
        let bound_b = b.token().certificate_bound(&thumbprint).sign();
        let (status, _) = send(bound_a.clone(), true).await;
        assert_eq!(status, StatusCode::OK, "b first: {b_first}");
        let (status, description) = send(bound_a, false).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "b first: {b_first}");
        assert_eq!(
            description,
            "the token is bound to a client certificate and none was presented"
        );
        let (status, description) = send(bound_b, true).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "b first: {b_first}");
        assert_eq!(
            description,
            "the token is bound to a client certificate this API does not check"
        );
    }
}
