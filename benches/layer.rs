//! What bearer-guard costs per request, against the floor: jsonwebtoken's own `decode` of the
//! same token with the same issuer and audience checks (a `DecodingKey` built once).
//!
//! Groups (criterion ids `group/case`):
//! - `RS256`, `ES256`, `HS256`: one token each, with the same claims (about 300 bytes of
//!   payload). RS256 and ES256 keys come from a loopback [`TestIssuer`] (the ES256 key is a
//!   P-256 key published with `set_extra_jwks`), HS256 from a secret. Cases:
//!   `jsonwebtoken_decode` (the floor); `validator` (token cache off: every call verifies the
//!   signature, what a token seen for the first time costs); `validator_cached` (default
//!   cache, a repeated token: a cache hit); `layer`, `layer_cached`: the whole request through
//!   an axum `Router` with `BearerLayer` (tower `oneshot`) with either validator; for RS256
//!   also `router_only`, the same router without the layer.
//! - `concurrent`: the RS256 cases on every core at once, one thread per core each driving
//!   its own tokio runtime, all sharing the validators; criterion reports the throughput.
//!   (Threads, not tasks of one multi-thread runtime: a parked tokio worker took 2-6 ms to
//!   wake here, which skews rounds of a few milliseconds; the threads start together on a
//!   spin barrier.)
//! - `keys`: RS256 with 1, 10 and 100 keys in the set (the extra ones are random 2048-bit
//!   RSA JWKs, each under its own `kid`).
//! - `size_small`, `size_medium`, `size_large`: RS256 with about 300 B, 1 KiB and 8 KiB of
//!   payload (padded with a `groups` array).
//!
//! After the criterion groups, every case is timed again with `Instant` in this process
//! (nine interleaved rounds; the ratios use each case's best round, since other processes on
//! the machine only ever add time; the median is shown too), plus what criterion cannot
//! time: a *new* token
//! on every call with the default cache on (`validator_new_token`, `layer_new_token`: the
//! signature check plus the cache miss and insert), also once the cache is full
//! (`layer_new_token_full_cache`: every insert then evicts). A markdown table with the ratios
//! to the floor follows, then the performance targets. `RATIO_GROUPS=concurrent,keys` limits
//! this second part to the groups named.
//!
//! Criterion runs with 1 s of warm-up and 2 s of measurement per case; the whole run takes
//! about three minutes on two cores.
//!
//! ```text
//! cargo bench --bench layer
//! cargo bench --bench layer -- --warm-up-time 1 --measurement-time 3   # override the defaults
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::{DEFAULT_AUDIENCE, SigningKey, TestIssuer, TokenBuilder};
use bearer_guard::{Algorithm, BearerLayer, Validator, ValidatorBuilder};
use criterion::{Criterion, Throughput};
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const HS256_SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret!";
/// Rounds of the `Instant` timing; the best and the median are kept.
const ROUNDS: usize = 9;
/// How long one round of one case should take.
const ROUND_TIME: Duration = Duration::from_millis(30);
/// Calls per round for the new-token cases (their tokens are minted up front, each used once).
const NEW_TOKEN_CALLS: usize = 400;
/// The token cache budget of the `layer_new_token_full_cache` cases (about 400 of these
/// tokens), filled with [`FILL_TOKENS`] before they run.
const FULL_CACHE_BYTES: u64 = 1 << 20;
const FILL_TOKENS: usize = 1000;

/// A token and its `Authorization` header value.
#[derive(Clone)]
struct Token {
    text: Arc<str>,
    authorization: HeaderValue,
}

impl Token {
    fn new(text: String) -> Self {
        Token {
            authorization: HeaderValue::from_str(&format!("Bearer {text}")).unwrap(),
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
enum Target {
    /// `jsonwebtoken::decode` with a key parsed once: the floor.
    Raw(Arc<(DecodingKey, Validation)>),
    Validator(Validator),
    /// A router, with or without `BearerLayer`.
    Layer(Router),
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

struct Runtimes {
    /// Sequential cases.
    current: Runtime,
    /// The `concurrent` group: one per core, each driven by its own thread.
    per_core: Vec<Runtime>,
    cores: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Sequential,
    /// One thread per core.
    Concurrent,
}

/// One case: a target called with a token.
struct Case {
    /// Criterion's function id, and the key for the targets.
    id: &'static str,
    label: String,
    target: Target,
    /// One token (repeated), or a pool of distinct tokens, each used once.
    tokens: Vec<Token>,
    /// Whether the ratio to the group's floor means anything.
    vs_floor: bool,
}

impl Case {
    fn new(id: &'static str, label: impl Into<String>, target: &Target, token: &Token) -> Self {
        Case {
            id,
            label: label.into(),
            target: target.clone(),
            tokens: vec![token.clone()],
            vs_floor: true,
        }
    }

    fn new_tokens(id: &'static str, label: &str, target: &Target, pool: &[Token]) -> Self {
        Case {
            tokens: pool.to_vec(),
            ..Case::new(id, label, target, &pool[0])
        }
    }

    /// Distinct tokens cannot be repeated as criterion would: timed with `Instant` only.
    fn new_token_each_call(&self) -> bool {
        self.tokens.len() > 1
    }
}

/// Cases measured against the group's first case, the floor.
struct Group {
    name: String,
    note: String,
    mode: Mode,
    cases: Vec<Case>,
}

impl Group {
    /// Times `calls` calls of `case` (round `round`'s own slice of a pool of new tokens): wall
    /// time, and the CPU time of the whole process.
    fn time(&self, rt: &Runtimes, case: &Case, calls: u64, round: usize) -> (Duration, Duration) {
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
        };
        (wall, cpu_time().saturating_sub(cpu))
    }

    /// Calls per round: about [`ROUND_TIME`], or the pool's share for new tokens.
    fn calls_per_round(&self, rt: &Runtimes, case: &Case) -> u64 {
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
    raw: Target,
    token: &Token,
    new_tokens: &[Token],
) -> Group {
    let off = warm(builder, Some(0), token).await;
    let cached = warm(builder, None, token).await;
    let mut cases = vec![
        Case::new("jsonwebtoken_decode", "jsonwebtoken::decode", &raw, token),
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

/// Every group, on warmed-up validators. New-token pools are minted only when `benchmarking`.
async fn setup(cores: usize, benchmarking: bool) -> (Vec<TestIssuer>, Vec<Group>) {
    let pool_size = if benchmarking {
        ROUNDS * NEW_TOKEN_CALLS + FILL_TOKENS
    } else {
        0
    };
    let issuer = TestIssuer::start().await;
    let iss = issuer.issuer().to_owned();
    let es_pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    issuer.set_extra_jwks(vec![ec_jwk(&es_pair, "ec-1")]);
    let rsa_jwk = issuer.signing_key().jwk();
    let rsa_key = DecodingKey::from_rsa_components(
        rsa_jwk["n"].as_str().unwrap(),
        rsa_jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    let ec_jwk = ec_jwk(&es_pair, "ec-1");
    let ec_key = DecodingKey::from_ec_components(
        ec_jwk["x"].as_str().unwrap(),
        ec_jwk["y"].as_str().unwrap(),
    )
    .unwrap();

    let rs256 = Signer::Rs256(issuer.signing_key());
    let es256 = Signer::Es256 {
        pair: es_pair,
        kid: "ec-1".into(),
    };
    let hs256 = Signer::Hs256(HS256_SECRET.to_vec());
    let rs_builder = issuer.validator();
    let es_builder = issuer
        .validator()
        .algorithms([Algorithm::RS256, Algorithm::ES256]);
    let hs_builder = issuer.validator().hs256_secret(HS256_SECRET);
    let rs_raw = Target::raw(Algorithm::RS256, &iss, rsa_key);

    let mut groups = Vec::new();
    for (name, signer, builder, raw) in [
        ("RS256", &rs256, &rs_builder, rs_raw.clone()),
        (
            "ES256",
            &es256,
            &es_builder,
            Target::raw(Algorithm::ES256, &iss, ec_key),
        ),
        (
            "HS256",
            &hs256,
            &hs_builder,
            Target::raw(
                Algorithm::HS256,
                &iss,
                DecodingKey::from_secret(HS256_SECRET),
            ),
        ),
    ] {
        let token = signer.sign(&claims(&iss, usize::MAX, 0));
        let started = Instant::now();
        let pool = signer.pool(&iss, pool_size, cores);
        if benchmarking {
            let took = started.elapsed().as_secs_f64();
            println!("{name}: minted {pool_size} new tokens in {took:.1} s");
        }
        groups.push(algorithm_group(name, builder, raw, &token, &pool).await);
    }
    let rs_token = groups[0].cases[0].tokens[0].clone();
    let router = Case {
        vs_floor: false,
        ..Case::new(
            "router_only",
            "router without the layer",
            &Target::layer(None),
            &rs_token,
        )
    };
    groups[0].cases.push(router);

    // All cores: the RS256 cases of the first group, one thread per core.
    let concurrent: Vec<Case> = groups[0].cases[..5]
        .iter()
        .map(|case| Case::new(case.id, case.label.clone(), &case.target, &rs_token))
        .collect();
    groups.push(Group {
        name: "concurrent".into(),
        note: format!("RS256, {cores} threads at once"),
        mode: Mode::Concurrent,
        cases: concurrent,
    });

    // Key set size: a second issuer whose set grows between validators.
    let keys_issuer = TestIssuer::start().await;
    let keys_token =
        Signer::Rs256(keys_issuer.signing_key()).sign(&claims(keys_issuer.issuer(), usize::MAX, 0));
    let keys_jwk = keys_issuer.signing_key().jwk();
    let keys_raw = Target::raw(
        Algorithm::RS256,
        keys_issuer.issuer(),
        DecodingKey::from_rsa_components(
            keys_jwk["n"].as_str().unwrap(),
            keys_jwk["e"].as_str().unwrap(),
        )
        .unwrap(),
    );
    let fakes: Vec<Value> = (1..100).map(fake_rsa_jwk).collect();
    let mut cases = vec![Case::new(
        "jsonwebtoken_decode",
        "jsonwebtoken::decode",
        &keys_raw,
        &keys_token,
    )];
    let keys_builder = keys_issuer.validator().jwks_ttl(Duration::from_secs(3600));
    for (count, keys, off_id, cached_id) in [
        (1, "1 key", "validator_1_key", "validator_cached_1_key"),
        (
            10,
            "10 keys",
            "validator_10_keys",
            "validator_cached_10_keys",
        ),
        (
            100,
            "100 keys",
            "validator_100_keys",
            "validator_cached_100_keys",
        ),
    ] {
        keys_issuer.set_extra_jwks(fakes[..count - 1].to_vec());
        let off = warm(&keys_builder, Some(0), &keys_token).await;
        let cached = warm(&keys_builder, None, &keys_token).await;
        for validator in [&off, &cached] {
            let held = validator.key_set_status().map(|status| status.keys);
            assert_eq!(held, Some(count), "keys in the set");
        }
        let label = format!("Validator, {keys}, token cache off");
        cases.push(Case::new(
            off_id,
            label,
            &Target::Validator(off),
            &keys_token,
        ));
        let label = format!("Validator, {keys}, repeated token (cache hit)");
        cases.push(Case::new(
            cached_id,
            label,
            &Target::Validator(cached),
            &keys_token,
        ));
    }
    groups.push(Group {
        name: "keys".into(),
        note: "RS256, 1, 10 or 100 keys in the set".into(),
        mode: Mode::Sequential,
        cases,
    });

    // Token size, on the RS256 group's validators.
    let off = match &groups[0].cases[1].target {
        Target::Validator(v) => v.clone(),
        _ => unreachable!(),
    };
    let cached = match &groups[0].cases[2].target {
        Target::Validator(v) => v.clone(),
        _ => unreachable!(),
    };
    for (name, payload_bytes) in [
        ("size_small", 300),
        ("size_medium", 1024),
        ("size_large", 8192),
    ] {
        let token = rs256.sign(&claims(&iss, usize::MAX - 1, payload_bytes));
        cached.validate(&token.text).await.expect("warm-up");
        groups.push(Group {
            name: name.into(),
            note: format!(
                "RS256, {} B token, {} B payload",
                token.text.len(),
                token.payload_bytes()
            ),
            mode: Mode::Sequential,
            cases: vec![
                Case::new(
                    "jsonwebtoken_decode",
                    "jsonwebtoken::decode",
                    &rs_raw,
                    &token,
                ),
                Case::new(
                    "validator",
                    "Validator, token cache off",
                    &Target::Validator(off.clone()),
                    &token,
                ),
                Case::new(
                    "validator_cached",
                    "Validator, repeated token (cache hit)",
                    &Target::Validator(cached.clone()),
                    &token,
                ),
            ],
        });
    }
    (vec![issuer, keys_issuer], groups)
}

fn criterion_groups(c: &mut Criterion, rt: &Runtimes, groups: &[Group]) {
    for group in groups {
        let mut bench = c.benchmark_group(&group.name);
        if group.mode == Mode::Concurrent {
            bench.throughput(Throughput::Elements(1));
        }
        for case in group.cases.iter().filter(|c| !c.new_token_each_call()) {
            bench.bench_function(case.id, |b| {
                b.iter_custom(|iters| group.time(rt, case, iters, 0).0)
            });
        }
        bench.finish();
    }
}

/// CPU time of this process so far, every thread's, finished ones included (`utime` and
/// `stime` of `/proc/self/stat`, in clock ticks of 10 ms: only meaningful over many rounds).
fn cpu_time() -> Duration {
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

/// One timed case: its group, its best and median time per call in microseconds over the
/// rounds, how many cores it kept busy on average and its CPU time per call.
struct Timing<'a> {
    group: &'a Group,
    case: &'a Case,
    best: f64,
    median: f64,
    cores_busy: f64,
    cpu: f64,
}

/// Every case timed again by hand, rounds interleaved within each group (median kept), as a
/// markdown table with the ratios to each group's floor; then the performance targets.
fn ratios(rt: &Runtimes, groups: &[Group]) {
    // RATIO_GROUPS=concurrent,keys times only the groups whose names contain one of these.
    let only = std::env::var("RATIO_GROUPS").unwrap_or_default();
    let wanted = |group: &Group| {
        only.is_empty() || only.split(',').any(|part| group.name.contains(part.trim()))
    };
    let mut timings = Vec::new();
    for group in groups.iter().filter(|group| wanted(group)) {
        let calls: Vec<u64> = group
            .cases
            .iter()
            .map(|case| group.calls_per_round(rt, case))
            .collect();
        let mut samples = vec![Vec::with_capacity(ROUNDS); group.cases.len()];
        let mut totals = vec![(Duration::ZERO, Duration::ZERO, 0); group.cases.len()];
        for round in 0..ROUNDS {
            for (index, (case, &calls)) in group.cases.iter().zip(&calls).enumerate() {
                let (wall, cpu) = group.time(rt, case, calls, round);
                samples[index].push(wall.as_secs_f64() * 1e6 / calls as f64);
                totals[index].0 += wall;
                totals[index].1 += cpu;
                totals[index].2 += calls;
            }
        }
        for ((case, mut samples), (wall, cpu, calls)) in group.cases.iter().zip(samples).zip(totals)
        {
            samples.sort_by(f64::total_cmp);
            timings.push(Timing {
                group,
                case,
                best: samples[0],
                median: samples[ROUNDS / 2],
                cores_busy: cpu.as_secs_f64() / wall.as_secs_f64(),
                cpu: cpu.as_secs_f64() * 1e6 / calls as f64,
            });
        }
    }

    println!("\n{}\n", machine());
    println!(
        "Same process, {ROUNDS} interleaved rounds per case: the best round's time per call \
         (other processes on the machine only ever add time) and the median round's; calls/s \
         from the best (in `concurrent`, all threads together); x floor = best / the group's \
         first row's best."
    );
    println!("\n| group | case | per call (best) | per call (median) | calls/s | x floor |");
    println!("|---|---|---:|---:|---:|---:|");
    for timing in &timings {
        let floor = timings
            .iter()
            .find(|t| std::ptr::eq(t.group, timing.group))
            .map_or(f64::NAN, |t| t.best);
        let group = &timing.group;
        let first = std::ptr::eq(&group.cases[0], timing.case);
        let name = if first {
            format!("{} ({})", group.name, group.note)
        } else {
            String::new()
        };
        let ratio = if !timing.case.vs_floor {
            "-".to_owned()
        } else if first {
            "floor".to_owned()
        } else {
            format!("{:.2}", timing.best / floor)
        };
        println!(
            "| {name} | {} | {:.2} µs | {:.2} µs | {:.0} | {ratio} |",
            timing.case.label,
            timing.best,
            timing.median,
            1e6 / timing.best
        );
    }

    let find = |group: &str, id: &str| {
        timings
            .iter()
            .find(|t| t.group.name == group && t.case.id == id)
    };
    let time = |group: &str, id: &str| find(group, id).map_or(f64::NAN, |t| t.best);
    println!("\nTargets:");
    let check = |what: String, value: f64, limit: f64, at_most: bool| {
        let met = if at_most {
            value <= limit
        } else {
            value >= limit
        };
        let (sign, verdict) = match (at_most, met) {
            (true, true) => ("<=", "met"),
            (true, false) => ("<=", "MISSED"),
            (false, true) => (">=", "met"),
            (false, false) => (">=", "MISSED"),
        };
        println!("- {what} = {value:.2} (target {sign} {limit}): {verdict}");
    };
    for (alg, limit) in [("RS256", 1.15), ("HS256", 1.3), ("ES256", f64::INFINITY)] {
        let raw = time(alg, "jsonwebtoken_decode");
        for (id, what) in [
            ("layer", "layer, token cache off"),
            ("layer_new_token", "layer, new token (default cache)"),
            (
                "layer_new_token_full_cache",
                "layer, new token (cache full)",
            ),
        ] {
            let ratio = time(alg, id) / raw;
            if limit.is_finite() {
                check(format!("{alg} {what} / raw decode"), ratio, limit, true);
            } else {
                println!("- {alg} {what} / raw decode = {ratio:.2}");
            }
        }
    }
    let raw = time("RS256", "jsonwebtoken_decode");
    for (id, what) in [("validator_cached", "Validator"), ("layer_cached", "layer")] {
        let speedup = raw / time("RS256", id);
        check(
            format!("RS256 raw decode / {what} repeated token (x faster)"),
            speedup,
            10.0,
            false,
        );
    }
    for (id, what) in [
        ("validator", "Validator, cache off"),
        ("layer_cached", "layer, cache hit"),
    ] {
        let (Some(one), Some(all)) = (find("RS256", id), find("concurrent", id)) else {
            continue;
        };
        println!(
            "- RS256 {what}: {:.0}/s on one thread, {:.0}/s on {} threads ({:.2}x; the process \
             kept {:.2} cores busy; CPU per call {:.2} µs alone, {:.2} µs concurrently)",
            1e6 / one.best,
            1e6 / all.best,
            rt.cores,
            one.best / all.best,
            all.cores_busy,
            one.cpu,
            all.cpu
        );
    }
}

/// CPU, cores and date, for the README table.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "Machine: {cpu}, {cores} cores, {} {}; {date}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn main() {
    // Both jsonwebtoken backends may be compiled in (--all-features): pick one for `decode`.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    // `cargo bench` passes --bench; without it (cargo test --benches) criterion only runs
    // each case once, and the new-token pools and the ratios are skipped.
    let args: Vec<String> = std::env::args().collect();
    let benchmarking =
        args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = Runtimes {
        current: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        per_core: (0..cores)
            .map(|_| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
            })
            .collect(),
        cores,
    };
    let (_issuers, groups) = rt.current.block_on(setup(cores, benchmarking));

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    criterion_groups(&mut c, &rt, &groups);
    c.final_summary();

    if benchmarking {
        ratios(&rt, &groups);
    }
}
