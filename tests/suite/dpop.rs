//! Sender-constrained tokens through an axum router: DPoP (RFC 9449) in each mode, each check
//! of §4.3 as a named refusal with its challenge, the downgrade, replay, server nonces, the
//! verified-token cache, the token endpoint, the RFC 9728 members, and certificate-bound
//! tokens (RFC 8705) by request extension and by trusted header.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use bearer_guard::dpop::{
    ClientCertificate, Dpop, MemoryReplayStore, Mtls, ReplayKey, ReplayStore, ReplayStoreError,
    ReplayVerdict,
};
use bearer_guard::testing::{DpopProof, certificate_pem, certificate_thumbprint};
use bearer_guard::{
    Algorithm, AuthError, BearerLayer, ProtectedResourceMetadata, RequireScopes, Validator,
    VerifiedClaims, claims::Binding, error::DpopProblem, error::TokenProblem,
};
use common::*;
use futures_util::future::BoxFuture;
use http::{HeaderName, Request, StatusCode, header};
use serde_json::json;
use tower::ServiceExt;

const BASE: &str = "https://api.example.com";
const ALGS: &str = "ES256 ES384 PS256 RS256 EdDSA";

fn url(path: &str) -> String {
    format!("{BASE}{path}")
}

/// `PRIVATE` answers with the binding the handler sees; `SCOPED` also needs [`SCOPE`].
fn binding_app(validator: Validator) -> Router {
    async fn binding(Extension(claims): Extension<VerifiedClaims>) -> String {
        format!("{:?}", claims.binding())
    }
    Router::new()
        .route(SCOPED, get(binding))
        .route_layer(RequireScopes::all([SCOPE]))
        .route(PRIVATE, get(binding))
        .layer(BearerLayer::new(validator))
}

struct Api {
    fixture: Fixture,
    app: Router,
}

async fn api(dpop: Dpop) -> Api {
    api_with(move |builder| builder.dpop(dpop)).await
}

async fn api_with(
    configure: impl FnOnce(bearer_guard::ValidatorBuilder) -> bearer_guard::ValidatorBuilder,
) -> Api {
    let fixture = Fixture::warm(|_| {}, configure).await;
    Api {
        app: binding_app(fixture.validator.clone()),
        fixture,
    }
}

impl Api {
    /// A token carrying [`SCOPE`] bound to `key`.
    fn bound_token(&self, key: &DpopProof) -> String {
        self.fixture.token().dpop_bound(&key.jkt()).sign()
    }

    /// `GET path` with `Authorization: DPoP {token}` and one `DPoP` header per proof.
    async fn send_dpop(&self, path: &str, token: &str, proofs: &[&str]) -> Reply {
        let authorization = format!("DPoP {token}");
        send_with(&self.app, path, &authorization, proofs, &[]).await
    }
}

/// `GET path` with this `Authorization`, `DPoP` headers and other headers; the reply never
/// echoes the token or a proof.
async fn send_with(
    app: &Router,
    path: &str,
    authorization: &str,
    proofs: &[&str],
    others: &[(&str, &str)],
) -> Reply {
    let mut headers: Vec<(HeaderName, &[u8])> =
        vec![(header::AUTHORIZATION, authorization.as_bytes())];
    for proof in proofs {
        headers.push((HeaderName::from_static("dpop"), proof.as_bytes()));
    }
    for (name, value) in others {
        headers.push((
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.as_bytes(),
        ));
    }
    let reply = get_with(app, path, &headers).await;
    assert_no_echo(authorization.as_bytes(), &reply);
    for proof in proofs {
        assert_no_echo(proof.as_bytes(), &reply);
    }
    reply
}

/// Every `WWW-Authenticate` challenge, in order.
fn challenges(reply: &Reply) -> Vec<Challenge> {
    reply
        .headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|value| parse_challenge(value.to_str().unwrap()))
        .collect()
}

fn param<'a>(challenge: &'a Challenge, name: &str) -> Option<&'a str> {
    challenge
        .1
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// 401 with a bare `Bearer` challenge (when `bearer`), then `DPoP error="{code}"` with the
/// description of `error` and the accepted `algs`; the body says the same.
#[track_caller]
fn assert_dpop_refusal(reply: &Reply, error: &AuthError, bearer: bool) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
    assert_no_store(reply);
    let all = challenges(reply);
    let dpop = all.last().expect("a DPoP challenge");
    if bearer {
        assert_eq!(all.len(), 2, "{reply:#?}");
        assert_eq!(all[0], ("Bearer".to_owned(), vec![]), "{reply:#?}");
    } else {
        assert_eq!(all.len(), 1, "{reply:#?}");
    }
    assert_eq!(dpop.0, "DPoP", "{reply:#?}");
    let code = error.error_code().unwrap();
    assert_eq!(param(dpop, "error"), Some(code), "{reply:#?}");
    let description = error.description();
    assert_eq!(param(dpop, "error_description"), Some(description.as_str()));
    assert_eq!(param(dpop, "algs"), Some(ALGS), "{reply:#?}");
    assert_eq!(reply.body["error"], code, "{reply:#?}");
    assert_eq!(reply.body["error_description"], description.as_str());
}

#[track_caller]
fn assert_proof_refused(reply: &Reply, problem: DpopProblem) {
    assert_dpop_refusal(reply, &AuthError::InvalidDpopProof(problem), true);
}

/// §7.2, the downgrade: a token bound to a DPoP key (`cnf.jkt`) or to a client certificate
/// (`cnf["x5t#S256"]`) presented as a plain bearer token is refused in every mode (here the
/// default, and `off`), with or without a proof.
#[tokio::test]
async fn a_bound_token_presented_as_bearer_is_refused_in_every_mode() {
    for dpop in [
        Dpop::allowed().public_url(BASE),
        Dpop::off(),
        Dpop::allowed(),
    ] {
        let api = api(dpop).await;
        let key = DpopProof::generate();
        let dpop_bound = api.bound_token(&key);
        let bearer = format!("Bearer {dpop_bound}");
        let proof = key.proof("GET", &url(PRIVATE), &dpop_bound);
        for proofs in [vec![], vec![proof.as_str()]] {
            let reply = send_with(&api.app, PRIVATE, &bearer, &proofs, &[]).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
            assert_eq!(reply.param("error").as_deref(), Some("invalid_token"));
            assert_eq!(
                reply.body["error_description"],
                AuthError::InvalidToken(TokenProblem::DpopBound).description()
            );
        }
        let certificate_bound = api.fixture.token().certificate_bound("bwcK0esc3ACC").sign();
        api.fixture
            .send(PRIVATE, &certificate_bound)
            .await
            .assert_invalid_token_saying(&TokenProblem::CertificateBound.to_string());
        let not_an_object = api.fixture.token().claim("cnf", json!("jkt")).sign();
        api.fixture
            .send(PRIVATE, &not_an_object)
            .await
            .assert_invalid_token_saying("the cnf claim is invalid");
        // `Validator::validate` has no request to check a binding against: refused too.
        let refused = api
            .fixture
            .validator
            .validate(&dpop_bound)
            .await
            .unwrap_err();
        assert_eq!(refused, AuthError::InvalidToken(TokenProblem::DpopBound));
    }
}

/// A `cnf` whose members are all confirmation methods the crate cannot check (`jwk`, `kid`,
/// `x5t`, `jwe`, as Entra's PoP tokens carry, or none at all) binds the token to something
/// no one verifies: refused in every mode, through the layer and by `Validator::validate`,
/// or a stolen copy would work as a bearer token.
#[tokio::test]
async fn a_cnf_with_no_member_the_crate_checks_is_refused() {
    let unknown = TokenProblem::UnknownConfirmation.to_string();
    for dpop in [
        Dpop::allowed().public_url(BASE),
        Dpop::off(),
        Dpop::allowed(),
    ] {
        let api = api(dpop).await;
        for cnf in [
            json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}),
            json!({"kid": "k"}),
            json!({"x5t": "bwcK0esc3ACC"}),
            json!({"jwe": "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"}),
            json!({"kid": "k", "xms_ksl": "sw"}),
            json!({}),
        ] {
            let token = api.fixture.token().claim("cnf", cnf.clone()).sign();
            api.fixture
                .send(PRIVATE, &token)
                .await
                .assert_invalid_token_saying(&unknown);
            let refused = api.fixture.validator.validate(&token).await.unwrap_err();
            assert_eq!(
                refused,
                AuthError::InvalidToken(TokenProblem::UnknownConfirmation),
                "{cnf}"
            );
        }
    }
}

/// Extra members beside a binding the crate checks (Keycloak sends them) do not stop a
/// DPoP-bound token with a valid proof, and do not let a certificate-bound one pass as bearer.
#[tokio::test]
async fn extra_cnf_members_beside_a_checked_binding_are_accepted() {
    let api = api(Dpop::allowed().public_url(BASE)).await;
    let key = DpopProof::generate();
    let token = api
        .fixture
        .token()
        .scope(SCOPE)
        .claim(
            "cnf",
            json!({"jkt": key.jkt(), "kid": "k", "x5t": "bwcK0esc3ACC"}),
        )
        .sign();
    let proof = key.proof("GET", &url(PRIVATE), &token);
    let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    let certificate_bound = api
        .fixture
        .token()
        .claim("cnf", json!({"x5t#S256": "bwcK0esc3ACC", "kid": "k"}))
        .sign();
    api.fixture
        .send(PRIVATE, &certificate_bound)
        .await
        .assert_invalid_token_saying(&TokenProblem::CertificateBound.to_string());
}

/// A bound token with a fresh, valid proof passes, and the handler learns how it was bound.
#[tokio::test]
async fn a_valid_proof_passes_and_the_claims_say_dpop() {
    let api = api(Dpop::allowed().public_url(BASE)).await;
    let key = DpopProof::generate();
    let token = api.bound_token(&key);
    for path in [PRIVATE, SCOPED] {
        let proof = key.proof("GET", &url(path), &token);
        let reply = api.send_dpop(path, &token, &[&proof]).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
        let expected = format!("{:?}", Binding::Dpop { jkt: key.jkt() });
        assert_eq!(reply.body, expected.as_str());
    }
    // The proof's htu is compared after normalisation; query and fragment are not part of it.
    let proof = key.proof(
        "GET",
        "HTTPS://API.Example.com:443/api/private?x=1#f",
        &token,
    );
    let reply = api
        .send_dpop(&format!("{PRIVATE}?x=1"), &token, &[&proof])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    // A bearer token still passes in `allowed`.
    let bearer = api.fixture.token().sign();
    let reply = api.fixture.send(PRIVATE, &bearer).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    let reply = send_token(&api.app, PRIVATE, &bearer).await;
    assert_eq!(reply.body, format!("{:?}", Binding::Bearer).as_str());
}

/// A proof of each default algorithm passes (ES256, ES384, PS256, RS256, EdDSA), and one of
/// an algorithm the API does not allow is refused before its key is parsed.
#[tokio::test]
async fn a_proof_of_every_default_algorithm_passes() {
    let api = api(Dpop::allowed().public_url(BASE)).await;
    for alg in [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::PS256,
        Algorithm::RS256,
        Algorithm::EdDSA,
    ] {
        let key = DpopProof::generate_for(alg);
        let token = api.bound_token(&key);
        let proof = key.proof("GET", &url(PRIVATE), &token);
        let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
        assert_eq!(reply.status, StatusCode::OK, "{alg}: {reply:#?}");
    }
    let key = DpopProof::generate_for(Algorithm::PS384);
    let token = api.bound_token(&key);
    let proof = key.proof("GET", &url(PRIVATE), &token);
    let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.body["error_description"],
        DpopProblem::AlgorithmNotAllowed.to_string()
    );
}

/// The `iat` window seen from the inside: a proof 290 s old and one 25 s ahead pass (the
/// window is 300 s back and 30 s ahead; the margins of 10 s and 5 s absorb the test's own
/// time between signing and checking). The refusals just outside are in the next test.
#[tokio::test]
async fn proofs_inside_the_iat_window_pass() {
    let api = api(Dpop::allowed().public_url(BASE)).await;
    let key = DpopProof::generate();
    let token = api.bound_token(&key);
    for offset in [-290, 25] {
        let proof = key
            .clone()
            .iat_offset_secs(offset)
            .proof("GET", &url(PRIVATE), &token);
        let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
        assert_eq!(reply.status, StatusCode::OK, "iat {offset} s: {reply:#?}");
    }
}

/// Each check of RFC 9449 §4.3, one named refusal each: 401 `invalid_dpop_proof` on the
/// `DPoP` challenge (with `algs`) beside a bare `Bearer` one.
#[tokio::test]
async fn each_check_of_the_proof_is_a_named_refusal() {
    let api = api(Dpop::allowed().public_url(BASE)).await;
    let key = DpopProof::generate();
    let other = DpopProof::generate();
    let token = api.bound_token(&key);
    let here = url(PRIVATE);
    let b64 = |text: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    };
    let cases: Vec<(&str, Vec<String>, DpopProblem)> = vec![
        ("no proof", vec![], DpopProblem::Missing),
        (
            "two proofs",
            vec![
                key.proof("GET", &here, &token),
                key.proof("GET", &here, &token),
            ],
            DpopProblem::SeveralProofs,
        ),
        ("not a JWS", vec!["abc.def".into()], DpopProblem::Malformed),
        (
            "header not an object",
            vec![format!("{}.{}.c2ln", b64("[]"), b64("{}"))],
            DpopProblem::MalformedHeader,
        ),
        (
            "typ jwt",
            vec![key.clone().header("typ", "jwt").proof("GET", &here, &token)],
            DpopProblem::WrongType,
        ),
        (
            "no typ",
            vec![
                key.clone()
                    .without_header("typ")
                    .proof("GET", &here, &token),
            ],
            DpopProblem::WrongType,
        ),
        (
            "alg none",
            vec![
                key.clone()
                    .header("alg", "none")
                    .proof("GET", &here, &token),
            ],
            DpopProblem::AlgorithmNotAllowed,
        ),
        (
            "alg HS256",
            vec![
                key.clone()
                    .header("alg", "HS256")
                    .proof("GET", &here, &token),
            ],
            DpopProblem::AlgorithmNotAllowed,
        ),
        (
            "no jwk",
            vec![
                key.clone()
                    .without_header("jwk")
                    .proof("GET", &here, &token),
            ],
            DpopProblem::MissingKey,
        ),
        (
            "private jwk",
            vec![
                key.clone()
                    .with_private_key_in_jwk()
                    .proof("GET", &here, &token),
            ],
            DpopProblem::PrivateKey,
        ),
        (
            "symmetric jwk",
            vec![
                key.clone()
                    .header("jwk", json!({"kty": "oct", "k": "c2VjcmV0"}))
                    .proof("GET", &here, &token),
            ],
            DpopProblem::PrivateKey,
        ),
        // A jwk without a thumbprint (an unknown `kty`, a member that is not a string); a
        // parsable thumbprint of another key is a mismatch, whatever the key (see
        // `a_proof_key_that_is_not_the_bound_key_is_a_mismatch_before_any_work`).
        (
            "unusable jwk",
            vec![
                key.clone()
                    .header(
                        "jwk",
                        json!({"kty": "EC", "crv": "P-256", "x": 1, "y": "AA"}),
                    )
                    .proof("GET", &here, &token),
            ],
            DpopProblem::UnusableKey,
        ),
        (
            "signed by another key",
            vec![key.clone().signed_by(&other).proof("GET", &here, &token)],
            DpopProblem::InvalidSignature,
        ),
        (
            "no jti",
            vec![key.clone().without_claim("jti").proof("GET", &here, &token)],
            DpopProblem::MissingJti,
        ),
        (
            "no htm",
            vec![key.clone().without_claim("htm").proof("GET", &here, &token)],
            DpopProblem::MissingHtm,
        ),
        (
            "no htu",
            vec![key.clone().without_claim("htu").proof("GET", &here, &token)],
            DpopProblem::MissingHtu,
        ),
        (
            "no iat",
            vec![key.clone().without_claim("iat").proof("GET", &here, &token)],
            DpopProblem::MissingIat,
        ),
        (
            "no ath",
            vec![key.clone().without_claim("ath").proof("GET", &here, &token)],
            DpopProblem::MissingAth,
        ),
        (
            "another method",
            vec![key.proof("POST", &here, &token)],
            DpopProblem::WrongMethod,
        ),
        (
            "another URI",
            vec![key.proof("GET", &url(SCOPED), &token)],
            DpopProblem::WrongUri,
        ),
        (
            "another host",
            vec![key.proof("GET", &format!("https://evil.example{PRIVATE}"), &token)],
            DpopProblem::WrongUri,
        ),
        (
            "the URI with an empty userinfo",
            vec![key.proof("GET", &here.replacen("://", "://@", 1), &token)],
            DpopProblem::WrongUri,
        ),
        (
            "the host's first letter full-width, percent-encoded",
            vec![key.proof("GET", &here.replacen("://a", "://%EF%BD%81", 1), &token)],
            DpopProblem::WrongUri,
        ),
        (
            "too old",
            vec![
                key.clone()
                    .iat_offset_secs(-301)
                    .proof("GET", &here, &token),
            ],
            DpopProblem::Stale,
        ),
        (
            "from the future",
            vec![key.clone().iat_offset_secs(31).proof("GET", &here, &token)],
            DpopProblem::IssuedInFuture,
        ),
        (
            "for another token",
            vec![key.proof("GET", &here, "another.access.token")],
            DpopProblem::WrongAth,
        ),
        (
            "another key than cnf.jkt",
            vec![other.proof("GET", &here, &token)],
            DpopProblem::KeyMismatch,
        ),
    ];
    for (name, proofs, problem) in cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let reply = api.send_dpop(PRIVATE, &token, &proofs).await;
        assert_eq!(
            reply.body["error_description"],
            problem.to_string(),
            "{name}: {reply:#?}"
        );
        assert_proof_refused(&reply, problem);
    }
    // The DPoP scheme with a token that is not DPoP-bound: invalid_token, on the DPoP challenge.
    let unbound = api.fixture.token().sign();
    let proof = key.proof("GET", &here, &unbound);
    let reply = api.send_dpop(PRIVATE, &unbound, &[&proof]).await;
    assert_dpop_refusal(
        &reply,
        &AuthError::InvalidToken(TokenProblem::NotDpopBound),
        true,
    );
}

/// §11.1: a proof is accepted once; the same proof again is refused, and so is its `jti` at
/// another URI only when the URI matches (the key is per `htu` and `jti`).
#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let api = api(Dpop::allowed().public_url(BASE)).await;
    let key = DpopProof::generate();
    let token = api.bound_token(&key);
    let proof = key.proof("GET", &url(PRIVATE), &token);
    let first = api.send_dpop(PRIVATE, &token, &[&proof]).await;
    assert_eq!(first.status, StatusCode::OK, "{first:#?}");
    let again = api.send_dpop(PRIVATE, &token, &[&proof]).await;
    assert_proof_refused(&again, DpopProblem::Replayed);
    let fresh = key.proof("GET", &url(PRIVATE), &token);
    let reply = api.send_dpop(PRIVATE, &token, &[&fresh]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
}

/// The verified-token cache may skip the token's signature, never the proof: once the token
/// is cached, a bad proof and a replayed proof are still refused.
#[tokio::test]
async fn the_token_cache_never_skips_the_proof() {
    let api = api(Dpop::allowed().public_url(BASE)).await;
    let key = DpopProof::generate();
    let token = api.bound_token(&key);
    for _ in 0..3 {
        let proof = key.proof("GET", &url(PRIVATE), &token);
        let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    }
    assert_eq!(
        api.fixture.validator.cached_tokens(),
        1,
        "the token is cached"
    );
    let forged = key
        .clone()
        .signed_by(&DpopProof::generate())
        .proof("GET", &url(PRIVATE), &token);
    let reply = api.send_dpop(PRIVATE, &token, &[&forged]).await;
    assert_proof_refused(&reply, DpopProblem::InvalidSignature);
    let reply = api.send_dpop(PRIVATE, &token, &[]).await;
    assert_proof_refused(&reply, DpopProblem::Missing);
}

/// `allowed` (the default) vs `required` vs `off`: who is accepted and which challenges a
/// request without a token gets.
#[tokio::test]
async fn allowed_required_and_off() {
    let key = DpopProof::generate();

    let allowed = api(Dpop::allowed().public_url(BASE)).await;
    let reply = send(&allowed.app, PRIVATE, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let expected_dpop = (
        "DPoP".to_owned(),
        vec![("algs".to_owned(), ALGS.to_owned())],
    );
    assert_eq!(
        challenges(&reply),
        [("Bearer".to_owned(), vec![]), expected_dpop.clone()]
    );
    // insufficient_scope is unchanged for a bearer token (the DPoP challenge follows it).
    let unscoped = allowed.fixture.token().without_claim("scope").sign();
    let reply = send_token(&allowed.app, SCOPED, &unscoped).await;
    reply.assert_insufficient_scope(SCOPE);

    let required = api(Dpop::required().public_url(BASE)).await;
    let bearer = required.fixture.token().sign();
    let reply = send_token(&required.app, PRIVATE, &bearer).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
    assert_eq!(
        challenges(&reply),
        std::slice::from_ref(&expected_dpop),
        "only DPoP"
    );
    let token = required.bound_token(&key);
    let proof = key.proof("GET", &url(PRIVATE), &token);
    let reply = required.send_dpop(PRIVATE, &token, &[&proof]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    let reply = required.send_dpop(PRIVATE, &token, &[]).await;
    assert_dpop_refusal(
        &reply,
        &AuthError::InvalidDpopProof(DpopProblem::Missing),
        false,
    );

    let off = api(Dpop::off()).await;
    let token = off.bound_token(&key);
    let proof = key.proof("GET", &url(PRIVATE), &token);
    let reply = off.send_dpop(PRIVATE, &token, &[&proof]).await;
    reply.assert_bare_challenge();
    assert_eq!(challenges(&reply).len(), 1);

    // `required` needs to know the public URI at build time.
    let problems = Fixture::start()
        .await
        .issuer
        .validator()
        .dpop(Dpop::required())
        .build()
        .unwrap_err();
    assert_eq!(
        problems.problems(),
        [bearer_guard::config::ConfigProblem::DpopNeedsPublicUrl]
    );
}

/// `htu` is checked against the configured public URL, never the request's `Host` or
/// `X-Forwarded-*`; a trusted proxy's headers are read only when named.
#[tokio::test]
async fn htu_comes_from_the_public_url_or_a_named_trusted_proxy() {
    let key = DpopProof::generate();
    let forwarded = [
        ("host", "evil.example"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
    ];
    let configured = api(Dpop::allowed().public_url(BASE)).await;
    let token = configured.bound_token(&key);
    let proof = key.proof("GET", &format!("https://evil.example{PRIVATE}"), &token);
    let authorization = format!("DPoP {token}");
    let reply = send_with(
        &configured.app,
        PRIVATE,
        &authorization,
        &[&proof],
        &forwarded,
    )
    .await;
    assert_proof_refused(&reply, DpopProblem::WrongUri);

    let proxied = api(Dpop::allowed().trusted_proxy(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderName::from_static("x-forwarded-host"),
    ))
    .await;
    let token = proxied.bound_token(&key);
    let proof = key.proof("GET", &format!("https://evil.example{PRIVATE}"), &token);
    let authorization = format!("DPoP {token}");
    let reply = send_with(&proxied.app, PRIVATE, &authorization, &[&proof], &forwarded).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    let proof = key.proof("GET", &format!("https://evil.example{PRIVATE}"), &token);
    let reply = send_with(&proxied.app, PRIVATE, &authorization, &[&proof], &[]).await;
    assert_proof_refused(&reply, DpopProblem::UnknownUri);
}

/// Server nonces: a proof without the API's nonce gets 401 `use_dpop_nonce` and a
/// `DPoP-Nonce`; the next proof with it passes; a forged nonce gets a fresh one.
#[tokio::test]
async fn server_nonces_are_required_when_enabled() {
    let api = api(Dpop::allowed().public_url(BASE).nonces([9u8; 32])).await;
    let key = DpopProof::generate();
    let token = api.bound_token(&key);
    let proof = key.proof("GET", &url(PRIVATE), &token);
    let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
    let nonce = reply
        .header(HeaderName::from_static("dpop-nonce"))
        .expect("a DPoP-Nonce header")
        .to_owned();
    assert_dpop_refusal(
        &reply,
        &AuthError::UseDpopNonce {
            nonce: nonce.clone(),
        },
        true,
    );
    let proof = key
        .clone()
        .nonce(&nonce)
        .proof("GET", &url(PRIVATE), &token);
    let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    let forged = key
        .clone()
        .nonce("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .proof("GET", &url(PRIVATE), &token);
    let reply = api.send_dpop(PRIVATE, &token, &[&forged]).await;
    assert_eq!(reply.param("error").as_deref(), None, "Bearer stays bare");
    assert_eq!(
        reply.header(HeaderName::from_static("dpop-nonce")),
        Some(nonce.as_str())
    );
}

/// A replay store that always fails.
struct Unreachable;

impl ReplayStore for Unreachable {
    fn insert_once<'a>(
        &'a self,
        _proof: &'a ReplayKey,
        _ttl: Duration,
    ) -> BoxFuture<'a, Result<ReplayVerdict, ReplayStoreError>> {
        Box::pin(async { Err(ReplayStoreError("connection refused".into())) })
    }
}

/// A replay store across a network: it records the key when asked, then answers later (its
/// first poll is pending), as a Redis round trip does.
#[derive(Default)]
struct Remote {
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
    requests: std::sync::atomic::AtomicUsize,
}

impl ReplayStore for Remote {
    fn insert_once<'a>(
        &'a self,
        proof: &'a ReplayKey,
        _ttl: Duration,
    ) -> BoxFuture<'a, Result<ReplayVerdict, ReplayStoreError>> {
        Box::pin(async move {
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let fresh = self.seen.lock().unwrap().insert(proof.key().to_owned());
            tokio::task::yield_now().await;
            Ok(if fresh {
                ReplayVerdict::Fresh
            } else {
                ReplayVerdict::Replayed
            })
        })
    }
}

/// A store that answers later is asked once per proof: a fresh proof passes, its replay is
/// refused.
#[tokio::test]
async fn a_store_that_answers_later_is_asked_once_per_proof() {
    let store = Arc::new(Remote::default());
    let api = api(Dpop::allowed().public_url(BASE).replay_store(store.clone())).await;
    let key = DpopProof::generate();
    let token = api.bound_token(&key);
    let proof = key.proof("GET", &url(PRIVATE), &token);
    let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    assert_eq!(store.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    let replay = api.send_dpop(PRIVATE, &token, &[&proof]).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        replay.body["error_description"],
        DpopProblem::Replayed.to_string()
    );
    assert_eq!(store.requests.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A failing replay store: 503 with `Retry-After` (fail closed), or a pass when configured to
/// fail open. The in-memory store's bound holds through the layer: when it is full of live
/// proofs, new ones get the same 503 rather than a store that forgets.
#[tokio::test]
async fn a_failing_or_full_replay_store_fails_closed_unless_told_otherwise() {
    let key = DpopProof::generate();
    let closed = api(Dpop::allowed()
        .public_url(BASE)
        .replay_store(Arc::new(Unreachable)))
    .await;
    let token = closed.bound_token(&key);
    let proof = key.proof("GET", &url(PRIVATE), &token);
    let reply = closed.send_dpop(PRIVATE, &token, &[&proof]).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:#?}");
    assert_eq!(reply.header(header::RETRY_AFTER), Some("1"));
    assert_eq!(reply.body["error"], "temporarily_unavailable");

    let open = api(Dpop::allowed()
        .public_url(BASE)
        .replay_store(Arc::new(Unreachable))
        .replay_store_fail_open())
    .await;
    let token = open.bound_token(&key);
    let proof = key.proof("GET", &url(PRIVATE), &token);
    let reply = open.send_dpop(PRIVATE, &token, &[&proof]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");

    let store = Arc::new(MemoryReplayStore::with_capacity(16));
    let small = api(Dpop::allowed().public_url(BASE).replay_store(store.clone())).await;
    let token = small.bound_token(&key);
    let mut statuses = Vec::new();
    for _ in 0..64 {
        let proof = key.proof("GET", &url(PRIVATE), &token);
        statuses.push(small.send_dpop(PRIVATE, &token, &[&proof]).await.status);
        assert!(store.len() <= store.capacity());
    }
    assert!(statuses.contains(&StatusCode::OK));
    assert!(statuses.contains(&StatusCode::SERVICE_UNAVAILABLE));
}

/// The test issuer's token endpoint binds a token to the key of a DPoP proof (`token_type`
/// `DPoP`, `cnf.jkt`), refuses a bad proof with `invalid_dpop_proof`, and the API accepts the
/// bound token with a fresh proof only.
#[tokio::test]
async fn the_token_endpoint_binds_tokens_to_the_proof_key() {
    let api = api(Dpop::allowed().public_url(BASE)).await;
    let issuer = &api.fixture.issuer;
    let audience = bearer_guard::testing::DEFAULT_AUDIENCE;
    issuer.register_api(bearer_guard::testing::Api::new(audience).scopes([SCOPE]));
    issuer.register_client("client", "client-secret");
    issuer.grant("client", audience, [SCOPE]);
    let key = DpopProof::generate();
    let proof = key.token_request_proof(&issuer.token_endpoint());
    let issued = issuer
        .client_credentials_dpop("client", "client-secret", audience, None, &proof)
        .await
        .unwrap();
    assert_eq!(issued.token_type, "DPoP");
    let call = key.proof("GET", &url(PRIVATE), &issued.access_token);
    let reply = api.send_dpop(PRIVATE, &issued.access_token, &[&call]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    let bearer = send_token(&api.app, PRIVATE, &issued.access_token).await;
    assert_eq!(bearer.status, StatusCode::UNAUTHORIZED);

    let wrong_uri = key.token_request_proof("https://elsewhere.example/oauth/token");
    let refused = issuer
        .client_credentials_dpop("client", "client-secret", audience, None, &wrong_uri)
        .await
        .unwrap_err();
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (400, "invalid_dpop_proof")
    );
    let plain = issuer
        .client_credentials("client", "client-secret", audience, None)
        .await
        .unwrap();
    assert_eq!(plain.token_type, "Bearer");
}

/// RFC 9728: the metadata says which proof algorithms are accepted and whether DPoP is required.
#[tokio::test]
async fn the_metadata_describes_dpop() {
    let required = api(Dpop::required().public_url(BASE)).await;
    let document = ProtectedResourceMetadata::new(BASE)
        .authorization_servers_of(&required.fixture.validator)
        .to_json();
    assert_eq!(document["dpop_bound_access_tokens_required"], true);
    assert_eq!(
        document["dpop_signing_alg_values_supported"],
        json!(["ES256", "ES384", "PS256", "RS256", "EdDSA"])
    );
    let plain = Fixture::start().await;
    let document = ProtectedResourceMetadata::new(BASE)
        .authorization_servers_of(&plain.validator)
        .to_json();
    assert!(document.get("dpop_bound_access_tokens_required").is_none());
    assert!(document.get("dpop_signing_alg_values_supported").is_none());
}

/// RFC 8705: with mTLS on, a certificate-bound token passes with its certificate (from the
/// request extension, or from the trusted header behind a TLS-terminating proxy), and is
/// refused without one or with another.
#[tokio::test]
async fn certificate_bound_tokens_need_their_certificate() {
    let certificate: Vec<u8> = [0x30, 0x82, 0x01, 0x00]
        .into_iter()
        .chain(0..=255)
        .collect();
    let another: Vec<u8> = [0x30, 0x82, 0x01, 0x00]
        .into_iter()
        .chain((0..=255).rev())
        .collect();
    let header = HeaderName::from_static("x-client-cert");
    let api = api_with(|builder| builder.mtls(Mtls::new().trusted_header(header.clone()))).await;
    let token = api
        .fixture
        .token()
        .certificate_bound(&certificate_thumbprint(&certificate))
        .sign();
    let with_extension = |der: &[u8]| {
        let mut request = Request::get(PRIVATE)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ClientCertificate(der.to_vec().into()));
        request
    };
    let response = api
        .app
        .clone()
        .oneshot(with_extension(&certificate))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let expected = Binding::Mtls {
        x5t_s256: certificate_thumbprint(&certificate),
    };
    assert_eq!(body, format!("{expected:?}").as_bytes());
    let response = api
        .app
        .clone()
        .oneshot(with_extension(&another))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let bearer = format!("Bearer {token}");
    let pem = certificate_pem(&certificate).replace('\n', " ");
    let reply = send_with(&api.app, PRIVATE, &bearer, &[], &[("x-client-cert", &pem)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    let other_pem = certificate_pem(&another).replace('\n', " ");
    let reply = send_with(
        &api.app,
        PRIVATE,
        &bearer,
        &[],
        &[("x-client-cert", &other_pem)],
    )
    .await;
    reply.assert_invalid_token_for(TokenProblem::CertificateMismatch);
    let reply = send_with(&api.app, PRIVATE, &bearer, &[], &[]).await;
    reply.assert_invalid_token_for(TokenProblem::CertificateMissing);
}

// ---------------------------------------------------------------------------------------
// Issue 17: the replay store's shares, proof cost, warnings
// ---------------------------------------------------------------------------------------

/// `count` fresh proofs of `key` for `token`, sent one after the other: each proof and its
/// status.
async fn send_fresh(
    api: &Api,
    key: &DpopProof,
    token: &str,
    count: usize,
) -> Vec<(String, StatusCode)> {
    let mut sent = Vec::with_capacity(count);
    for _ in 0..count {
        let proof = key.proof("GET", &url(PRIVATE), token);
        let reply = api.send_dpop(PRIVATE, token, &[&proof]).await;
        sent.push((proof, reply.status));
    }
    sent
}

fn passed(sent: &[(String, StatusCode)]) -> usize {
    sent.iter()
        .filter(|(_, status)| *status == StatusCode::OK)
        .count()
}

/// Item 8: one client sending fresh proofs as fast as it can fills its own share of the
/// memory store (a tenth of it by default), never the store: another client's proofs keep
/// passing, and the abusive client's proofs past its share are refused with 503.
#[tokio::test]
async fn an_abusive_client_fills_its_own_share_and_no_one_elses() {
    let store = Arc::new(MemoryReplayStore::with_capacity(160));
    let api = api(Dpop::allowed().public_url(BASE).replay_store(store.clone())).await;
    let abuser = DpopProof::generate();
    let abusive_token = api.bound_token(&abuser);
    let sent = send_fresh(&api, &abuser, &abusive_token, 400).await;
    assert_eq!(passed(&sent), 16, "the abuser gets its share, no more");
    assert!(
        store.len() <= 16,
        "the abuser holds only its share: {}",
        store.len()
    );
    let refused: Vec<_> = sent.iter().filter(|(_, s)| *s != StatusCode::OK).collect();
    assert!(
        refused
            .iter()
            .all(|(_, s)| *s == StatusCode::SERVICE_UNAVAILABLE)
    );

    let client = DpopProof::generate();
    let token = api.bound_token(&client);
    let sent = send_fresh(&api, &client, &token, 10).await;
    assert_eq!(passed(&sent), 10, "another client is untouched: {sent:?}");
}

/// Item 8: a full share is never read as "allow", even with `replay_store_fail_open`: a
/// proof past the share is refused and not accepted later as a replay either.
#[tokio::test]
async fn a_full_store_never_fails_open() {
    let store = Arc::new(MemoryReplayStore::with_capacity(160));
    let api = api(Dpop::allowed()
        .public_url(BASE)
        .replay_store(store.clone())
        .replay_store_fail_open())
    .await;
    let abuser = DpopProof::generate();
    let token = api.bound_token(&abuser);
    let sent = send_fresh(&api, &abuser, &token, 400).await;
    assert_eq!(passed(&sent), 16, "fail open does not open a full share");
    for (proof, _) in &sent {
        let replay = api.send_dpop(PRIVATE, &token, &[proof]).await;
        assert_ne!(
            replay.status,
            StatusCode::OK,
            "a replay passed: {replay:#?}"
        );
    }
}

/// Item 8: the key's thumbprint is part of the replay key: two clients whose proofs carry
/// the same `jti` for the same URI do not collide.
#[tokio::test]
async fn equal_jti_of_two_clients_do_not_collide() {
    let api = api(Dpop::allowed().public_url(BASE)).await;
    for _ in 0..2 {
        let key = DpopProof::generate().claim("jti", "the-same-jti");
        let token = api.bound_token(&key);
        let proof = key.proof("GET", &url(PRIVATE), &token);
        let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
        let again = api.send_dpop(PRIVATE, &token, &[&proof]).await;
        assert_proof_refused(&again, DpopProblem::Replayed);
    }
}

/// Item 10: the thumbprint of the proof's `jwk` is compared with `cnf.jkt` before the key is
/// parsed or any signature verified: a proof carrying a key that is not the bound one is a
/// key mismatch whatever that key is (weak, huge, ROCA-like, not a key at all).
#[tokio::test]
async fn a_proof_key_that_is_not_the_bound_key_is_a_mismatch_before_any_work() {
    use base64::Engine;
    let api = api(Dpop::allowed().public_url(BASE)).await;
    let key = DpopProof::generate_for(Algorithm::RS256);
    let token = api.bound_token(&key);
    let modulus = |bytes: usize| {
        let mut n = vec![0xffu8; bytes];
        n[0] = 0xc1;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n)
    };
    let foreign = [
        json!({"kty": "RSA", "n": modulus(64), "e": "AQAB"}),
        json!({"kty": "RSA", "n": modulus(1024), "e": "AQAB"}),
        json!({"kty": "RSA", "n": "not base64 at all!", "e": "AQAB"}),
        json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}),
    ];
    for jwk in foreign {
        let proof = key
            .clone()
            .header("jwk", jwk.clone())
            .proof("GET", &url(PRIVATE), &token);
        let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
        assert_proof_refused(&reply, DpopProblem::KeyMismatch);
    }
}

/// Item 12: a replay store error logs a warning, and a flood of them during an outage is
/// rate-limited (at most one a second), fail open or closed.
#[tokio::test(flavor = "current_thread")]
async fn replay_store_errors_warn_at_a_bounded_rate() {
    let logs = common::Logs::capture();
    let key = DpopProof::generate();
    for dpop in [Dpop::allowed(), Dpop::allowed().replay_store_fail_open()] {
        logs.clear();
        let api = api(dpop.public_url(BASE).replay_store(Arc::new(Unreachable))).await;
        let token = api.bound_token(&key);
        let started = std::time::Instant::now();
        for _ in 0..200 {
            let proof = key.proof("GET", &url(PRIVATE), &token);
            let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
            assert_ne!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
        }
        let warned = logs.count(tracing::Level::WARN);
        let seconds = usize::try_from(started.elapsed().as_secs()).unwrap();
        assert!(warned >= 1, "a store error must warn");
        // One a wall-clock second: a run of `seconds` whole seconds touches at most
        // `seconds + 2` of them (it may start just before a second turns).
        assert!(warned <= seconds + 2, "{warned} warnings in {seconds} s");
    }
}

/// Item 8, under load: an abusive client sends fresh proofs from three tasks as fast as it
/// can, well past its share of the default store (20,000 proofs), while two well-behaved
/// clients send a request every 10 ms. Every well-behaved request passes, before and after
/// the abuser is cut off; the abuser gets exactly its share. Bounded: 30,000 abusive
/// requests or 60 s, in-process (no network).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abusive_client_at_full_speed_leaves_well_behaved_clients_untouched() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    const ABUSIVE_REQUESTS: usize = 30_000;
    let api = Arc::new(api(Dpop::allowed().public_url(BASE)).await);
    let share = MemoryReplayStore::default().share();
    let abuser = DpopProof::generate();
    let abusive_token = api.bound_token(&abuser);
    let sent = Arc::new(AtomicUsize::new(0));
    let (passed, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let done = Arc::new(AtomicBool::new(false));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let abusive: Vec<_> = (0..3)
        .map(|_| {
            let (api, abuser, token) = (api.clone(), abuser.clone(), abusive_token.clone());
            let (sent, passed, refused) = (sent.clone(), passed.clone(), refused.clone());
            tokio::spawn(async move {
                while sent.fetch_add(1, SeqCst) < ABUSIVE_REQUESTS
                    && std::time::Instant::now() < deadline
                {
                    // In process, a request never waits for I/O: without this the abusive
                    // tasks would hold both workers, as a server's connections never do.
                    tokio::task::yield_now().await;
                    let proof = abuser.proof("GET", &url(PRIVATE), &token);
                    let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
                    match reply.status {
                        StatusCode::OK => passed.fetch_add(1, SeqCst),
                        StatusCode::SERVICE_UNAVAILABLE => refused.fetch_add(1, SeqCst),
                        other => panic!("the abuser got {other}"),
                    };
                }
            })
        })
        .collect();
    let polite: Vec<_> = (0..2)
        .map(|_| {
            let (api, refused, done) = (api.clone(), refused.clone(), done.clone());
            tokio::spawn(async move {
                let key = DpopProof::generate();
                let token = api.bound_token(&key);
                let mut pace = tokio::time::interval(Duration::from_millis(10));
                let (mut statuses, mut latencies, mut after_cutoff) = (Vec::new(), Vec::new(), 0);
                while !done.load(SeqCst) {
                    pace.tick().await;
                    let cut_off = refused.load(SeqCst) > 0;
                    let proof = key.proof("GET", &url(PRIVATE), &token);
                    let started = std::time::Instant::now();
                    let reply = api.send_dpop(PRIVATE, &token, &[&proof]).await;
                    latencies.push(started.elapsed());
                    statuses.push(reply.status);
                    after_cutoff += usize::from(cut_off);
                }
                (statuses, latencies, after_cutoff)
            })
        })
        .collect();
    for task in abusive {
        task.await.unwrap();
    }
    // The well-behaved clients keep going a little after the abuser stops; their requests
    // while it was refused are what the test is about (counted below).
    done.store(true, SeqCst);
    let (mut statuses, mut latencies, mut after_cutoff) = (Vec::new(), Vec::new(), 0);
    for task in polite {
        let (s, l, a) = task.await.unwrap();
        statuses.extend(s);
        latencies.extend(l);
        after_cutoff += a;
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    eprintln!(
        "abuser: {} passed, {} refused (503); well-behaved: {ok}/{} passed ({} while the abuser \
         was refused), latency p50 {:?} p99 {:?} max {:?}",
        passed.load(SeqCst),
        refused.load(SeqCst),
        statuses.len(),
        after_cutoff,
        at(0.5),
        at(0.99),
        at(1.0),
    );
    assert_eq!(
        passed.load(SeqCst),
        share,
        "the abuser gets its share, no more"
    );
    assert!(refused.load(SeqCst) > 0, "the abuser went past its share");
    assert!(
        after_cutoff >= 20,
        "well-behaved traffic during the cut-off: {after_cutoff}"
    );
    assert_eq!(
        ok,
        statuses.len(),
        "every well-behaved request passes: {statuses:?}"
    );
}
