//! What both benchmark targets measure: the groups of cases (RS256, ES256, HS256, the
//! concurrent RS256 cases, key set sizes, token sizes) on warmed-up validators, and how one
//! case is timed. `layer.rs` runs them under criterion, `ratios.rs` times them again in
//! interleaved rounds and prints the ratio table.

// Each bench target uses a different subset (only `ratios` sizes its own rounds).
#![allow(dead_code)]

pub mod chart;
pub mod paths;
mod setup;
mod signing;

pub use setup::setup;
use setup::warm;
use signing::{Signer, claims, ec_jwk, fake_rsa_jwk};

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::{DEFAULT_AUDIENCE, SigningKey, TestIssuer, TokenBuilder};
use bearer_guard::{Algorithm, BearerLayer, Validator, ValidatorBuilder};
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const HS256_SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret!";
/// Rounds of the `Instant` timing; the best and the median are kept.
pub const ROUNDS: usize = 9;
/// How long one round of one case should take.
pub const ROUND_TIME: Duration = Duration::from_millis(30);
/// Calls per round for the new-token cases (their tokens are minted up front, each used once).
const NEW_TOKEN_CALLS: usize = 400;
/// The verified-token cache budget of the `layer_new_token_full_cache` cases.
const FULL_CACHE_BYTES: u64 = 1 << 20;
/// Tokens that fill [`FULL_CACHE_BYTES`] (about 400 of them fit) before those cases run.
const FILL_TOKENS: usize = 1000;

/// A token and its `Authorization` header value.
#[derive(Clone)]
pub struct Token {
    pub text: Arc<str>,
    authorization: HeaderValue,
}

impl Token {
    fn new(text: String) -> Self {
        Token {
            authorization: HeaderValue::from_str(&format!("Bearer {text}")).unwrap(),
            text: text.into(),
        }
    }

    /// A DPoP proof, its header value made up front as a token's is.
    fn proof(text: String) -> Self {
        Token {
            authorization: HeaderValue::from_str(&text).unwrap(),
            text: text.into(),
        }
    }

    /// The size of the decoded payload.
    fn payload_bytes(&self) -> usize {
        let payload = self.text.split('.').nth(1).unwrap_or_default();
        URL_SAFE_NO_PAD.decode(payload).map_or(0, |p| p.len())
    }
}

/// What a case calls once per iteration.
#[derive(Clone)]
pub enum Target {
    /// `jsonwebtoken::decode` with a key parsed once: the floor.
    Raw(Arc<(DecodingKey, Validation)>),
    Validator(Validator),
    /// A router, with or without `BearerLayer`.
    Layer(Router),
    /// A synchronous check of the token (a floor: the signature alone, a map lookup).
    Check(Arc<dyn Fn(&Token) + Send + Sync>),
    /// A DPoP request through a router with `BearerLayer`: this `Authorization` value (a
    /// bound token), and the call's token as the `DPoP` proof (a new one each call).
    Dpop(Router, HeaderValue),
}

impl Target {
    fn raw(alg: Algorithm, issuer: &str, key: DecodingKey) -> Self {
        let mut validation = Validation::new(alg.name().parse().expect("jsonwebtoken knows it"));
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[DEFAULT_AUDIENCE]);
        Target::Raw(Arc::new((key, validation)))
    }

    /// The route behind `BearerLayer`, or bare.
    fn layer(validator: Option<&Validator>) -> Self {
        let app = Router::new().route("/api/private", get(|| async { "private" }));
        Target::Layer(match validator {
            Some(validator) => app.layer(BearerLayer::new(validator.clone())),
            None => app,
        })
    }

    async fn once(&self, token: &Token) {
        match self {
            Target::Raw(raw) => {
                let (key, validation) = &**raw;
                let data = jsonwebtoken::decode::<Value>(&*token.text, key, validation);
                black_box(data.expect("raw decode"));
            }
            Target::Validator(validator) => {
                black_box(validator.validate(&token.text).await.expect("validate"));
            }
            Target::Layer(app) => {
                let request = Request::get("/api/private")
                    .header(header::AUTHORIZATION, token.authorization.clone())
                    .body(Body::empty())
                    .unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            }
            Target::Check(check) => check(token),
            Target::Dpop(app, authorization) => {
                let request = Request::get("/api/private")
                    .header(header::AUTHORIZATION, authorization.clone())
                    .header("dpop", token.authorization.clone())
                    .body(Body::empty())
                    .unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            }
        }
    }
}

/// `n` calls, cycling through `tokens`.
async fn run(target: &Target, tokens: &[Token], n: u64) -> Duration {
    let start = Instant::now();
    for token in tokens.iter().cycle().take(n as usize) {
        target.once(token).await;
    }
    start.elapsed()
}

/// `n` calls spread over one thread per runtime of `runtimes`, started together; the time
/// from the first start to the last end.
fn run_concurrent(target: &Target, tokens: &[Token], n: u64, runtimes: &[Runtime]) -> Duration {
    let threads = runtimes.len();
    let ready = AtomicUsize::new(0);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let workers: Vec<_> = runtimes
            .iter()
            .enumerate()
            .map(|(index, runtime)| {
                let share = n / threads as u64 + u64::from((index as u64) < n % threads as u64);
                let ready = &ready;
                scope.spawn(move || {
                    ready.fetch_add(1, Ordering::SeqCst);
                    while ready.load(Ordering::SeqCst) < threads {
                        std::hint::spin_loop();
                    }
                    let start = Instant::now();
                    runtime.block_on(run(target, tokens, share));
                    (start, Instant::now())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("benchmark thread"))
            .collect()
    });
    let first = spans.iter().map(|span| span.0).min().unwrap();
    let last = spans.iter().map(|span| span.1).max().unwrap();
    last - first
}

/// `n` calls spread over `tasks` tasks spawned together on the multi-threaded `runtime`
/// (one worker per core); the time from before the first spawn to the last task's end.
fn run_tasks(
    target: &Target,
    tokens: &[Token],
    n: u64,
    tasks: usize,
    runtime: &Runtime,
) -> Duration {
    runtime.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|index| {
                let share = n / tasks as u64 + u64::from((index as u64) < n % tasks as u64);
                let (target, tokens) = (target.clone(), tokens.to_vec());
                tokio::spawn(async move { run(&target, &tokens, share).await })
            })
            .collect();
        for handle in handles {
            handle.await.expect("benchmark task");
        }
        start.elapsed()
    })
}

pub struct Runtimes {
    /// Sequential cases.
    pub current: Runtime,
    /// The `concurrent` group: one per core, each driven by its own thread.
    pub per_core: Vec<Runtime>,
    /// The `tasks` group: one multi-threaded runtime, a worker per core.
    pub multi: Runtime,
    pub cores: usize,
}

impl Runtimes {
    /// One current-thread runtime for the sequential cases, and one per core.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        Runtimes {
            current: runtime(),
            per_core: (0..cores).map(|_| runtime()).collect(),
            multi: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores)
                .enable_all()
                .build()
                .unwrap(),
            cores,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Sequential,
    /// One thread per core.
    Concurrent,
    /// Each case's `tasks` at once on the multi-threaded runtime.
    Tasks,
}

/// One case: a target called with a token.
pub struct Case {
    /// Criterion's function id, and the key for the targets.
    pub id: &'static str,
    pub label: String,
    pub target: Target,
    /// One token (repeated), or a pool of distinct tokens, each used once.
    pub tokens: Vec<Token>,
    /// Whether the ratio to the group's floor means anything.
    pub vs_floor: bool,
    /// Tasks at once, in a [`Mode::Tasks`] group.
    pub tasks: usize,
}

impl Case {
    fn new(id: &'static str, label: impl Into<String>, target: &Target, token: &Token) -> Self {
        Case {
            id,
            label: label.into(),
            target: target.clone(),
            tokens: vec![token.clone()],
            vs_floor: true,
            tasks: 1,
        }
    }

    fn new_tokens(id: &'static str, label: &str, target: &Target, pool: &[Token]) -> Self {
        Case {
            tokens: pool.to_vec(),
            ..Case::new(id, label, target, &pool[0])
        }
    }

    /// Distinct tokens cannot be repeated as criterion would: timed with `Instant` only.
    pub fn new_token_each_call(&self) -> bool {
        self.tokens.len() > 1
    }
}

/// Cases measured against the group's first case, the floor.
pub struct Group {
    pub name: String,
    pub note: String,
    pub mode: Mode,
    pub cases: Vec<Case>,
}

impl Group {
    /// Times `calls` calls of `case` (round `round`'s own slice of a pool of new tokens): wall
    /// time, and the CPU time of the whole process.
    pub fn time(
        &self,
        rt: &Runtimes,
        case: &Case,
        calls: u64,
        round: usize,
    ) -> (Duration, Duration) {
        let tokens = if case.new_token_each_call() {
            let calls = calls as usize;
            &case.tokens[round * calls..(round + 1) * calls]
        } else {
            &case.tokens[..]
        };
        let cpu = cpu_time();
        let wall = match self.mode {
            Mode::Sequential => rt.current.block_on(run(&case.target, tokens, calls)),
            Mode::Concurrent => run_concurrent(&case.target, tokens, calls, &rt.per_core),
            Mode::Tasks => run_tasks(&case.target, tokens, calls, case.tasks, &rt.multi),
        };
        (wall, cpu_time().saturating_sub(cpu))
    }

    /// Calls per round: about [`ROUND_TIME`], or the pool's share for new tokens.
    pub fn calls_per_round(&self, rt: &Runtimes, case: &Case) -> u64 {
        if case.new_token_each_call() {
            return (case.tokens.len() / ROUNDS) as u64;
        }
        let mut calls = 8;
        loop {
            let (took, _) = self.time(rt, case, calls, 0);
            if took >= ROUND_TIME / 4 {
                let scaled = calls as f64 * ROUND_TIME.as_secs_f64() / took.as_secs_f64();
                return scaled.max(1.0) as u64;
            }
            calls *= 2;
        }
    }
}

/// CPU time of this process so far, every thread's, finished ones included (`utime` and
/// `stime` of `/proc/self/stat`, in clock ticks of 10 ms: only meaningful over many rounds).
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name in parentheses, from the third (`state`) on.
    let fields = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = fields
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}
