//! What bearer-guard costs per request, against the floor: jsonwebtoken's own `decode` of the
//! same token with the same issuer and audience checks.
//!
//! For RS256 (a key set from a loopback [`TestIssuer`], warmed up) and HS256, on one token:
//! - `jsonwebtoken_decode`: `jsonwebtoken::decode` with a `DecodingKey` built once;
//! - `validator`: `Validator::validate` with the verified-token cache off, so every call checks
//!   the signature (what a token seen for the first time costs);
//! - `validator_cached`: the same with the default cache: the token is a cache hit;
//! - `layer`, `layer_cached`: the whole request through an axum `Router` with `BearerLayer`
//!   (tower `oneshot`), with either validator;
//! - `router_only`: the same router without the layer, for reference.
//!
//! After the criterion groups, the same cases are timed again with `Instant` in this process
//! and the ratios to the raw decode are printed (`RS256 layer/raw = x.xx`).
//!
//! ```text
//! cargo bench --bench layer -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::routing::get;
use bearer_guard::testing::{DEFAULT_AUDIENCE, TestIssuer, TokenBuilder};
use bearer_guard::{BearerLayer, Validator, ValidatorBuilder};
use criterion::Criterion;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const HS256_SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret!";

/// One algorithm's token, validators, routers and jsonwebtoken baseline.
struct Case {
    name: &'static str,
    token: String,
    authorization: HeaderValue,
    /// Token cache off: every call verifies the signature.
    validator: Validator,
    /// Default token cache: after the warm-up, every call is a hit.
    cached: Validator,
    app: Router,
    app_cached: Router,
    bare: Router,
    key: DecodingKey,
    validation: Validation,
}

impl Case {
    fn new(
        alg: Algorithm,
        issuer: &str,
        token: String,
        builder: ValidatorBuilder,
        key: DecodingKey,
    ) -> Self {
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[DEFAULT_AUDIENCE]);
        let validator = builder.clone().token_cache_capacity(0).build().unwrap();
        let cached = builder.build().unwrap();
        let bare = Router::new().route("/api/private", get(|| async { "private" }));
        Case {
            name: if alg == Algorithm::HS256 {
                "HS256"
            } else {
                "RS256"
            },
            authorization: HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            app: bare.clone().layer(BearerLayer::new(validator.clone())),
            app_cached: bare.clone().layer(BearerLayer::new(cached.clone())),
            token,
            validator,
            cached,
            bare,
            key,
            validation,
        }
    }

    fn raw_decode(&self) -> jsonwebtoken::TokenData<Value> {
        jsonwebtoken::decode::<Value>(&self.token, &self.key, &self.validation).expect("raw decode")
    }

    async fn validate(&self, validator: &Validator) -> bearer_guard::VerifiedClaims {
        validator.validate(&self.token).await.expect("validate")
    }

    async fn through(&self, app: &Router) -> StatusCode {
        let request = Request::get("/api/private")
            .header(header::AUTHORIZATION, self.authorization.clone())
            .body(Body::empty())
            .unwrap();
        app.clone().oneshot(request).await.unwrap().status()
    }
}

fn setup(rt: &Runtime) -> (TestIssuer, Vec<Case>) {
    rt.block_on(async {
        let issuer = TestIssuer::start().await;
        let jwk = issuer.signing_key().jwk();
        let rsa_key = DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let rs256 = Case::new(
            Algorithm::RS256,
            issuer.issuer(),
            issuer.token().scope("read:messages").sign(),
            issuer.validator(),
            rsa_key,
        );
        let hs256 = Case::new(
            Algorithm::HS256,
            issuer.issuer(),
            TokenBuilder::hs256(HS256_SECRET)
                .issuer(issuer.issuer())
                .audience(DEFAULT_AUDIENCE)
                .claim("sub", "bench-client@clients")
                .claim("iat", unix_now())
                .expires_in_secs(3600)
                .scope("read:messages")
                .sign(),
            issuer.validator().hs256_secret(HS256_SECRET),
            DecodingKey::from_secret(HS256_SECRET),
        );
        let cases = vec![rs256, hs256];
        // Warm up: the key sets are fetched and the token cached here, never while measuring.
        for case in &cases {
            case.raw_decode();
            case.validate(&case.validator).await;
            case.validate(&case.cached).await;
            for app in [&case.app, &case.app_cached, &case.bare] {
                assert_eq!(case.through(app).await, StatusCode::OK);
            }
        }
        (issuer, cases)
    })
}

fn unix_now() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |elapsed| elapsed.as_secs())
}

fn criterion_groups(c: &mut Criterion, rt: &Runtime, cases: &[Case]) {
    for case in cases {
        let mut group = c.benchmark_group(case.name);
        group.bench_function("jsonwebtoken_decode", |b| {
            b.iter(|| black_box(case.raw_decode()))
        });
        group.bench_function("validator", |b| {
            b.to_async(rt).iter(|| case.validate(&case.validator))
        });
        group.bench_function("validator_cached", |b| {
            b.to_async(rt).iter(|| case.validate(&case.cached))
        });
        group.bench_function("layer", |b| b.to_async(rt).iter(|| case.through(&case.app)));
        group.bench_function("layer_cached", |b| {
            b.to_async(rt).iter(|| case.through(&case.app_cached))
        });
        group.bench_function("router_only", |b| {
            b.to_async(rt).iter(|| case.through(&case.bare))
        });
        group.finish();
    }
}

/// Mean time per call over `n` calls, in microseconds.
fn time_sync(n: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

async fn time_validate(n: u32, case: &Case, validator: &Validator) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        black_box(case.validate(validator).await);
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

async fn time_layer(n: u32, case: &Case, app: &Router) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        black_box(case.through(app).await);
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

/// The same cases timed by hand, `ROUNDS` rounds of `n` calls each (median kept), and the
/// ratios to the raw decode.
fn ratios(rt: &Runtime, cases: &[Case]) {
    const ROUNDS: usize = 5;
    println!("\nsame-process timing, mean per call (median of {ROUNDS} rounds):");
    for case in cases {
        let n: u32 = if case.name == "HS256" { 50_000 } else { 10_000 };
        let mut samples: [Vec<f64>; 6] = Default::default();
        for _ in 0..ROUNDS {
            samples[0].push(time_sync(n, || {
                black_box(case.raw_decode());
            }));
            rt.block_on(async {
                samples[1].push(time_validate(n, case, &case.validator).await);
                samples[2].push(time_validate(n, case, &case.cached).await);
                samples[3].push(time_layer(n, case, &case.app).await);
                samples[4].push(time_layer(n, case, &case.app_cached).await);
                samples[5].push(time_layer(n, case, &case.bare).await);
            });
        }
        let [raw, validator, cached, layer, layer_cached, bare] = samples.map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[ROUNDS / 2]
        });
        let name = case.name;
        println!(
            "{name}: raw decode {raw:.2} us | validator {validator:.2} us (cached {cached:.2}) \
             | layer {layer:.2} us (cached {layer_cached:.2}) | router only {bare:.2} us"
        );
        println!("{name} validator/raw = {:.2}", validator / raw);
        println!("{name} layer/raw = {:.2}", layer / raw);
        println!(
            "{name} validator (token cache hit)/raw = {:.2}",
            cached / raw
        );
        println!(
            "{name} layer (token cache hit)/raw = {:.2}",
            layer_cached / raw
        );
    }
}

fn main() {
    // Both jsonwebtoken backends may be compiled in (--all-features): pick one for `decode`.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_issuer, cases) = setup(&rt);

    let mut c = Criterion::default().configure_from_args();
    criterion_groups(&mut c, &rt, &cases);
    c.final_summary();

    // `cargo bench` passes --bench; without it (cargo test --benches) criterion only runs
    // each case once, and so do we.
    let args: Vec<String> = std::env::args().collect();
    let benchmarking =
        args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list");
    if benchmarking {
        ratios(&rt, &cases);
    }
}
