//! What a DPoP request costs against a bearer request: the same claims through the same axum
//! `Router` and `BearerLayer` (token cache on, the token cached), once as a plain bearer token
//! and once bound to an ES256 key (`cnf.jkt`) with a fresh proof per request; and the floor a
//! DPoP request cannot go below, the ES256 verification of the proof's signature alone
//! (aws-lc-rs, key parsed once); and the refusal of a proof that carries another key than the
//! bound one (an RSA-2048 key), which is decided by its thumbprint before any parsing.
//!
//! ```text
//! cargo bench --bench dpop
//! ```
//!
//! Proofs are made outside the timed part (criterion's `iter_batched`): each request gets a
//! new one, as the replay check requires.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use axum::body::Body;
use axum::routing::get;
use axum::{Router, http::Request};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::dpop::{Dpop, MemoryReplayStore};
use bearer_guard::testing::{DpopProof, TestIssuer};
use bearer_guard::{Algorithm, BearerLayer, Validator};
use criterion::{BatchSize, Criterion};
use tower::ServiceExt;

const BASE: &str = "https://api.example.com";
const PATH: &str = "/api/private";

fn router(validator: Validator) -> Router {
    Router::new()
        .route(PATH, get(|| async { "private" }))
        .layer(BearerLayer::new(validator))
}

async fn call(app: &Router, authorization: &str, proof: Option<&str>) {
    call_expecting(app, authorization, proof, 200).await;
}

async fn call_expecting(app: &Router, authorization: &str, proof: Option<&str>, status: u16) {
    let mut request = Request::get(PATH).header("authorization", authorization);
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), status);
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let issuer = rt.block_on(TestIssuer::start());
    let validator = issuer
        .validator()
        // One key sends every proof of the run (hundreds of thousands): the default store
        // would refuse it past its share (20,000 a window), so the share is the whole store.
        .dpop(Dpop::allowed().public_url(BASE).replay_store(Arc::new(
            MemoryReplayStore::with_capacity(4_000_000).with_share(4_000_000),
        )))
        .build()
        .unwrap();
    rt.block_on(validator.warm_up()).unwrap();
    let app = router(validator);
    let key = DpopProof::generate();
    let bearer = format!("Bearer {}", issuer.token().scope("read:messages").sign());
    let bound = issuer
        .token()
        .scope("read:messages")
        .dpop_bound(&key.jkt())
        .sign();
    let dpop = format!("DPoP {bound}");
    let url = format!("{BASE}{PATH}");
    // Warm the token cache (a token enters it the second time it verifies).
    for _ in 0..3 {
        rt.block_on(call(&app, &bearer, None));
        rt.block_on(call(&app, &dpop, Some(&key.proof("GET", &url, &bound))));
    }

    // The floor: the proof's ES256 signature, verified with a key parsed once.
    let proof = key.proof("GET", &url, &bound);
    let (signing_input, signature) = proof.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let jwk = key.jwk();
    let coordinate = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    let point = [vec![4], coordinate("x"), coordinate("y")].concat();
    let public_key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point);

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = c.benchmark_group("dpop");
    group.bench_function("es256_proof_signature_floor", |b| {
        b.iter(|| {
            public_key
                .verify(signing_input.as_bytes(), &signature)
                .unwrap()
        })
    });
    group.bench_function("bearer_layer_cached", |b| {
        b.iter(|| rt.block_on(call(&app, &bearer, None)))
    });
    group.bench_function("dpop_layer_cached", |b| {
        b.iter_batched(
            || key.proof("GET", &url, &bound),
            |proof| rt.block_on(call(&app, &dpop, Some(&proof))),
            BatchSize::SmallInput,
        )
    });
    // A proof carrying another client's key (RSA-2048) for this bound token: refused (401).
    // A refused proof is not recorded, so the same one is sent every time.
    let stranger = DpopProof::generate_for(Algorithm::RS256).proof("GET", &url, &bound);
    group.bench_function("dpop_foreign_rsa_key_refused", |b| {
        b.iter(|| rt.block_on(call_expecting(&app, &dpop, Some(&stranger), 401)))
    });
    group.finish();
    c.final_summary();
}
