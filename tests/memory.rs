//! The verified-token cache is bounded in memory, not just in entries: a flood of distinct
//! valid tokens leaves the process's resident memory within capacity × per-entry cost.
//!
//! HS256 tokens are minted here by hand (a fixed header, a payload varying by `jti` and `sub`,
//! the MAC from aws-lc-rs), a few microseconds each even in a debug build, so the flood is
//! cheap to make. Resident memory is read from `/proc/self/statm` before the flood, once the
//! cache is full, and after the flood.
//!
//! The 100,000-token run is part of `cargo test`; the 1,000,000-token run takes about a
//! minute in a debug build and is ignored there:
//!
//! ```text
//! cargo test --release --test memory -- --ignored --nocapture
//! ```

use std::sync::Mutex;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::Validator;

const SECRET: &[u8] = b"memory-test-secret-memory-test-secret!";
const ISSUER: &str = "https://issuer.memory.test/";
const AUDIENCE: &str = "https://api.example.com";
/// The cache's byte budget under test.
const BUDGET: u64 = 16 << 20;
/// Tokens that fill the budget: each weighs about 2 KiB (the token, about 300 bytes here,
/// its decoded claims and the cache's own bookkeeping).
const CAPACITY: u64 = 10_000;
/// What one entry may really cost in resident memory, at most.
const MAX_BYTES_PER_ENTRY: u64 = 4096;
/// Allocator arenas, the cache's fixed structures and measurement noise.
const SLACK_BYTES: u64 = 16 << 20;

/// RSS readings of concurrent tests would mix: one flood at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Mints distinct valid HS256 tokens for [`ISSUER`] and [`AUDIENCE`].
struct Minter {
    key: hmac::Key,
    header: String,
    now: u64,
}

impl Minter {
    fn new() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        Minter {
            key: hmac::Key::new(hmac::HMAC_SHA256, SECRET),
            header: URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            now,
        }
    }

    fn token(&self, serial: u64) -> String {
        let payload = format!(
            r#"{{"iss":"{ISSUER}","sub":"client-{serial}@clients","aud":"{AUDIENCE}","iat":{},"exp":{},"scope":"read:messages write:messages","gty":"client-credentials","jti":"{serial:032x}"}}"#,
            self.now,
            self.now + 3600
        );
        let mut token = format!("{}.{}", self.header, URL_SAFE_NO_PAD.encode(payload));
        let tag = hmac::sign(&self.key, token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(tag.as_ref()));
        token
    }
}

/// Resident memory in bytes, from `/proc/self/statm` (its second field, in pages).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("resident pages");
    pages * page_size()
}

/// The page size, from the auxiliary vector (`AT_PAGESZ`); 4 KiB if it cannot be read.
fn page_size() -> u64 {
    const AT_PAGESZ: u64 = 6;
    let auxv = std::fs::read("/proc/self/auxv").unwrap_or_default();
    auxv.chunks_exact(16)
        .map(|pair| {
            let word = |bytes: &[u8]| u64::from_ne_bytes(bytes.try_into().unwrap());
            (word(&pair[..8]), word(&pair[8..]))
        })
        .find(|&(key, _)| key == AT_PAGESZ)
        .map_or(4096, |(_, value)| value)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Validates `total` distinct tokens and checks resident memory against the cache bound.
async fn flood(total: u64) {
    assert!(total > CAPACITY);
    let validator = Validator::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hs256_secret(SECRET)
        .token_cache_bytes(BUDGET)
        .build()
        .unwrap();
    let minter = Minter::new();
    // Each token twice: a token enters the cache the second time it verifies.
    let validate = async |serial: u64| {
        let token = minter.token(serial);
        for _ in 0..2 {
            validator.validate(&token).await.expect("a valid token");
        }
    };
    // Outside the measurement: first-use allocations of the validator and the allocator.
    validate(u64::MAX).await;

    let started = std::time::Instant::now();
    let before = resident_bytes();
    for serial in 0..CAPACITY {
        validate(serial).await;
    }
    let filling = started.elapsed();
    let filled_entries = validator.cached_tokens();
    let filled = resident_bytes();
    let full = std::time::Instant::now();
    for serial in CAPACITY..total {
        validate(serial).await;
    }
    let evicting = full.elapsed();
    let held = validator.cached_tokens();
    let weighed = validator.cached_token_bytes();
    let after = resident_bytes();

    let per_entry = filled.saturating_sub(before) / filled_entries.max(1);
    let growth = after.saturating_sub(before);
    // The weight is an estimate: real memory may exceed it by half at most.
    let bound = BUDGET + BUDGET / 2 + SLACK_BYTES;
    let micros = |took: std::time::Duration, tokens: u64| took.as_secs_f64() * 1e6 / tokens as f64;
    println!(
        "{total} distinct tokens in {:.1} s ({:.1} µs per token while the cache fills, {:.1} µs \
         once it is full, minting included), cache budget {:.1} MiB: RSS {:.1} MiB before, \
         {:.1} MiB with {filled_entries} entries ({per_entry} B per entry), {:.1} MiB after \
         with {held} entries held, weighed {:.1} MiB ({} B per entry); growth {:.1} MiB, \
         bound {:.1} MiB",
        started.elapsed().as_secs_f64(),
        micros(filling, CAPACITY),
        micros(evicting, total - CAPACITY),
        mib(BUDGET),
        mib(before),
        mib(filled),
        mib(after),
        mib(weighed),
        weighed / held.max(1),
        mib(growth),
        mib(bound),
    );
    assert!(
        weighed <= BUDGET,
        "{weighed} bytes weighed, budget {BUDGET}"
    );
    assert!(
        held >= CAPACITY / 2,
        "{held} entries held: the budget fits about {CAPACITY}"
    );
    assert!(
        per_entry <= MAX_BYTES_PER_ENTRY,
        "{per_entry} B per entry, more than {MAX_BYTES_PER_ENTRY}"
    );
    assert!(
        growth <= bound,
        "resident memory grew {:.1} MiB for {total} tokens, bound {:.1} MiB",
        mib(growth),
        mib(bound)
    );
}

/// One flood at a time, on a runtime of its own.
fn run_flood(total: u64) {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(flood(total));
}

#[test]
fn a_hundred_thousand_distinct_tokens_stay_within_the_cache_bound() {
    run_flood(100_000);
}

/// About a minute in a debug build: `cargo test --release --test memory -- --ignored`.
#[test]
#[ignore = "slow in debug builds; run with cargo test --release --test memory -- --ignored"]
fn a_million_distinct_tokens_stay_within_the_cache_bound() {
    run_flood(1_000_000);
}
