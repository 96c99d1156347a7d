//! What an opaque token costs against a JWT: a hit of the introspection result cache against
//! a hit of the verified-token cache (both through `Validator::validate`, same claims), and a
//! miss, which is one introspection call to the test issuer on loopback.
//!
//! Cases (criterion ids `introspection/...`):
//! - `jwt_cached`: an RS256 token already verified twice (so in the verified-token cache);
//! - `opaque_cached`: an opaque token already introspected (in the result cache);
//! - `opaque_miss_loopback`: the result cache off (`token_cache_bytes(0)`): every call is a
//!   `POST /oauth/introspect` to the loopback test issuer, answered and checked;
//! - `jwt_uncached`: the same RS256 token with the token cache off (a signature check), for
//!   scale.
//!
//! After criterion, each case is timed again with `Instant` (best of five rounds) and the
//! ratios are printed.
//!
//! ```text
//! cargo bench --bench introspection
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use bearer_guard::Validator;
use bearer_guard::testing::TestIssuer;
use criterion::{Criterion, criterion_group};
use tokio::runtime::Runtime;

const API_CLIENT: (&str, &str) = ("bench-api", "bench-api-secret-0123456789abcdef");

struct Setup {
    _issuer: TestIssuer,
    cases: Vec<(&'static str, Validator, String)>,
}

fn setup(rt: &Runtime) -> Setup {
    rt.block_on(async {
        let issuer = TestIssuer::start().await;
        issuer.register_client(API_CLIENT.0, API_CLIENT.1);
        let jwt = issuer.token().scope("read:messages").sign();
        let opaque = issuer.opaque_token().scope("read:messages").issue();
        let jwt_validator = issuer.validator().build().unwrap();
        let jwt_uncached = issuer.validator().token_cache_bytes(0).build().unwrap();
        let introspecting = issuer
            .validator()
            .introspection(API_CLIENT.0, API_CLIENT.1)
            .build()
            .unwrap();
        let uncached = issuer
            .validator()
            .introspection(API_CLIENT.0, API_CLIENT.1)
            .token_cache_bytes(0)
            .build()
            .unwrap();
        let cases = vec![
            ("jwt_cached", jwt_validator, jwt.clone()),
            ("opaque_cached", introspecting, opaque.clone()),
            ("opaque_miss_loopback", uncached, opaque),
            ("jwt_uncached", jwt_uncached, jwt),
        ];
        // Warm: key sets fetched, endpoints discovered, tokens cached.
        for (name, validator, token) in &cases {
            for _ in 0..3 {
                validator
                    .validate(token)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
        Setup {
            _issuer: issuer,
            cases,
        }
    })
}

fn bench(c: &mut Criterion, rt: &Runtime, setup: &Setup) {
    let mut group = c.benchmark_group("introspection");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (name, validator, token) in &setup.cases {
        group.bench_function(*name, |b| {
            b.to_async(rt)
                .iter(|| async { black_box(validator.validate(token).await.is_ok()) });
        });
    }
    group.finish();
}

/// The best of five rounds of `calls` validations, per call.
fn time(rt: &Runtime, validator: &Validator, token: &str, calls: u32) -> Duration {
    (0..5)
        .map(|_| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..calls {
                    black_box(validator.validate(token).await.is_ok());
                }
                started.elapsed() / calls
            })
        })
        .min()
        .unwrap_or_default()
}

fn ratios(rt: &Runtime, setup: &Setup) {
    let timed: Vec<(&str, Duration)> = setup
        .cases
        .iter()
        .map(|(name, validator, token)| {
            let calls = if name.contains("miss") { 500 } else { 20_000 };
            (*name, time(rt, validator, token, calls))
        })
        .collect();
    let floor = timed[0].1.as_secs_f64();
    println!("\n| case | per call | ratio to jwt_cached |\n|---|---|---|");
    for (name, per_call) in &timed {
        println!(
            "| {name} | {per_call:?} | {:.1}x |",
            per_call.as_secs_f64() / floor
        );
    }
}

criterion_group!(benches, run);

fn run(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let setup = setup(&rt);
    bench(c, &rt, &setup);
    ratios(&rt, &setup);
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
