//! What decryption adds: an encrypted access token (RSA-OAEP-256 + A256GCM around the same
//! RS256 token, RSA-2048 keys both) against the plain signed token, each through
//! `Validator::validate` with the verified-token cache off (every call decrypts and
//! verifies), and both as cache hits (the cache keeps the encrypted token as presented: a hit
//! skips the decryption too). Best of nine interleaved rounds, with the ratio to the plain
//! token.
//!
//! ```text
//! cargo bench --bench jwe
//! ```
//!
//! Without `--bench` (`cargo test --benches`) each case runs once, as a smoke test.

use std::time::{Duration, Instant};

use bearer_guard::Validator;
use bearer_guard::jwe::{ContentEncryption, KeyEncryption};
use bearer_guard::testing::{DecryptionKeyPair, TestIssuer};

const ROUNDS: usize = 9;
const ROUND_TIME: Duration = Duration::from_millis(300);

/// One case: its label, the validator and the token it validates.
struct Case {
    label: &'static str,
    validator: Validator,
    token: String,
}

/// The best and median time per call of each case, in microseconds, rounds interleaved.
fn time(rt: &tokio::runtime::Runtime, cases: &[Case]) -> Vec<(f64, f64)> {
    let run = |case: &Case, calls: u32| {
        let started = Instant::now();
        for _ in 0..calls {
            rt.block_on(case.validator.validate(&case.token))
                .expect("a valid token");
        }
        started.elapsed()
    };
    // As many calls per round as fill about ROUND_TIME.
    let calls: Vec<u32> = cases
        .iter()
        .map(|case| {
            let once = run(case, 20).as_secs_f64() / 20.0;
            ((ROUND_TIME.as_secs_f64() / once) as u32).max(10)
        })
        .collect();
    let mut samples = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for (index, case) in cases.iter().enumerate() {
            let elapsed = run(case, calls[index]);
            samples[index].push(elapsed.as_secs_f64() * 1e6 / f64::from(calls[index]));
        }
    }
    samples
        .into_iter()
        .map(|mut samples| {
            samples.sort_by(f64::total_cmp);
            (samples[0], samples[ROUNDS / 2])
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let benchmarking =
        args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let issuer = rt.block_on(TestIssuer::start());
    let pair = DecryptionKeyPair::generate("enc-1");
    let validator = |cache_bytes: u64| {
        let validator = issuer
            .validator()
            .token_cache_bytes(cache_bytes)
            .decryption_key_pem_with_kid(pair.kid(), pair.private_key_pem())
            .build()
            .unwrap();
        rt.block_on(validator.warm_up()).unwrap();
        validator
    };
    let inner = issuer.token().scope("read:messages");
    let plain = inner.clone().sign();
    let encrypted = inner
        .encrypt_to(
            &pair.encryption_key(),
            KeyEncryption::RsaOaep256,
            ContentEncryption::A256Gcm,
        )
        .sign();
    let (uncached, cached) = (validator(0), validator(32 << 20));
    let cases = [
        Case {
            label: "plain RS256, cache off",
            validator: uncached.clone(),
            token: plain.clone(),
        },
        Case {
            label: "encrypted (RSA-OAEP-256 + A256GCM), cache off",
            validator: uncached,
            token: encrypted.clone(),
        },
        Case {
            label: "plain RS256, cache hit",
            validator: cached.clone(),
            token: plain,
        },
        Case {
            label: "encrypted, cache hit",
            validator: cached,
            token: encrypted,
        },
    ];
    // Every case valid, and the cached ones in the cache (a token enters it the second time
    // it verifies).
    for case in &cases {
        for _ in 0..3 {
            rt.block_on(case.validator.validate(&case.token))
                .expect("a valid token");
        }
    }
    if !benchmarking {
        return;
    }
    let timings = time(&rt, &cases);
    println!("\n| case | per call (best) | per call (median) | x plain |");
    println!("|---|---:|---:|---:|");
    for (index, (case, (best, median))) in cases.iter().zip(&timings).enumerate() {
        // Each case against the plain token of the same cache setting.
        let plain = timings[index - index % 2].0;
        println!(
            "| {} | {best:.2} µs | {median:.2} µs | {:.2} |",
            case.label,
            best / plain
        );
    }
}
