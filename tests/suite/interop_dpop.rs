//! Interop, DPoP (RFC 9449): a DPoP-bound access token from a real, independent authorization
//! server (oidc-provider, tests/interop/provider.mjs, started by the test), obtained with a
//! real proof at its token endpoint, then used at the API through an axum router with
//! `BearerLayer`: a fresh proof passes, a replayed proof and the token as a bearer token are
//! refused. Needs Node.js >= 20 and npm (see tests/common/oidc_provider.rs).

use crate::common;

use bearer_guard::dpop::Dpop;
use bearer_guard::testing::DpopProof;
use bearer_guard::{Validator, error::DpopProblem, error::TokenProblem};
use common::oidc_provider::{API, CLIENT, Provider, ProviderOptions, READ};
use common::{PRIVATE, Reply, SCOPED, app, get_with, segment_json, send_token};
use http::{HeaderName, StatusCode, header};
use serde_json::json;

/// Where the API says it is: the base of every proof's `htu`.
const PUBLIC_URL: &str = "https://api.example.com";

/// `GET path` with `Authorization: DPoP {token}` and `DPoP: {proof}`.
async fn call(app: &axum::Router, path: &str, token: &str, proof: &str) -> Reply {
    let authorization = format!("DPoP {token}");
    let headers = [
        (header::AUTHORIZATION, authorization.as_bytes()),
        (HeaderName::from_static("dpop"), proof.as_bytes()),
    ];
    get_with(app, path, &headers).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_dpop_bound_tokens_need_a_fresh_proof_of_their_key() {
    let provider = Provider::start(&ProviderOptions::default());
    let endpoint = provider.token_endpoint().await;
    let metadata = provider.discovery().await;
    assert!(
        metadata["dpop_signing_alg_values_supported"]
            .as_array()
            .is_some_and(|algs| algs.contains(&json!("ES256"))),
        "{metadata}"
    );

    // The token request, with a proof for the token endpoint: a token bound to the key.
    let key = DpopProof::generate();
    let proof = key.token_request_proof(&endpoint);
    let (status, response) = provider
        .token_request(CLIENT, READ, Some(API), Some(&proof))
        .await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["token_type"], "DPoP", "{response}");
    let token = response["access_token"].as_str().expect("access_token");
    let payload = segment_json(token, 1);
    assert_eq!(payload["cnf"]["jkt"], key.jkt(), "{payload}");

    // A proof the provider refuses (signed by another key than the one it shows).
    let forged = key
        .clone()
        .signed_by(&DpopProof::generate())
        .token_request_proof(&endpoint);
    let (status, refusal) = provider
        .token_request(CLIENT, READ, Some(API), Some(&forged))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refusal}");
    assert_eq!(refusal["error"], "invalid_dpop_proof", "{refusal}");

    let validator = Validator::builder()
        .issuer(provider.issuer.as_str())
        .audience(API)
        .dpop(Dpop::allowed().public_url(PUBLIC_URL))
        .build()
        .expect("valid configuration");
    let app = app(validator);
    let proof_for = |path: &str| key.proof("GET", &format!("{PUBLIC_URL}{path}"), token);

    // A fresh proof: 200, with the provider's claims.
    let proof = proof_for(PRIVATE);
    let reply = call(&app, PRIVATE, token, &proof).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.summary());
    assert_eq!(reply.body["client_id"], CLIENT.0);
    assert_eq!(reply.body["all"]["cnf"]["jkt"], key.jkt());

    // The same proof again: 401 invalid_dpop_proof (a replay).
    let replay = call(&app, PRIVATE, token, &proof).await;
    assert_eq!(
        replay.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        replay.summary()
    );
    assert_eq!(replay.body["error"], "invalid_dpop_proof");
    assert_eq!(
        replay.body["error_description"],
        DpopProblem::Replayed.to_string()
    );

    // The token as a bearer token (a stolen copy without the key): 401 invalid_token.
    let reply = send_token(&app, PRIVATE, token).await;
    reply.assert_invalid_token_for(TokenProblem::DpopBound);

    // Another fresh proof, for a route with a scope the token has: 200 again.
    let reply = call(&app, SCOPED, token, &proof_for(SCOPED)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.summary());

    // A plain bearer token of the same provider still passes in `allowed` mode.
    let bearer = provider.access_token(CLIENT, READ).await;
    assert_eq!(segment_json(&bearer, 1).get("cnf"), None);
    let reply = send_token(&app, PRIVATE, &bearer).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.summary());
}
