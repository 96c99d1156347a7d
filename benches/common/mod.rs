//! What both benchmark targets measure: the groups of cases (RS256, ES256, HS256, the
//! concurrent RS256 cases, key set sizes, token sizes) on warmed-up validators, and how one
//! case is timed. `layer.rs` runs them under criterion, `ratios.rs` times them again in
//! interleaved rounds and prints the ratio table.

// Each bench target uses a different subset (only `ratios` sizes its own rounds).
#![allow(dead_code)]

pub mod chart;
pub mod paths;
mod setup;

pub use setup::setup;

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

/// How tokens are signed: the same claims, three algorithms.
enum Signer {
    Rs256(SigningKey),
    Es256 { pair: EcdsaKeyPair, kid: String },
    Hs256(Vec<u8>),
}

impl Signer {
    fn sign(&self, claims: &Map<String, Value>) -> Token {
        let with_claims = |builder: TokenBuilder| {
            claims
                .iter()
                .fold(builder, |b, (name, value)| b.claim(name, value.clone()))
                .sign()
        };
        Token::new(match self {
            Signer::Rs256(key) => with_claims(TokenBuilder::rs256(key)),
            Signer::Hs256(secret) => with_claims(TokenBuilder::hs256(secret.clone())),
            Signer::Es256 { pair, kid } => {
                let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
                let input = format!(
                    "{}.{}",
                    URL_SAFE_NO_PAD.encode(header.to_string()),
                    URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
                );
                let signature = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
                format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
            }
        })
    }

    /// `count` tokens with distinct `jti`s, minted on every core.
    fn pool(&self, issuer: &str, count: usize, cores: usize) -> Vec<Token> {
        let chunk = count.div_ceil(cores.max(1)).max(1);
        std::thread::scope(|scope| {
            let minters: Vec<_> = (0..count)
                .step_by(chunk)
                .map(|first| {
                    scope.spawn(move || {
                        (first..(first + chunk).min(count))
                            .map(|jti| self.sign(&claims(issuer, jti, 0)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            minters
                .into_iter()
                .flat_map(|minter| minter.join().unwrap())
                .collect()
        })
    }
}

/// An access token's claims, as Auth0 issues them for a client credentials grant (about 300
/// bytes), padded with a `groups` array to about `payload_bytes` when that is larger.
fn claims(issuer: &str, jti: usize, payload_bytes: usize) -> Map<String, Value> {
    let now = unix_now();
    let mut claims = json!({
        "iss": issuer,
        "sub": "bench-client@clients",
        "aud": DEFAULT_AUDIENCE,
        "iat": now,
        "exp": now + 3600,
        "scope": "read:messages write:messages",
        "gty": "client-credentials",
        "azp": "0oa1b2c3d4e5f6g7h8i9j0kLmNoPqRsTu",
        "jti": format!("{jti:032x}"),
    });
    let base = claims.to_string().len();
    // `"groups":[...]` plus `,"group-00000"` per entry.
    let entries = payload_bytes.saturating_sub(base + 12) / 14;
    if entries > 0 {
        let groups: Vec<String> = (0..entries).map(|i| format!("group-{i:05}")).collect();
        claims["groups"] = json!(groups);
    }
    match claims {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

fn unix_now() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |elapsed| elapsed.as_secs())
}

/// A random odd 2048-bit modulus: a key that parses and is never used.
fn fake_rsa_jwk(index: usize) -> Value {
    let mut modulus = [0u8; 256];
    aws_lc_rs::rand::fill(&mut modulus).unwrap();
    modulus[0] |= 0xc0;
    modulus[255] |= 1;
    json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": format!("fake-{index}"),
        "n": URL_SAFE_NO_PAD.encode(modulus), "e": "AQAB",
    })
}

fn ec_jwk(pair: &EcdsaKeyPair, kid: &str) -> Value {
    // The uncompressed point: 0x04, x, y.
    let point = pair.public_key().as_ref();
    json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    })
}

/// Builds a validator and warms it up with `token` (key set fetched, token cached).
async fn warm(builder: &ValidatorBuilder, cache: Option<u64>, token: &Token) -> Validator {
    let builder = match cache {
        Some(bytes) => builder.clone().token_cache_bytes(bytes),
        None => builder.clone(),
    };
    let validator = builder.build().unwrap();
    validator.validate(&token.text).await.expect("warm-up");
    validator
}

/// The per-algorithm group: floor, validators and layers on one token.
async fn algorithm_group(
    name: &str,
    builder: &ValidatorBuilder,
    (raw, signature): (Target, Target),
    token: &Token,
    new_tokens: &[Token],
) -> Group {
    let off = warm(builder, Some(0), token).await;
    let cached = warm(builder, None, token).await;
    let mut cases = vec![
        Case::new("jsonwebtoken_decode", "jsonwebtoken::decode", &raw, token),
        Case::new(
            "signature",
            "the signature check alone (aws-lc-rs, key parsed once)",
            &signature,
            token,
        ),
        Case::new(
            "validator",
            "Validator, token cache off",
            &Target::Validator(off.clone()),
            token,
        ),
        Case::new(
            "validator_cached",
            "Validator, repeated token (cache hit)",
            &Target::Validator(cached.clone()),
            token,
        ),
        Case::new(
            "layer",
            "layer, token cache off",
            &Target::layer(Some(&off)),
            token,
        ),
        Case::new(
            "layer_cached",
            "layer, repeated token (cache hit)",
            &Target::layer(Some(&cached)),
            token,
        ),
    ];
    if !new_tokens.is_empty() {
        // Their own validators, so each sees every pool token for the first time; the last
        // tokens of the pool fill the third one's cache.
        let (new_tokens, fill) = new_tokens.split_at(ROUNDS * NEW_TOKEN_CALLS);
        let validator = warm(builder, None, token).await;
        let for_layer = warm(builder, None, token).await;
        let full = warm(builder, Some(FULL_CACHE_BYTES), token).await;
        // Twice each: a token enters the cache the second time it verifies.
        for token in fill {
            for _ in 0..2 {
                full.validate(&token.text).await.expect("fill the cache");
            }
        }
        assert!(full.cached_token_bytes() >= FULL_CACHE_BYTES * 9 / 10);
        cases.push(Case::new_tokens(
            "validator_new_token",
            "Validator, new token each call (default cache)",
            &Target::Validator(validator),
            new_tokens,
        ));
        cases.push(Case::new_tokens(
            "layer_new_token",
            "layer, new token each call (default cache)",
            &Target::layer(Some(&for_layer)),
            new_tokens,
        ));
        cases.push(Case::new_tokens(
            "layer_new_token_full_cache",
            &format!("layer, new token each call, cache full ({FULL_CACHE_BYTES} bytes)"),
            &Target::layer(Some(&full)),
            new_tokens,
        ));
    }
    Group {
        name: name.to_owned(),
        note: format!(
            "{} B token, {} B payload",
            token.text.len(),
            token.payload_bytes()
        ),
        mode: Mode::Sequential,
        cases,
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
